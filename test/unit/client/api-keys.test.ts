import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { ApiKeyCredentials, ApiKeyRejectedError, ApiKeyVerifier } from '../../../client/api-keys';
import { SecretCache } from '../../../client/index';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';

const OLD = 'old-key-0123456789abcdefghijklmn';
const NEW = 'new-key-0123456789abcdefghijklmn';

/** A service's cache with the library's default 15-minute refresh, on a simulated clock. */
function setUp() {
  const fake = new FakeSecretsManager();
  let clock = 10_000_000;
  const cache = new SecretCache({ client: fake.client, now: () => clock, random: () => 0.5 });
  const arn = fake.createSecret('orders/api-key', { apiKey: OLD });
  const calls = () => fake.mock.commandCalls(GetSecretValueCommand).length;
  return { fake, cache, arn, calls, now: () => clock, advance: (ms: number) => (clock += ms) };
}

/** Puts `apiKey` as AWSCURRENT; the old current keeps AWSPREVIOUS unless `revokePrevious` (emergency mode). */
function rotate(fake: FakeSecretsManager, arn: string, apiKey: string, revokePrevious: boolean): string {
  const token = fake.startRotation(arn);
  const secret = fake.secret(arn);
  secret.versions.get(token)!.secretString = JSON.stringify({ apiKey });
  const old = fake.versionOf(arn, 'AWSCURRENT')!;
  for (const version of secret.versions.values()) version.stages.delete('AWSPREVIOUS');
  secret.versions.get(old)!.stages.delete('AWSCURRENT');
  if (!revokePrevious) secret.versions.get(old)!.stages.add('AWSPREVIOUS');
  // As finishSecret leaves it: AWSPENDING stays on the new AWSCURRENT (a finished rotation, RotateSecret API reference).
  secret.versions.get(token)!.stages.add('AWSCURRENT');
  return token;
}

describe('the revocation window without events (issue 16, finding 15)', () => {
  it.each([
    ['emergency mode (no grace period)', 0],
    ['a 120 s grace period', 120_000],
  ])(
    'refuses a revoked key within refreshIntervalMs, though the cache would keep AWSCURRENT for 15 minutes: %s',
    async (_name, graceMs) => {
      // GIVEN a verifier that read the old key as current, on a cache that refreshes every 15 minutes
      const { fake, cache, arn, advance, now } = setUp();
      const verifier = new ApiKeyVerifier({ source: cache, secretId: arn, refreshIntervalMs: 60_000, now });
      expect(await verifier.isValid(OLD)).toBe(true);
      // WHEN the key rotates and the old key is revoked, and no event reaches this service
      advance(1_000);
      rotate(fake, arn, NEW, graceMs === 0);
      if (graceMs > 0) {
        // the old key keeps AWSPREVIOUS through its grace, then the follow-up revokes it
        advance(graceMs);
        expect(await verifier.isValid(OLD)).toBe(true);
        const old = fake.versionOf(arn, 'AWSPREVIOUS')!;
        fake.secret(arn).versions.get(old)!.stages.delete('AWSPREVIOUS');
      }
      // THEN the old key is still accepted within the interval (as documented) ...
      advance(50_000);
      expect(await verifier.isValid(OLD)).toBe(true);
      // ... and refused once refreshIntervalMs has passed since the copies it used were fetched
      advance(10_000);
      expect(await verifier.isValid(OLD)).toBe(false);
      expect(await verifier.isValid(NEW)).toBe(true);
    },
  );
});

describe('unknown API keys (issue 15, finding 9)', () => {
  it('neither flushes the cache other consumers share nor holds requests, and reads AWSCURRENT at most once per interval', async () => {
    // GIVEN a verifier and another consumer of the same secret, listening for its changes
    const { cache, arn, calls, now } = setUp();
    const slept: number[] = [];
    const verifier = new ApiKeyVerifier({
      source: cache,
      secretId: arn,
      now,
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
    expect(await verifier.isValid(OLD)).toBe(true);
    const notified: string[] = [];
    cache.onChange((id) => notified.push(id), arn);
    const before = calls();
    // WHEN a flood of 200 garbage keys arrives, in two waves
    for (let wave = 0; wave < 2; wave++) {
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => verifier.isValid(`garbage-${wave}-${i}`)),
      );
      expect(results.every((valid) => !valid)).toBe(true);
    }
    // THEN one read of AWSCURRENT served the first wave, the second was refused at once, and no one else was told
    expect(calls() - before).toBe(1);
    expect(slept).toEqual([]);
    expect(notified).toEqual([]);
  });
});

describe('outbound API key refusals (issue 15, finding 3)', () => {
  it('makes a bounded number of GetSecretValue for 50 business 403s, and keeps the response for the caller', async () => {
    // GIVEN an API that answers 403 with a business reason to every request
    const { cache, arn, calls, now } = setUp();
    const fetch = jest.fn(
      async () => new Response(JSON.stringify({ reason: 'order limit reached' }), { status: 403 }),
    ) as unknown as typeof globalThis.fetch;
    const credentials = new ApiKeyCredentials({ source: cache, secretId: arn, fetch, now });
    // WHEN 50 requests are refused one after the other
    const errors: ApiKeyRejectedError[] = [];
    for (let i = 0; i < 50; i++) {
      const outcome: unknown = await credentials.fetch('https://api.example.com/orders').catch((e) => e);
      errors.push(outcome as ApiKeyRejectedError);
    }
    // THEN one recovery read AWSCURRENT and AWSPENDING; the other 49 read nothing
    expect(calls()).toBe(3);
    expect(errors.every((e) => e instanceof ApiKeyRejectedError && e.status === 403)).toBe(true);
    // AND the API's answer is there to read, and out of the error's serialized form
    await expect(errors[49]!.response?.json()).resolves.toEqual({ reason: 'order limit reached' });
    expect(JSON.stringify(errors[49])).not.toContain('order limit');
    expect(JSON.stringify(errors[49], Object.getOwnPropertyNames(errors[49]))).not.toContain(OLD);
  });
});
