import { createServer, type Server, type Socket } from 'node:net';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import {
  CredentialPools,
  CredentialsRejectedError,
  type RecoveryInfo,
  SecretCache,
  SecretFormatError,
} from '../../../client/index';
import { mysqlTls } from '../../../client/mysql-pool';
import { RotatingPgPool } from '../../../client/pg';
import { pgTls } from '../../../client/pg-pool';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';

class AuthError extends Error {
  code = '28P01';
}

const dbSecret = (password: string, extra: Record<string, unknown> = {}) => ({
  username: 'app',
  password,
  host: 'db.internal',
  port: 5432,
  ...extra,
});

function setUp(value: object | string = dbSecret('pw-one-secret')) {
  const fake = new FakeSecretsManager();
  let clock = 5_000_000;
  const cache = new SecretCache({ client: fake.client, now: () => clock, random: () => 0.5 });
  const arn = fake.createSecret('svc/db', value);
  return {
    fake,
    cache,
    arn,
    advance: (ms: number) => (clock += ms),
    now: () => clock,
    calls: () => fake.mock.commandCalls(GetSecretValueCommand).length,
  };
}

function rotate(fake: FakeSecretsManager, arn: string, password: string): string {
  const token = fake.startRotation(arn);
  const secret = fake.secret(arn);
  secret.versions.get(token)!.secretString = JSON.stringify(dbSecret(password));
  const old = fake.versionOf(arn, 'AWSCURRENT')!;
  secret.versions.get(old)!.stages.delete('AWSCURRENT');
  secret.versions.get(old)!.stages.add('AWSPREVIOUS');
  // As finishSecret leaves it: AWSPENDING stays on the new AWSCURRENT (a finished rotation, RotateSecret API reference).
  secret.versions.get(token)!.stages.add('AWSCURRENT');
  return token;
}

describe('bounded recovery (issue 15, finding 3)', () => {
  it('makes a bounded number of GetSecretValue for 50 sequential queries that every version refuses', async () => {
    // GIVEN a database that refuses every credential version
    const { cache, arn, calls, now } = setUp();
    const outcomes: RecoveryInfo['outcome'][] = [];
    const pools = new CredentialPools<object>(
      cache,
      arn,
      {
        create: () => ({}),
        end: async () => {},
        probe: async () => Promise.reject(new AuthError('refused')),
        isAuthError: (error) => error instanceof AuthError,
      },
      { now, onRecovery: (info) => outcomes.push(info.outcome) },
    );
    // WHEN 50 queries fail one after the other
    for (let i = 0; i < 50; i++) {
      await expect(pools.run(async () => Promise.reject(new AuthError('refused')))).rejects.toThrow(
        CredentialsRejectedError,
      );
    }
    // THEN one recovery read AWSCURRENT and AWSPENDING; the other 49 failures made no call
    expect(calls()).toBe(3);
    expect(outcomes.filter((o) => o === 'rejected')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'suppressed')).toHaveLength(49);
  });

  it('tries again after the backoff, and at once after the secret changes', async () => {
    const { fake, cache, arn, calls, now, advance } = setUp();
    let accepted = 'none';
    const pools = new CredentialPools<{ password: string }>(
      cache,
      arn,
      {
        create: (c) => ({ password: c.password }),
        end: async () => {},
        probe: async (p) => {
          if (p.password !== accepted) throw new AuthError('refused');
        },
        isAuthError: (error) => error instanceof AuthError,
      },
      { now, recoveryBackoffMs: 1_000 },
    );
    const query = () =>
      pools.run(async (p) => {
        if (p.password !== accepted) throw new AuthError('refused');
        return p.password;
      });
    await expect(query()).rejects.toThrow(CredentialsRejectedError);
    expect(calls()).toBe(3);
    advance(1_001);
    await expect(query()).rejects.toThrow(CredentialsRejectedError);
    expect(calls()).toBe(5);
    // a rotation event: the next failure may recover at once, and does
    const token = rotate(fake, arn, 'pw-two-secret');
    accepted = 'pw-two-secret';
    cache.handleEvent({
      source: 'secret-rotation',
      'detail-type': 'Secret Rotated',
      detail: { secretArn: arn, versionId: token },
    });
    await expect(query()).resolves.toBe('pw-two-secret');
  });
});

