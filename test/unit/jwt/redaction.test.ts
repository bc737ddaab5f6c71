import { Logger } from '@aws-lambda-powertools/logger';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  createJwtStrategy,
  type KeySet,
  loadJwtConfig,
  PRIVATE_JWK_MEMBERS,
  privateStrings,
} from '../../../functions/jwt';
import type { RotationContext } from '../../../functions/rotation';
import { STEPS } from '../../helpers/rotate';
import { FakeS3 } from './fake-s3';
import { ENV, STALENESS_MS, setUpJwt } from './harness';

// Everything Powertools writes goes through the global console in dev mode; capture it all.
process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';

let output: string[] = [];
const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;

beforeEach(() => {
  output = [];
  for (const method of methods) {
    jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      output.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '));
    });
  }
});

afterEach(() => jest.restoreAllMocks());

describe('no private key anywhere', () => {
  it('keeps every private JWK and member out of log lines, events, metrics, published documents and errors', async () => {
    // GIVEN RSA keys (the most private members) and events on
    const t = setUpJwt({ events: true, env: { JWT_ALGORITHM: 'RS256' } });
    const errors: string[] = [];
    const capture = async (run: () => Promise<unknown>) => {
      try {
        await run();
      } catch (error) {
        errors.push(String(error), (error as Error).message, (error as Error).stack ?? '');
      }
    };
    // WHEN three rotations succeed ...
    for (let i = 0; i < 3; i++) {
      if (i > 0) t.advance(STALENESS_MS);
      await t.rotate();
    }
    // ... one is refused as too early ...
    await capture(() => t.rotate());
    t.advance(STALENESS_MS);
    // ... and one fails in setSecret with an S3 error that quotes the pending signing key, as a careless
    // library might
    const token = t.fake.startRotation(t.arn);
    await t.step(token, 'createSecret');
    const pending = t.fake.valueOf<KeySet>(t.arn, 'AWSPENDING');
    const quoted = pending.keys.find((k) => k.state === 'current')?.jwk;
    t.s3.failNextPut = new Error(
      `upload failed for body containing ${JSON.stringify(quoted)} d=${quoted?.d}`,
    );
    await capture(() => t.step(token, 'setSecret'));
    // and is then retried to completion
    for (const step of STEPS) await t.step(token, step);

    // THEN: every private string of every version ever stored
    const secrets = new Set<string>();
    for (const version of t.fake.secret(t.arn).versions.values()) {
      if (!version.secretString) continue;
      for (const key of (JSON.parse(version.secretString) as Partial<KeySet>).keys ?? []) {
        for (const value of privateStrings(key.jwk)) secrets.add(value);
      }
    }
    expect(secrets.size).toBe(5 * 7); // five RSA keys, each with six private members and its whole JWK
    const published = t.s3.puts.map((put) => JSON.stringify(put));
    const events = t.eventBridge.commandCalls(PutEventsCommand).map((c) => JSON.stringify(c.args[0].input));
    expect(output.length).toBeGreaterThan(30);
    expect(output.some((line) => line.includes('"_aws"'))).toBe(true); // metrics were captured too
    expect(events.length).toBeGreaterThan(8);
    expect(errors.join('\n')).toContain('[REDACTED]');
    expect(errors.join('\n')).toContain('NextKeyNotReadyError');
    for (const text of [...output, ...events, ...published, ...errors]) {
      for (const value of secrets) expect(text).not.toContain(value);
    }
    // and no published document ever had a private member
    for (const put of t.s3.puts) {
      for (const key of JSON.parse(put.body).keys) {
        for (const member of PRIVATE_JWK_MEMBERS) expect(key).not.toHaveProperty(member);
      }
    }
  });
});

describe('registration for redaction', () => {
  it.each(['RS256', 'ES256', 'EdDSA'])(
    'registers every private member of every %s key it generates before createPending returns',
    async (alg) => {
      // GIVEN the strategy alone, with a context that records what is registered
      const strategy = createJwtStrategy(loadJwtConfig({ ...ENV, JWT_ALGORITHM: alg }), {
        s3: new FakeS3().client,
      });
      const registered: string[] = [];
      const context = {
        secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/jwt-AbCdEf',
        token: 'token-1',
        step: 'createSecret',
        logger: new Logger({ logLevel: 'SILENT' }),
        redact: (value: string) => registered.push(value),
      } as unknown as RotationContext;
      // WHEN it builds the first key set
      const value = await strategy.createPending(context, {
        versionId: 'v0',
        secretString: '{}',
        stages: ['AWSCURRENT'],
      });
      // THEN each private member, and each private JWK whole, was registered
      const set = JSON.parse(value) as KeySet;
      const expected = set.keys.flatMap((k) => privateStrings(k.jwk));
      expect(expected.length).toBe(alg === 'RS256' ? 14 : 4);
      for (const secret of expected) expect(registered).toContain(secret);
    },
  );
});
