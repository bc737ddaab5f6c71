import {
  createRotationHandler,
  loadRotationConfig,
  REDACTED,
  Redactor,
  type RotationContext,
  type SecretVersion,
} from '../../../functions/rotation';
import { CounterStrategy } from '../../helpers/counter-strategy';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';

const PASSWORD = 'Tr0ub4dor&3 horse"bat\\ü';

// Everything Powertools writes goes through the global console in dev mode.
process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'INFO';

function redactorWith(...values: string[]): Redactor {
  const redactor = new Redactor();
  for (const value of values) redactor.add(value);
  return redactor;
}

describe('Redactor: the forms a value takes on its way into a message (finding 7)', () => {
  it.each([
    ['as it is', PASSWORD],
    ['JSON-escaped', JSON.stringify(PASSWORD).slice(1, -1)],
    ['JSON-escaped twice', JSON.stringify(JSON.stringify(PASSWORD).slice(1, -1)).slice(1, -1)],
    [
      'JSON-escaped with \\u escapes for non-ASCII',
      JSON.stringify(PASSWORD).slice(1, -1).replace('ü', '\\u00fc'),
    ],
    ['URL-encoded', encodeURIComponent(PASSWORD)],
    [
      'URL-encoded with upper-case escapes',
      encodeURIComponent(PASSWORD).replace(/%[0-9a-f]{2}/gi, (e) => e.toLowerCase()),
    ],
    ['form-encoded', encodeURIComponent(PASSWORD).replace(/%20/g, '+')],
    ['in hex', Buffer.from(PASSWORD).toString('hex')],
    ['in upper-case hex', Buffer.from(PASSWORD).toString('hex').toUpperCase()],
    ['in base64', Buffer.from(PASSWORD).toString('base64')],
    ['in base64url', Buffer.from(PASSWORD).toString('base64url')],
    ['upper-cased', PASSWORD.toUpperCase()],
    ['split by a line break', `${PASSWORD.slice(0, 9)}\n${PASSWORD.slice(9)}`],
    ['split by a CRLF', `${PASSWORD.slice(0, 5)}\r\n${PASSWORD.slice(5)}`],
    ['split by an escaped line break', `${PASSWORD.slice(0, 9)}\\n${PASSWORD.slice(9)}`],
  ])('removes the value %s', (_form, text) => {
    // GIVEN
    const redactor = redactorWith(PASSWORD);
    // WHEN
    const out = redactor.redact(`driver said: auth failed for "${text}" at host db`);
    // THEN
    expect(out).toBe(`driver said: auth failed for "${REDACTED}" at host db`);
    expect(redactor.contains(text)).toBe(true);
  });

  it.each([0, 1, 2, 5])(
    'removes the value inside a Basic credential at any byte alignment (user of %i bytes)',
    (n) => {
      // GIVEN
      const redactor = redactorWith(PASSWORD);
      const header = `Basic ${Buffer.from(`${'u'.repeat(n)}:${PASSWORD}`).toString('base64')}`;
      // WHEN
      const out = redactor.redact(`sent authorization ${header}`);
      // THEN every character that carries a bit of the password is gone; only whole groups of the user stay
      expect(out).toContain(REDACTED);
      const kept = out.replace('sent authorization Basic ', '').split(REDACTED).join('');
      expect(kept.length).toBeLessThanOrEqual(Math.floor((n + 1) / 3) * 4);
      expect(out.startsWith(`sent authorization Basic ${kept}${REDACTED}`)).toBe(true);
    },
  );

  it('removes values of four and five characters', () => {
    const redactor = redactorWith('k9#z', 'k9#zQ');
    expect(redactor.redact('password k9#zQ refused, then k9#z refused')).toBe(
      `password ${REDACTED} refused, then ${REDACTED} refused`,
    );
  });

  it('does not eat ARNs or longer words when a short value is an ordinary word', () => {
    // GIVEN a value that is also part of every Secrets Manager ARN
    const redactor = redactorWith('secret');
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf';
    // WHEN
    const out = redactor.redact(`secretsmanager refused ${arn}: the password secret is wrong`);
    // THEN
    expect(out).toBe(`secretsmanager refused ${arn}: the password ${REDACTED} is wrong`);
  });

  it('registers every leaf of a JSON secret, so a re-serialized value leaks none of them', () => {
    // GIVEN
    const value = { username: 'app', password: PASSWORD, pin: '48213', host: 'db.internal', port: 5432 };
    const redactor = new Redactor();
    redactor.addSecretString(JSON.stringify(value));
    // WHEN the value is logged pretty-printed, and as a string inside JSON
    const out = redactor.redact(`${JSON.stringify(value, null, 2)} ${JSON.stringify(JSON.stringify(value))}`);
    // THEN
    expect(out).not.toContain('Tr0ub4dor');
    expect(out).not.toContain('48213');
    expect(out).toContain('db.internal');
    expect(out).toContain('5432');
    expect(out).toContain('"app"');
  });

  it('keeps the text of a scrubbed error and its causes, without the value', () => {
    const redactor = redactorWith(PASSWORD);
    const error = new Error('outer', { cause: new TypeError(`inner ${encodeURIComponent(PASSWORD)}`) });
    const copy = redactor.scrubError(error);
    expect((copy.cause as Error).message).toBe(`inner ${REDACTED}`);
    expect((copy.cause as Error).name).toBe('TypeError');
    expect(String((copy.cause as Error).stack)).not.toContain(encodeURIComponent(PASSWORD));
  });
});

describe('Redactor scope: overlapping invocations in one process (finding 7)', () => {
  const output: string[] = [];
  beforeEach(() => {
    output.length = 0;
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        output.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
      });
    }
  });
  afterEach(() => jest.restoreAllMocks());

  /** A strategy that (wrongly) logs its pending password once released: the redactor is the last line. */
  class LoggingStrategy extends CounterStrategy {
    release: () => void = () => undefined;
    readonly held = new Promise<void>((resolve) => {
      this.release = resolve;
    });
    override async set(context: RotationContext, pending: SecretVersion): Promise<void> {
      if (context.secretArn.includes('held')) {
        await this.held;
        context.logger.info('about to set', { pending: JSON.parse(pending.secretString).password });
      }
      return super.set(context, pending);
    }
  }

  it("redacts an invocation's log lines with its own values while another invocation starts and ends", async () => {
    // GIVEN one handler, and an invocation held inside setSecret
    const fake = new FakeSecretsManager();
    const strategy = new LoggingStrategy();
    const handler = createRotationHandler({
      strategy,
      secretsManager: fake.client,
      config: loadRotationConfig({}),
    });
    const held = fake.createSecret('app/held', { generation: 0, password: 'held-initial-value-1' });
    const other = fake.createSecret('app/other', { generation: 0, password: 'other-initial-value-1' });
    const heldToken = fake.startRotation(held);
    await handler({ SecretId: held, ClientRequestToken: heldToken, Step: 'createSecret' });
    const pending = fake.valueOf<{ password: string }>(held, 'AWSPENDING').password;
    const setting = handler({ SecretId: held, ClientRequestToken: heldToken, Step: 'setSecret' });
    // WHEN another invocation runs from start to end meanwhile
    const otherToken = fake.startRotation(other);
    await handler({ SecretId: other, ClientRequestToken: otherToken, Step: 'createSecret' });
    strategy.release();
    await setting;
    // THEN the held invocation's line is redacted
    const line = output.find((l) => l.includes('about to set'));
    expect(line).toBeDefined();
    expect(line).not.toContain(pending);
    expect(line).toContain(REDACTED);
  });
});