describe('credentials in errors (issue 15, finding 5)', () => {
  it('refuses a database secret that is not JSON without quoting any of it', async () => {
    const { cache, arn } = setUp('hunter2-Super-Secret-Value');
    const pools = new CredentialPools<object>(cache, arn, {
      create: () => ({}),
      end: async () => {},
      probe: async () => {},
      isAuthError: () => false,
    });
    const error = await pools.run(async () => 'never').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretFormatError);
    expect(String((error as Error).message)).toContain('is not JSON');
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain('hunter2');
    expect(String((error as Error).stack)).not.toContain('hunter2');
  });

  it('names the missing field of a database secret', async () => {
    const { cache, arn } = setUp({ username: 'app', host: 'h', port: 5432 });
    const pools = new CredentialPools<object>(cache, arn, {
      create: () => ({}),
      end: async () => {},
      probe: async () => {},
      isAuthError: () => false,
    });
    await expect(pools.run(async () => 'never')).rejects.toThrow(
      /field 'password' must be a non-empty string/,
    );
  });
});

/** A pool modelled on pg's: `max` connections, a queue of waiters, and an `end()` that abandons the queue. */
class QueueingPool {
  ended = false;
  busy = 0;
  readonly waiters: Array<() => void> = [];
  constructor(readonly max: number) {}
  async query<T>(work: () => Promise<T>): Promise<T> {
    if (this.busy >= this.max) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      // like pg after end(): a waiter whose pool ended is never given a connection
      if (this.ended) await new Promise(() => {});
    }
    this.busy++;
    try {
      return await work();
    } finally {
      this.busy--;
      this.waiters.shift()?.();
    }
  }
}

describe('retiring an evicted pool (issue 15, finding 7)', () => {
  it('serves the requests waiting in a pool that a third version evicts, and only then ends it', async () => {
    // GIVEN a one-connection pool of V1 with a query running and another waiting for the connection
    const { fake, cache, arn } = setUp();
    const ended: string[] = [];
    const created = new Map<string, QueueingPool>();
    const pools = new CredentialPools<QueueingPool>(cache, arn, {
      create: (c) => {
        const pool = new QueueingPool(1);
        created.set(c.password, pool);
        return pool;
      },
      end: async (pool) => {
        pool.ended = true;
        ended.push([...created].find(([, p]) => p === pool)?.[0] ?? '?');
        for (const waiter of pool.waiters.splice(0)) waiter();
      },
      probe: async () => {},
      isAuthError: () => false,
    });
    let finishRunning: () => void = () => {};
    const running = pools.run((pool) =>
      pool.query(() => new Promise<string>((r) => (finishRunning = () => r('first')))),
    );
    await new Promise((resolve) => setImmediate(resolve));
    let waitingDone = false;
    const waiting = pools
      .run((pool) => pool.query(async () => 'second'))
      .then((v) => {
        waitingDone = true;
        return v;
      });
    await new Promise((resolve) => setImmediate(resolve));
    // WHEN two rotations make pools for V2 and V3, evicting V1
    for (const password of ['pw-two-secret', 'pw-three-secret']) {
      const token = rotate(fake, arn, password);
      cache.handleEvent({
        source: 'secret-rotation',
        'detail-type': 'Secret Rotated',
        detail: { secretArn: arn, versionId: token },
      });
      await pools.run((pool) => pool.query(async () => 'new'));
    }
    expect(ended).toEqual([]);
    finishRunning();
    // THEN the waiting request is served by V1's pool, which ends after it
    await expect(running).resolves.toBe('first');
    await expect(waiting).resolves.toBe('second');
    expect(waitingDone).toBe(true);
    expect(ended).toEqual(['pw-one-secret']);
    await pools.end();
  });
});

