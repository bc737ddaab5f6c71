import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { CredentialPools, CredentialsRejectedError, SecretCache } from '../../../client/index';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';

function setUp(refreshIntervalMs?: number) {
  const fake = new FakeSecretsManager();
  let clock = 1_000;
  const cache = new SecretCache({
    client: fake.client,
    now: () => clock,
    refreshJitter: 0,
    ...(refreshIntervalMs !== undefined ? { refreshIntervalMs } : {}),
  });
  const arn = fake.createSecret('svc/db', {
    username: 'app',
    password: 'pw-one-secret',
    host: 'h',
    port: 5432,
  });
  return { fake, cache, arn, advance: (ms: number) => (clock += ms) };
}

function rotateInFake(fake: FakeSecretsManager, arn: string, password: string): string {
  const token = fake.startRotation(arn);
  const secret = fake.secret(arn);
  secret.versions.get(token)!.secretString = JSON.stringify({
    username: 'app',
    password,
    host: 'h',
    port: 5432,
  });
  const old = fake.versionOf(arn, 'AWSCURRENT')!;
  secret.versions.get(old)!.stages.delete('AWSCURRENT');
  secret.versions.get(old)!.stages.add('AWSPREVIOUS');
  // As finishSecret leaves it: AWSPENDING stays on the new AWSCURRENT (a finished rotation, RotateSecret API reference).
  secret.versions.get(token)!.stages.add('AWSCURRENT');
  return token;
}

