import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import type { RowDataPacket } from 'mysql2/promise';
import { SecretCache } from '../../../client/index';
import { RotatingMySqlPool } from '../../../client/mysql2';
import { RotatingPgPool } from '../../../client/pg';
import { createDatabaseHandler } from '../../../functions/database/create-handler';
import type { LocalDatabase } from '../../../local/databases/common';
import { startMariaDb } from '../../../local/databases/mariadb';
import { startPostgres } from '../../../local/databases/postgres';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { STEPS } from '../../helpers/rotate';
import { adminFor, masterSecret } from '../database/harness';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Workload {
  stop(): Promise<{ ok: number; failed: number; errors: string[] }>;
}

/** Consumers querying in a loop until stopped. */
function startWorkload(query: () => Promise<unknown>, consumers = 4): Workload {
  let running = true;
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  const loops = Array.from({ length: consumers }, async () => {
    while (running) {
      try {
        await query();
        ok++;
      } catch (error) {
        failed++;
        errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      }
      await sleep(2);
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { ok, failed, errors };
    },
  };
}

const engines: Array<[string, () => Promise<LocalDatabase>]> = [
  ['PostgreSQL', () => startPostgres({ tls: true })],
  ['MariaDB', () => startMariaDb({ tls: true })],
];

describe.each(engines)('consumers of %s during rotations', (_name, start) => {
  let db: LocalDatabase;
  let caDir: string;
  let counter = 0;

  beforeAll(async () => {
    db = await start();
    caDir = mkdtempSync(join(tmpdir(), 'rotation-client-ca-'));
    writeFileSync(join(caDir, 'ca.pem'), db.caPem ?? '');
  }, 120_000);

  afterAll(async () => {
    await db?.stop();
    rmSync(caDir, { recursive: true, force: true });
  });

  function setUp(
    strategy: 'single-user' | 'alternating-users',
    deliverEvents: boolean,
    refreshIntervalMs?: number,
  ) {
    const fake = new FakeSecretsManager();
    const eventBridgeClient = new EventBridgeClient({ region: 'us-east-1' });
    const cache = new SecretCache({
      client: fake.client,
      ...(refreshIntervalMs ? { refreshIntervalMs } : {}),
    });
    mockClient(eventBridgeClient)
      .on(PutEventsCommand)
      .callsFake((input) => {
        for (const entry of input.Entries ?? []) {
          if (deliverEvents) {
            cache.handleEvent({
              source: entry.Source,
              'detail-type': entry.DetailType,
              resources: entry.Resources,
              detail: JSON.parse(entry.Detail ?? '{}'),
            });
          }
        }
        return { FailedEntryCount: 0, Entries: [{ EventId: 'e' }] };
      });
    const handler = createDatabaseHandler({
      secretsManager: fake.client,
      eventBridge: eventBridgeClient,
      env: { ROTATION_STRATEGY: strategy, EVENT_BUS_NAME: 'bus', DB_CA_BUNDLE_PATH: join(caDir, 'ca.pem') },
    });
    return { fake, cache, handler };
  }

  function poolFor(cache: SecretCache, secretId: string) {
    if (db.engine === 'postgres') {
      const pool = new RotatingPgPool({
        source: cache,
        secretId,
        // Tiny pools with short idle times: connections are opened all through the rotations.
        pool: { max: 2, maxUses: 3, idleTimeoutMillis: 5, ssl: { ca: db.caPem, rejectUnauthorized: true } },
      });
      return {
        insert: () => pool.query('INSERT INTO items (note) VALUES ($1)', ['consumer']),
        whoAmI: async () => String((await pool.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u),
        end: () => pool.end(),
      };
    }
    const pool = new RotatingMySqlPool({
      source: cache,
      secretId,
      pool: {
        connectionLimit: 2,
        maxIdle: 0,
        idleTimeout: 5,
        ssl: { ca: db.caPem, rejectUnauthorized: true },
      },
    });
    return {
      insert: () => pool.query('INSERT INTO items (note) VALUES (?)', ['consumer']),
      whoAmI: async () => {
        const [rows] = await pool.query<RowDataPacket[]>('SELECT CURRENT_USER() AS u');
        return String(rows[0]?.u).split('@')[0] as string;
      },
      end: () => pool.end(),
    };
  }

  async function rotate(fake: FakeSecretsManager, handler: (e: unknown) => Promise<void>, arn: string) {
    const token = fake.startRotation(arn);
    for (const step of STEPS) {
      await handler({ SecretId: arn, ClientRequestToken: token, Step: step });
      await sleep(40); // consumers open connections between every two steps
    }
  }

  it.each(['single-user', 'alternating-users'] as const)(
    '%s: five rotations under a running workload fail no query (event path)',
    async (strategy) => {
      // GIVEN
      const admin = adminFor(db);
      const username = `consumer_${strategy.slice(0, 3)}_${++counter}`;
      await admin.createAppUser(username, 'Start-Pass-1');
      const { fake, cache, handler } = setUp(strategy, true);
      const masterArn = fake.createSecret('master', masterSecret(db));
      const arn = fake.createSecret('app', {
        engine: db.engine,
        host: db.host,
        port: db.port,
        username,
        password: 'Start-Pass-1',
        dbname: db.database,
        ...(strategy === 'alternating-users' ? { masterarn: masterArn } : {}),
      });
      const pool = poolFor(cache, arn);
      const workload = startWorkload(pool.insert);
      // WHEN
      for (let i = 0; i < 5; i++) await rotate(fake, handler, arn);
      await sleep(50);
      const result = await workload.stop();
      // THEN
      expect(result.errors).toEqual([]);
      expect(result.failed).toBe(0);
      expect(result.ok).toBeGreaterThan(50);
      expect(await pool.whoAmI()).toBe(fake.valueOf<{ username: string }>(arn).username);
      // at most one fetch of AWSCURRENT per rotation (plus the first), and AWSPENDING reads only on recovery
      expect(cache.fetches).toBeLessThanOrEqual(1 + 5 * 3);
      await pool.end();
    },
    60_000,
  );

  it('a consumer that starts between setSecret and finishSecret of a single-user rotation logs in through AWSPENDING', async () => {
    // GIVEN a rotation stopped in its window: the database has the new password, AWSCURRENT the old one
    const admin = adminFor(db);
    const username = `consumer_win_${++counter}`;
    await admin.createAppUser(username, 'Start-Pass-1');
    const { fake, cache, handler } = setUp('single-user', true);
    const arn = fake.createSecret('app', {
      engine: db.engine,
      host: db.host,
      port: db.port,
      username,
      password: 'Start-Pass-1',
      dbname: db.database,
    });
    const token = fake.startRotation(arn);
    for (const step of ['createSecret', 'setSecret'])
      await handler({ SecretId: arn, ClientRequestToken: token, Step: step });
    expect(await admin.canUse(username, 'Start-Pass-1')).toBe(false);
    // WHEN a new consumer queries
    const pool = poolFor(cache, arn);
    await pool.insert();
    // THEN it got in with the pending credentials, and follows the rotation when it finishes
    expect(await pool.whoAmI()).toBe(username);
    await handler({ SecretId: arn, ClientRequestToken: token, Step: 'testSecret' });
    await handler({ SecretId: arn, ClientRequestToken: token, Step: 'finishSecret' });
    await pool.insert();
    await pool.end();
  });

  it('is a drop-in pool: query config objects, a transaction on a checked-out connection across a rotation, events and counts (issue 15, finding 10)', async () => {
    // GIVEN an alternating-users secret and a pool built as a service builds its driver's pool
    const admin = adminFor(db);
    const username = `consumer_tx_${++counter}`;
    await admin.createAppUser(username, 'Start-Pass-1');
    const { fake, cache, handler } = setUp('alternating-users', true);
    const masterArn = fake.createSecret('master', masterSecret(db));
    const arn = fake.createSecret('app', {
      engine: db.engine,
      host: db.host,
      port: db.port,
      username,
      password: 'Start-Pass-1',
      dbname: db.database,
      masterarn: masterArn,
    });
    const ssl = { ca: db.caPem, rejectUnauthorized: true };
    if (db.engine === 'postgres') {
      const pool = new RotatingPgPool({ source: cache, secretId: arn, pool: { max: 2, ssl } });
      const acquired: unknown[] = [];
      pool.on('acquire', (client) => acquired.push(client));
      // WHEN a query config object runs, and a transaction spans a rotation
      const config = await pool.query<{ n: number }>({ text: 'SELECT $1::int AS n', values: [7] });
      const client = await pool.connect();
      await client.query('BEGIN');
      await client.query('INSERT INTO items (note) VALUES ($1)', ['in-transaction']);
      await rotate(fake, handler, arn);
      await client.query('INSERT INTO items (note) VALUES ($1)', ['after-rotation']);
      await client.query('COMMIT');
      const counts = { total: pool.totalCount, waiting: pool.waitingCount };
      client.release();
      // THEN
      expect(config.rows[0]?.n).toBe(7);
      expect(acquired.length).toBeGreaterThanOrEqual(2);
      expect(counts.total).toBeGreaterThanOrEqual(1);
      expect(counts.waiting).toBe(0);
      expect(pool.idleCount).toBeGreaterThanOrEqual(1);
      expect(await pool.query('SELECT current_user AS u')).toMatchObject({
        rows: [{ u: fake.valueOf<{ username: string }>(arn).username }],
      });
      await pool.end();
      expect(pool.ended).toBe(true);
    } else {
      const pool = new RotatingMySqlPool({ source: cache, secretId: arn, pool: { connectionLimit: 2, ssl } });
      const acquired: unknown[] = [];
      pool.on('acquire', (connection) => acquired.push(connection));
      const [rows] = await pool.query<RowDataPacket[]>({ sql: 'SELECT ? AS n', values: [7] });
      const [prepared] = await pool.execute<RowDataPacket[]>('SELECT ? AS n', [8]);
      const connection = await pool.getConnection();
      await connection.beginTransaction();
      await connection.query('INSERT INTO items (note) VALUES (?)', ['in-transaction']);
      await rotate(fake, handler, arn);
      await connection.query('INSERT INTO items (note) VALUES (?)', ['after-rotation']);
      await connection.commit();
      connection.release();
      expect(Number(rows[0]?.n)).toBe(7);
      expect(Number(prepared[0]?.n)).toBe(8);
      expect(acquired.length).toBeGreaterThanOrEqual(2);
      const [who] = await pool.query<RowDataPacket[]>('SELECT CURRENT_USER() AS u');
      expect(String(who[0]?.u).split('@')[0]).toBe(fake.valueOf<{ username: string }>(arn).username);
      await pool.end();
    }
  }, 60_000);

  it('picks up rotations through the fallback refresh when no event arrives', async () => {
    // GIVEN alternating users, where old credentials keep working: only the refresh can move consumers on
    const admin = adminFor(db);
    const username = `consumer_fb_${++counter}`;
    await admin.createAppUser(username, 'Start-Pass-1');
    const { fake, cache, handler } = setUp('alternating-users', false, 100);
    const masterArn = fake.createSecret('master', masterSecret(db));
    const arn = fake.createSecret('app', {
      engine: db.engine,
      host: db.host,
      port: db.port,
      username,
      password: 'Start-Pass-1',
      dbname: db.database,
      masterarn: masterArn,
    });
    const pool = poolFor(cache, arn);
    expect(await pool.whoAmI()).toBe(username);
    // WHEN
    await rotate(fake, handler, arn);
    await sleep(150);
    // THEN
    expect(await pool.whoAmI()).toBe(fake.valueOf<{ username: string }>(arn).username);
    expect(fake.valueOf<{ username: string }>(arn).username).not.toBe(username);
    await pool.end();
  });
});