/** A TCP server that records the first message of each PostgreSQL connection, then hangs up. */
async function recordingServer(): Promise<{ server: Server; port: number; firstMessages: Buffer[] }> {
  const firstMessages: Buffer[] = [];
  const server = createServer((socket: Socket) => {
    socket.once('data', (data) => {
      firstMessages.push(Buffer.from(data));
      socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0, firstMessages };
}

/** PostgreSQL's SSLRequest: length 8, code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);

describe("the secret's ssl (issue 15, finding 8)", () => {
  it.each([
    ['without ssl', {}, true],
    ['with ssl: true', { ssl: true }, true],
    ['with ssl: "true"', { ssl: 'true' }, true],
    ['with ssl: false', { ssl: false }, false],
  ])(
    'asks PostgreSQL for TLS when the pool sets no ssl and the secret is %s',
    async (_name, extra, expectTls) => {
      // GIVEN a server at the secret's host, and a pool whose options say nothing of TLS
      const { server, port, firstMessages } = await recordingServer();
      const { cache, arn } = setUp({ ...dbSecret('pw-one-secret'), host: '127.0.0.1', port, ...extra });
      const pool = new RotatingPgPool({ source: cache, secretId: arn, pool: { max: 1 } });
      // WHEN it connects
      await pool.query('SELECT 1').catch(() => undefined);
      await pool.end();
      server.close();
      // THEN its first message is an SSLRequest unless the secret said ssl: false
      expect(firstMessages[0]?.subarray(0, 8).equals(SSL_REQUEST)).toBe(expectTls);
    },
  );

  it('verifies the certificate and keeps the TLS settings the application gives (a CA)', () => {
    expect(pgTls(true, undefined)).toEqual({ rejectUnauthorized: true });
    expect(pgTls(true, false)).toEqual({ rejectUnauthorized: true });
    expect(pgTls(true, { ca: 'PEM', rejectUnauthorized: true })).toEqual({
      ca: 'PEM',
      rejectUnauthorized: true,
    });
    expect(pgTls(false, undefined)).toBe(false);
    expect(mysqlTls(true, undefined)).toEqual({ rejectUnauthorized: true });
    expect(mysqlTls(true, 'Amazon RDS')).toBe('Amazon RDS');
    expect(mysqlTls(false, undefined)).toBeUndefined();
  });

  it('refuses an ssl field that is neither true nor false, naming it', async () => {
    const { cache, arn } = setUp({ ...dbSecret('pw-one-secret'), ssl: 'maybe' });
    const pool = new RotatingPgPool({ source: cache, secretId: arn });
    await expect(pool.query('SELECT 1')).rejects.toThrow(/field 'ssl' must be true or false/);
    await pool.end();
  });
});

describe('cross-talk between secrets (issue 15, finding 9)', () => {
  it("keeps one secret's recovered credentials when another secret rotates", async () => {
    // GIVEN two pools on one cache: B recovered through AWSPENDING (its AWSCURRENT is refused)
    const { fake, cache, arn: a, calls } = setUp();
    const b = fake.createSecret('svc/other-db', dbSecret('pw-b-current'));
    const token = fake.startRotation(b);
    fake.secret(b).versions.get(token)!.secretString = JSON.stringify(dbSecret('pw-b-pending'));
    const driver = (accepted: Set<string>) => ({
      create: (c: { password: string }) => ({ password: c.password }),
      end: async () => {},
      probe: async (p: { password: string }) => {
        if (!accepted.has(p.password)) throw new AuthError('refused');
      },
      isAuthError: (error: unknown) => error instanceof AuthError,
    });
    const poolsA = new CredentialPools(cache, a, driver(new Set(['pw-one-secret'])));
    const accepted = new Set(['pw-b-pending']);
    const poolsB = new CredentialPools(cache, b, driver(accepted));
    const queryB = () =>
      poolsB.run(async (p) => {
        if (!accepted.has(p.password)) throw new AuthError('refused');
        return p.password;
      });
    await expect(queryB()).resolves.toBe('pw-b-pending');
    await poolsA.run(async () => 'a');
    const before = calls();
    // WHEN secret A rotates and its event arrives
    const rotated = rotate(fake, a, 'pw-two-secret');
    cache.handleEvent({
      source: 'secret-rotation',
      'detail-type': 'Secret Rotated',
      detail: { secretArn: a, versionId: rotated },
    });
    // THEN B goes on with its working credentials, with no refusal and no read
    await expect(queryB()).resolves.toBe('pw-b-pending');
    expect(poolsB.recoveries).toBe(1);
    expect(calls()).toBe(before);
  });
});
