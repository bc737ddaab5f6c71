import { GetRandomPasswordCommand } from '@aws-sdk/client-secrets-manager';
import { FakeProvider, GRACE_SECONDS, publishedText, rotate, setUp, sweepEvent } from './harness';

// Everything Powertools writes goes through the global console in dev mode; capture it all.
process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';

let output: string[] = [];
beforeEach(() => {
  output = [];
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      output.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '));
    });
  }
});
afterEach(() => jest.restoreAllMocks());

describe('the sweep event', () => {
  it.each([
    [{ Action: 'purge', SecretId: 'x' }, "Sweep event field 'Action' must be 'sweep', got 'purge'"],
    [{ Action: 'sweep' }, "Sweep event is missing required field 'SecretId'"],
    [{ Action: 'sweep', SecretId: ' ' }, "Sweep event field 'SecretId' must be a non-empty string"],
    [
      { Action: 'sweep', SecretId: 'x', Emergency: 'yes' },
      "Sweep event field 'Emergency' must be true or false",
    ],
    [{ Action: 'sweep', SecretId: 'x', Force: true }, "Sweep event has unknown field(s) 'Force'"],
  ])('rejects %j with InvalidEventError naming the field, touching nothing', async (event, message) => {
    // GIVEN
    const { fake, handler, provider } = setUp();
    const calls = fake.mock.calls().length;
    // WHEN
    const failure = handler(event);
    // THEN
    await expect(failure).rejects.toMatchObject({ name: 'InvalidEventError' });
    await expect(failure).rejects.toThrow(message);
    expect(fake.mock.calls().length).toBe(calls);
    expect(provider.calls).toEqual([]);
  });

  it('reaches the rotation protocol for events without Action, which rejects malformed ones', async () => {
    // GIVEN
    const { handler } = setUp();
    // WHEN
    const failure = handler({ SecretId: 'x', Step: 'createSecret' });
    // THEN
    await expect(failure).rejects.toThrow("Rotation event is missing required field 'ClientRequestToken'");
  });

  it('returns a report naming versions and key ids, and never a key', async () => {
    // GIVEN
    const { fake, handler, arn, clock, initial } = setUp();
    await rotate(fake, handler, arn);
    clock.advance(GRACE_SECONDS);
    // WHEN
    const report = await handler(sweepEvent(arn));
    // THEN
    expect(report).toMatchObject({
      secretArn: arn,
      emergency: false,
      failed: [],
      scheduled: [],
      waiting: [],
    });
    expect(JSON.stringify(report)).not.toContain(initial.value);
  });
});

describe('secrecy', () => {
  it.each([
    ['a provider that takes our key', () => new FakeProvider()],
    ['a provider that generates keys', () => new FakeProvider({ generatesValue: true })],
    ['self-issued keys', () => new FakeProvider({ name: 'self-issued', canList: false })],
  ])(
    'with %s, no key appears in any log line, event or error, through rotations, failures and sweeps',
    async (_name, make) => {
      // GIVEN
      const provider = make();
      const { fake, handler, arn, clock, eventBridge } = setUp({ provider });
      const errors: string[] = [];
      const run = async (event: unknown) => {
        try {
          return await handler(event);
        } catch (error) {
          // What leaves the function: the Lambda runtime reports the name, the message and the stack.
          errors.push(`${(error as Error).name}: ${(error as Error).message}\n${(error as Error).stack}`);
          return undefined;
        }
      };
      // WHEN: rotations, a provider failure quoting the key, sweeps, an emergency
      for (let i = 0; i < 3; i++) {
        const token = fake.startRotation(arn);
        for (const Step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) {
          await run({ SecretId: arn, ClientRequestToken: token, Step });
        }
        clock.advance(GRACE_SECONDS);
      }
      const token = fake.startRotation(arn);
      await run({ SecretId: arn, ClientRequestToken: token, Step: 'createSecret' });
      const pending = fake.valueOf<{ apiKey: string }>(arn, 'AWSPENDING').apiKey;
      provider.failures.set('check', new Error(`provider said: key ${pending} is unknown`));
      await run({ SecretId: arn, ClientRequestToken: token, Step: 'setSecret' });
      await run({ SecretId: arn, ClientRequestToken: token, Step: 'testSecret' });
      await run(sweepEvent(arn));
      await run(sweepEvent(arn, { Emergency: true }));
      // THEN
      const keys = [...provider.keys.values()].map((k) => k.value);
      for (const call of fake.mock.commandCalls(GetRandomPasswordCommand)) {
        const generated = (await call.returnValue) as { RandomPassword?: string };
        if (generated.RandomPassword) keys.push(generated.RandomPassword);
      }
      expect(keys.length).toBeGreaterThanOrEqual(4);
      expect(errors.length).toBeGreaterThan(0);
      const everything = [...output, publishedText(eventBridge), ...errors].join('\n');
      expect(output.length).toBeGreaterThan(20);
      for (const key of keys) {
        const leak = everything.split('\n').find((line) => line.includes(key));
        expect(leak).toBeUndefined();
      }
      expect(everything).toContain('[REDACTED]');
    },
  );
});