describe('secret cache', () => {
  it('shares one GetSecretValue among concurrent readers and asks for AWSCURRENT by name', async () => {
    const { fake, cache, arn } = setUp();
    const values = await Promise.all(Array.from({ length: 50 }, () => cache.current(arn)));
    expect(new Set(values.map((v) => v.versionId)).size).toBe(1);
    expect(fake.mock).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    expect(fake.mock).toHaveReceivedCommandWith(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' });
  });

  it('refreshes once on a Secret Rotated event and ignores its duplicates and late copies', async () => {
    const { fake, cache, arn } = setUp();
    await cache.current(arn);
    const token = rotateInFake(fake, arn, 'pw-two-secret');
    const event = {
      source: 'secret-rotation',
      'detail-type': 'Secret Rotated',
      detail: { secretArn: arn, versionId: token },
    };
    expect(cache.handleEvent(event)).toBe(true);
    expect((await cache.current(arn)).versionId).toBe(token);
    expect(cache.handleEvent(event)).toBe(false);
    expect(cache.handleEvent({ ...event, detail: { ...event.detail, replay: true } })).toBe(false);
    await cache.current(arn);
    expect(fake.mock).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
  });

  it("never steps back to an older version when an old rotation's event arrives late", async () => {
    const { fake, cache, arn } = setUp();
    const first = rotateInFake(fake, arn, 'pw-two-secret');
    const second = rotateInFake(fake, arn, 'pw-three-secret');
    await cache.current(arn);
    cache.handleEvent({
      source: 'secret-rotation',
      'detail-type': 'Secret Rotated',
      detail: { secretArn: arn, versionId: first },
    });
    expect((await cache.current(arn)).versionId).toBe(second);
  });

  it("refreshes on Secrets Manager's own events", async () => {
    const { fake, cache, arn } = setUp();
    await cache.current(arn);
    const token = rotateInFake(fake, arn, 'pw-two-secret');
    expect(
      cache.handleEvent({
        source: 'aws.secretsmanager',
        'detail-type': 'Secret Label Updated',
        resources: [arn],
        detail: {},
      }),
    ).toBe(true);
    expect((await cache.current(arn)).versionId).toBe(token);
  });

  it('tells listeners when an API key was revoked, and ignores the other follow-up events', async () => {
    const { cache, arn } = setUp();
    await cache.current(arn);
    const changed: string[] = [];
    cache.onChange((id) => changed.push(id));
    const followUp = (action: string) => ({
      source: 'secret-rotation',
      'detail-type': 'Secret Rotation Follow-up',
      detail: { secretArn: arn, kind: 'api-key', strategy: 'self-issued', action },
    });
    expect(cache.handleEvent(followUp('api-key-revocation-scheduled'))).toBe(false);
    expect(cache.handleEvent(followUp('jwks-published'))).toBe(false);
    expect(changed).toEqual([]);
    expect(cache.handleEvent(followUp('api-key-revoked'))).toBe(true);
    expect(changed).toEqual([arn]);
  });

  it('ignores events that are not about rotation', () => {
    const { cache } = setUp();
    expect(cache.handleEvent({ source: 'aws.s3', 'detail-type': 'Object Created', detail: {} })).toBe(false);
    expect(cache.handleEvent('nonsense')).toBe(false);
  });

  it('falls back to fetching again after the refresh interval when no event arrives', async () => {
    const { fake, cache, arn, advance } = setUp(60_000);
    await cache.current(arn);
    const token = rotateInFake(fake, arn, 'pw-two-secret');
    advance(59_000);
    expect((await cache.current(arn)).versionId).not.toBe(token);
    advance(2_000);
    expect((await cache.current(arn)).versionId).toBe(token);
  });

  it('reads AWSPENDING, and answers undefined when there is none', async () => {
    const { fake, cache, arn, advance } = setUp();
    expect(await cache.stage(arn, 'AWSPENDING')).toBeUndefined();
    advance(30_000);
    const token = fake.startRotation(arn);
    fake.secret(arn).versions.get(token)!.secretString = '{"password":"pending-pw"}';
    expect((await cache.stage(arn, 'AWSPENDING'))?.versionId).toBe(token);
  });
});

describe('credential recovery on an authentication failure', () => {
  class AuthError extends Error {
    code = '28P01';
  }

  function pools(fake: FakeSecretsManager, cache: SecretCache, arn: string, accepted: Set<string>) {
    const used: string[] = [];
    const p = new CredentialPools<{ password: string }>(cache, arn, {
      create: (credentials) => ({ password: credentials.password }),
      end: async () => {},
      probe: async (pool: { password: string }) => {
        if (!accepted.has(pool.password)) throw new AuthError('refused');
      },
      isAuthError: (error) => error instanceof AuthError,
    });
    const query = () =>
      p.run(async (pool) => {
        used.push(pool.password);
        if (!accepted.has(pool.password)) throw new AuthError('refused');
        return 'ok';
      });
    return { p, query, used, fake };
  }

  it('tries AWSCURRENT fetched anew, then AWSPENDING, in that order', async () => {
    // GIVEN a single-user rotation between setSecret and finishSecret: only the pending password works
    const { fake, cache, arn } = setUp();
    const token = fake.startRotation(arn);
    fake.secret(arn).versions.get(token)!.secretString = JSON.stringify({
      username: 'app',
      password: 'pw-pending',
      host: 'h',
      port: 5432,
    });
    const { query, used, p } = pools(fake, cache, arn, new Set(['pw-pending']));
    // WHEN
    await expect(query()).resolves.toBe('ok');
    // THEN
    expect(used).toEqual(['pw-one-secret', 'pw-pending']);
    expect(p.recoveries).toBe(1);
    expect(fake.mock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.VersionStage)).toEqual([
      'AWSCURRENT',
      'AWSCURRENT',
      'AWSPENDING',
    ]);
    // and the next query goes straight to the working credentials
    await query();
    expect(used.at(-1)).toBe('pw-pending');
  });

  it('shares one recovery among concurrent failures', async () => {
    const { fake, cache, arn } = setUp();
    const token = fake.startRotation(arn);
    fake.secret(arn).versions.get(token)!.secretString = JSON.stringify({
      username: 'app',
      password: 'pw-pending',
      host: 'h',
      port: 5432,
    });
    const { query } = pools(fake, cache, arn, new Set(['pw-pending']));
    await Promise.all(Array.from({ length: 20 }, () => query()));
    expect(fake.mock).toHaveReceivedCommandTimes(GetSecretValueCommand, 3);
  });

  it('gives up with an error naming the versions, never a password, when every version is refused', async () => {
    const { fake, cache, arn } = setUp();
    const { query } = pools(fake, cache, arn, new Set());
    const result = query();
    await expect(result).rejects.toThrow(CredentialsRejectedError);
    await expect(result).rejects.not.toThrow(/pw-one-secret/);
  });

  it('does not retry errors that are not authentication failures', async () => {
    const { fake, cache, arn } = setUp();
    const p = new CredentialPools<object>(cache, arn, {
      create: () => ({}),
      end: async () => {},
      probe: async () => {},
      isAuthError: () => false,
    });
    await expect(p.run(async () => Promise.reject(new Error('syntax error')))).rejects.toThrow(
      'syntax error',
    );
    expect(p.recoveries).toBe(0);
    expect(fake.mock).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
  });
});
