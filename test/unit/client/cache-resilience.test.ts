import { GetSecretValueCommand, SecretsManagerServiceException } from '@aws-sdk/client-secrets-manager';
import {
  type RefreshFailureInfo,
  type RefreshInfo,
  SecretCache,
  SecretFormatError,
  SecretUnavailableError,
  type StaleInfo,
} from '../../../client/index';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';

const throttled = () =>
  new SecretsManagerServiceException({
    name: 'ThrottlingException',
    message: 'Rate exceeded',
    $fault: 'client',
    $metadata: {},
  });

/** A fake Secrets Manager whose GetSecretValue can be throttled, or held until the test lets it go. */
function setUp(options: { refreshIntervalMs?: number; maxStaleMs?: number; random?: () => number } = {}) {
  const fake = new FakeSecretsManager();
  let clock = 1_000_000;
  let failing = false;
  let gate: Promise<void> | undefined;
  fake.mock.on(GetSecretValueCommand).callsFake(async (input) => {
    const held = gate;
    if (failing) throw throttled();
    const answer = (fake as unknown as { getValue: (i: unknown) => unknown }).getValue(input);
    if (held) await held;
    return answer;
  });
  const refreshes: RefreshInfo[] = [];
  const failures: RefreshFailureInfo[] = [];
  const stale: StaleInfo[] = [];
  const cache = new SecretCache({
    client: fake.client,
    now: () => clock,
    refreshIntervalMs: options.refreshIntervalMs ?? 60_000,
    random: options.random ?? (() => 0.5),
    ...(options.maxStaleMs !== undefined ? { maxStaleMs: options.maxStaleMs } : {}),
    observer: {
      onRefresh: (info) => refreshes.push(info),
      onRefreshFailed: (info) => failures.push(info),
      onStale: (info) => stale.push(info),
    },
  });
  const arn = fake.createSecret('svc/db', {
    username: 'app',
    password: 'pw-one-secret',
    host: 'h',
    port: 5432,
  });
  return {
    fake,
    cache,
    arn,
    refreshes,
    failures,
    stale,
    advance: (ms: number) => (clock += ms),
    fail: (on: boolean) => (failing = on),
    hold: () => {
      let release: () => void = () => {};
      gate = new Promise<void>((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
    calls: () => fake.mock.commandCalls(GetSecretValueCommand).length,
  };
}

function rotate(fake: FakeSecretsManager, arn: string, password: string): string {
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

const rotated = (arn: string, versionId: string) => ({
  source: 'secret-rotation',
  'detail-type': 'Secret Rotated',
  detail: { secretArn: arn, versionId },
});

describe('stale-on-error and backoff (issue 15, finding 2)', () => {
  it('serves the last good value to 200 reads while Secrets Manager is throttled, with a handful of calls', async () => {
    // GIVEN a cached value past its refresh interval, and Secrets Manager throttling every call
    const { cache, arn, advance, fail, calls, stale } = setUp();
    const first = await cache.current(arn);
    advance(61_000);
    fail(true);
    // WHEN 200 queries read the secret, 10 ms apart (2 s in all)
    const answers: string[] = [];
    for (let i = 0; i < 200; i++) {
      answers.push((await cache.current(arn)).versionId);
      advance(10);
    }
    // THEN every read was answered with the last good version, and the backoff bounded the calls
    expect(new Set(answers)).toEqual(new Set([first.versionId]));
    expect(calls() - 1).toBeLessThanOrEqual(3);
    expect(stale.length).toBe(200);
  });

  it('keeps the copy a rotation event invalidated when the fetch right after fails', async () => {
    const { fake, cache, arn, fail } = setUp();
    const first = await cache.current(arn);
    const token = rotate(fake, arn, 'pw-two-secret');
    cache.handleEvent(rotated(arn, token));
    fail(true);
    await expect(cache.current(arn)).resolves.toMatchObject({ versionId: first.versionId });
    // and moves on as soon as Secrets Manager answers again: the event's news is not lost
    fail(false);
    cache.handleEvent(rotated(arn, token));
    await expect(cache.current(arn)).resolves.toMatchObject({ versionId: token });
  });

  it('backs off exponentially with jitter, up to backoffMaxMs', async () => {
    const { cache, arn, advance, fail, failures } = setUp();
    await cache.current(arn);
    advance(61_000);
    fail(true);
    for (let i = 0; i < 9; i++) {
      await cache.current(arn);
      advance(failures.at(-1)?.retryInMs ?? 0);
    }
    // random() = 0.5 puts each pause at 75 % of its ceiling: 1 s, 2 s, 4 s ... capped at 60 s
    expect(failures.map((f) => f.retryInMs)).toEqual([
      750, 1500, 3000, 6000, 12000, 24000, 45000, 45000, 45000,
    ]);
    expect(failures.map((f) => f.errorName)).toEqual(Array(9).fill('ThrottlingException'));
  });

  it('fails with SecretUnavailableError, naming the secret and never the value, once the copy is older than maxStaleMs', async () => {
    const { cache, arn, advance, fail } = setUp({ maxStaleMs: 120_000 });
    await cache.current(arn);
    fail(true);
    advance(121_000);
    const read = cache.current(arn);
    await expect(read).rejects.toThrow(SecretUnavailableError);
    await expect(read).rejects.toThrow(/svc\/db.*ThrottlingException.*maxStaleMs/);
    await expect(read).rejects.not.toThrow(/pw-one-secret/);
  });

  it('does not call Secrets Manager on every read when nothing is cached yet and it is unreachable', async () => {
    const { cache, arn, fail, calls, advance } = setUp();
    fail(true);
    for (let i = 0; i < 100; i++) {
      await expect(cache.current(arn)).rejects.toThrow(SecretUnavailableError);
      advance(5);
    }
    expect(calls()).toBe(1);
  });
});

describe('jittered refresh', () => {
  it('refreshes each cache up to refreshJitter of the interval early, so a fleet does not refresh in step', async () => {
    // GIVEN two replicas whose random draws differ
    const early = setUp({ random: () => 0.99 });
    const late = setUp({ random: () => 0 });
    await early.cache.current(early.arn);
    await late.cache.current(late.arn);
    // WHEN 55 s of the 60 s interval have passed
    early.advance(55_000);
    late.advance(55_000);
    await early.cache.current(early.arn);
    await late.cache.current(late.arn);
    // THEN only the one whose draw put its refresh at 54.06 s fetched again
    expect(early.calls()).toBe(2);
    expect(late.calls()).toBe(1);
    expect(early.refreshes.map((r) => r.reason)).toEqual(['initial', 'interval']);
  });
});

describe('an event during a fetch (issue 15, finding 6)', () => {
  it('is not lost when a fetch that started before the label moved answers with the old version', async () => {
    // GIVEN a fetch under way that read V1
    const { fake, cache, arn, hold } = setUp();
    const release = hold();
    const reading = cache.current(arn);
    await new Promise((resolve) => setImmediate(resolve));
    // WHEN the rotation finishes and its event arrives before that fetch returns
    const token = rotate(fake, arn, 'pw-two-secret');
    expect(cache.handleEvent(rotated(arn, token))).toBe(true);
    release();
    const old = await reading;
    // THEN the next read fetches again and gets V2
    expect(old.versionId).not.toBe(token);
    expect((await cache.current(arn)).versionId).toBe(token);
  });

  it('makes no second fetch when the fetch under way already returned the version the event names', async () => {
    const { fake, cache, arn, hold, calls } = setUp();
    await cache.current(arn);
    const token = rotate(fake, arn, 'pw-two-secret');
    cache.invalidate(arn);
    const release = hold();
    const reading = cache.current(arn);
    await new Promise((resolve) => setImmediate(resolve));
    cache.handleEvent(rotated(arn, token));
    release();
    expect((await reading).versionId).toBe(token);
    expect((await cache.current(arn)).versionId).toBe(token);
    expect(calls()).toBe(2);
  });
});

describe('per-secret listeners and cached stages (issue 15, finding 9)', () => {
  it('tells a listener only about its own secret, whether the event names it by ARN or by name', async () => {
    const { fake, cache, arn } = setUp();
    const other = fake.createSecret('svc/other', { apiKey: 'k' });
    await cache.current('svc/db');
    const heard: string[] = [];
    cache.onChange(() => heard.push('db'), 'svc/db');
    cache.onChange(() => heard.push('other'), other);
    cache.handleEvent(rotated(arn, 'v-new'));
    expect(heard).toEqual(['db']);
    cache.handleEvent({
      source: 'aws.secretsmanager',
      'detail-type': 'AWS Service Event via CloudTrail',
      resources: [],
      detail: { eventName: 'RotationSucceeded', additionalEventData: { SecretId: other } },
    });
    expect(heard).toEqual(['db', 'other']);
  });

  it('answers 100 reads of AWSPENDING with one call, until a change is notified', async () => {
    const { cache, arn, calls } = setUp();
    await Promise.all(Array.from({ length: 100 }, () => cache.stage(arn, 'AWSPENDING')));
    expect(calls()).toBe(1);
    cache.invalidate(arn);
    await cache.stage(arn, 'AWSPENDING');
    expect(calls()).toBe(2);
  });

  it('honours a read that asks for a copy younger than the cache would keep', async () => {
    const { cache, arn, advance, calls } = setUp({ refreshIntervalMs: 900_000 });
    await cache.current(arn);
    advance(10_000);
    await cache.current(arn, { maxAgeMs: 10_000 });
    await cache.stage(arn, 'AWSPREVIOUS', { maxAgeMs: 5_000 });
    advance(6_000);
    await cache.stage(arn, 'AWSPREVIOUS', { maxAgeMs: 5_000 });
    expect(calls()).toBe(4);
  });
});

describe('typed JSON and values in errors (issue 15, finding 5)', () => {
  it('parses JSON once per version, typed by the caller', async () => {
    const { cache, arn } = setUp();
    const db = await cache.json<{ username: string; port: number }>(arn);
    expect(db.username).toBe('app');
    expect(await cache.json(arn)).toBe(db);
    const port = await cache.json(arn, (v) => {
      if (typeof v.port !== 'number') throw new TypeError('port');
      return v.port;
    });
    expect(port).toBe(5432);
  });

  it('refuses a value that is not JSON with an error that names the version and quotes nothing of it', async () => {
    const { fake, cache } = setUp();
    const arn = fake.createSecret('svc/plain', 'hunter2-Super-Secret');
    const read = cache.json(arn);
    await expect(read).rejects.toThrow(SecretFormatError);
    const error = await read.catch((e: Error) => e);
    expect(String((error as Error).message)).toMatch(/svc\/plain.*is not JSON/);
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toMatch(/hunter2/);
    expect((error as Error).cause).toBeUndefined();
  });
});

describe('observer hooks', () => {
  it('reports refreshes with their reason and versions, never a value', async () => {
    const { fake, cache, arn, refreshes, advance } = setUp();
    await cache.current(arn);
    const token = rotate(fake, arn, 'pw-two-secret');
    cache.handleEvent(rotated(arn, token));
    await cache.current(arn);
    advance(61_000);
    await cache.current(arn);
    expect(refreshes.map((r) => [r.reason, r.versionId === token])).toEqual([
      ['initial', false],
      ['invalidated', true],
      ['interval', true],
    ]);
    expect(refreshes[1]?.previousVersionId).toBe(refreshes[0]?.versionId);
    expect(JSON.stringify(refreshes)).not.toMatch(/pw-/);
  });
});
