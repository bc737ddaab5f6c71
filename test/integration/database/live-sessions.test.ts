import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { createConnection } from 'mysql2/promise';
import { Client } from 'pg';
import type { ConsumerCounter } from '../../../functions/consumer-tracker/store';
import { createDatabaseHandler } from '../../../functions/database/create-handler';
import { MySqlEngine } from '../../../functions/database/engines/mysql';
import { PostgresEngine } from '../../../functions/database/engines/postgres';
import {
  PREVIOUS_USER_CHECKED_ACTION,
  PREVIOUS_USER_SESSIONS_METRIC,
  PREVIOUS_VERSION_CONSUMERS_METRIC,
  PreviousUserInUseError,
} from '../../../functions/database/strategies/previous-user';
import type { LocalDatabase } from '../../../local/databases/common';
import { startMariaDb } from '../../../local/databases/mariadb';
import { startPostgres } from '../../../local/databases/postgres';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { STEPS } from '../../helpers/rotate';
import { adminFor, appSecret, HOSTILE_ALPHABET, masterSecret } from './harness';

type Credentials = { username: string; password: string };

const engines: Array<[string, () => Promise<LocalDatabase>]> = [
  ['PostgreSQL', () => startPostgres({ tls: true })],
  ['MariaDB', () => startMariaDb({ tls: true })],
];

describe.each(engines)('live sessions of the previous user on %s', (_name, start) => {
  let db: LocalDatabase;
  let counter = 0;
  const open: Array<{ end(): Promise<unknown> }> = [];

  beforeAll(async () => {
    db = await start();
  }, 120_000);

  afterEach(async () => {
    await Promise.all(open.splice(0).map((session) => session.end().catch(() => {})));
  });

  afterAll(async () => {
    await db?.stop();
  });

  /** A consumer that does not use our library: a plain driver connection announcing its application name. */
  async function connectAs(credentials: Credentials, applicationName: string): Promise<void> {
    const tls = db.caPem ? { ca: db.caPem, rejectUnauthorized: true } : undefined;
    if (db.engine === 'postgres') {
      const client = new Client({
        host: db.host,
        port: db.port,
        user: credentials.username,
        password: credentials.password,
        database: db.database,
        application_name: applicationName,
        ssl: tls ?? false,
      });
      await client.connect();
      open.push(client);
    } else {
      const connection = await createConnection({
        host: db.host,
        port: db.port,
        user: credentials.username,
        password: credentials.password,
        database: db.database,
        connectAttributes: { program_name: applicationName },
        ...(tls ? { ssl: tls } : {}),
      });
      open.push(connection);
    }
  }

  /** Waits until the server no longer lists sessions of `username` (a closed socket ends its backend a moment later). */
  async function drained(username: string): Promise<void> {
    const engine =
      db.engine === 'postgres'
        ? new PostgresEngine({ connectTimeoutMs: 5000, ...(db.caPem ? { caPem: db.caPem } : {}) })
        : new MySqlEngine({ connectTimeoutMs: 5000, ...(db.caPem ? { caPem: db.caPem } : {}) });
    const session = await engine.connect({
      host: db.host,
      port: db.port,
      username: db.adminUser,
      password: db.adminPassword,
      database: db.database,
      ssl: db.caPem !== undefined,
    });
    try {
      for (let attempt = 0; attempt < 200; attempt++) {
        if ((await session.liveSessions(username)).sessions.length === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`sessions of ${username} did not end`);
    } finally {
      await session.close();
    }
  }

  /** An alternating-users secret rotated once: AWSCURRENT holds the clone, AWSPREVIOUS the original user. */
  async function rotatedOnce(policy?: 'report' | 'refuse', consumers?: ConsumerCounter) {
    const admin = adminFor(db);
    const username = `live_user${++counter}`;
    await admin.createAppUser(username, 'initial-Passw0rd');
    const fake = new FakeSecretsManager();
    fake.passwordAlphabet = HOSTILE_ALPHABET;
    const eventBridge = new EventBridgeClient({ region: 'us-east-1' });
    const events = mockClient(eventBridge);
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    const counts: Array<[string, number]> = [];
    const dir = mkdtempSync(join(tmpdir(), 'live-sessions-ca-'));
    writeFileSync(join(dir, 'ca.pem'), db.caPem ?? '');
    const handler = createDatabaseHandler({
      secretsManager: fake.client,
      eventBridge,
      env: {
        ROTATION_STRATEGY: 'alternating-users',
        DB_CA_BUNDLE_PATH: join(dir, 'ca.pem'),
        EXCLUDE_CHARACTERS: '',
        PASSWORD_LENGTH: '24',
        EVENT_BUS_NAME: 'rotation-bus',
        ...(policy ? { PREVIOUS_USER_SESSIONS: policy } : {}),
      },
      sleep: async () => {},
      recordCount: (metric, count) => counts.push([metric, count]),
      ...(consumers ? { consumers } : {}),
      engineFor: (family, settings) =>
        family === 'postgres' ? new PostgresEngine(settings) : new MySqlEngine(settings),
    });
    const masterArn = fake.createSecret('master', masterSecret(db));
    const arn = fake.createSecret(
      'app',
      appSecret(db, username, 'initial-Passw0rd', { masterarn: masterArn }),
    );
    const run = (token: string, step: string) =>
      handler({ SecretId: arn, ClientRequestToken: token, Step: step });
    const rotate = async () => {
      const token = fake.startRotation(arn);
      for (const step of STEPS) await run(token, step);
      return token;
    };
    await rotate();
    events.resetHistory();
    counts.length = 0;
    const checked = () =>
      events
        .commandCalls(PutEventsCommand)
        .flatMap((call) => call.args[0].input.Entries ?? [])
        .map((entry) => JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>)
        .filter((detail) => detail.action === PREVIOUS_USER_CHECKED_ACTION);
    const published = () =>
      events
        .commandCalls(PutEventsCommand)
        .map((call) => JSON.stringify(call.args[0].input))
        .join('\n');
    return {
      admin,
      fake,
      arn,
      run,
      rotate,
      counts,
      checked,
      published,
      username,
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  }

  it('counts the sessions of the user AWSPREVIOUS holds, with client address and application name, before changing its password', async () => {
    // GIVEN two sessions of a consumer still on the previous credentials, one of another application
    const setUp = await rotatedOnce();
    const previous = setUp.fake.valueOf<Credentials>(setUp.arn, 'AWSPREVIOUS');
    const previousVersionId = setUp.fake.versionOf(setUp.arn, 'AWSPREVIOUS');
    expect(previous.username).toBe(setUp.username);
    await connectAs(previous, 'billing-worker');
    await connectAs(previous, 'billing-worker');
    await connectAs(previous, 'report-cron');
    // WHEN
    await setUp.rotate();
    // THEN
    const [detail, ...more] = setUp.checked();
    expect(more).toEqual([]);
    expect(detail).toMatchObject({
      username: setUp.username,
      liveSessions: 3,
      complete: true,
      previousVersionId,
      policy: 'report',
    });
    expect(detail?.clients).toEqual(
      db.engine === 'postgres'
        ? [
            { address: '127.0.0.1', applicationName: 'billing-worker', sessions: 2 },
            { address: '127.0.0.1', applicationName: 'report-cron', sessions: 1 },
          ]
        : // MariaDB ships with the performance schema off (no connection attributes, so no names) and
          // resolves the loopback client to `localhost`.
          [{ address: 'localhost', applicationName: 'unknown', sessions: 3 }],
    );
    expect(setUp.counts).toEqual([[PREVIOUS_USER_SESSIONS_METRIC, 3]]);
    const everything = setUp.published();
    for (const stage of ['AWSCURRENT', 'AWSPREVIOUS']) {
      expect(everything).not.toContain(setUp.fake.valueOf<Credentials>(setUp.arn, stage).password);
    }
    expect(everything).not.toContain(previous.password);
    setUp.cleanup();
  });

  it('reports, before changing the password, how many live consumers the tracker still sees on the previous version', async () => {
    // GIVEN a tracker that sees two consumers on AWSPREVIOUS
    const asked: string[] = [];
    const setUp = await rotatedOnce('report', {
      liveConsumersOn: async (_arn, versionId) => {
        asked.push(versionId);
        return 2;
      },
    });
    const previousVersionId = setUp.fake.versionOf(setUp.arn, 'AWSPREVIOUS');
    // WHEN
    await setUp.rotate();
    // THEN
    expect(asked).toEqual([previousVersionId]);
    expect(setUp.checked()).toEqual([
      expect.objectContaining({ previousVersionId, liveConsumers: 2, liveSessions: 0 }),
    ]);
    expect(setUp.counts).toEqual([
      [PREVIOUS_USER_SESSIONS_METRIC, 0],
      [PREVIOUS_VERSION_CONSUMERS_METRIC, 2],
    ]);
    setUp.cleanup();
  });

  it('reports zero sessions when nobody uses the previous user', async () => {
    // GIVEN
    const setUp = await rotatedOnce();
    // WHEN
    await setUp.rotate();
    // THEN
    expect(setUp.checked()).toEqual([
      expect.objectContaining({ username: setUp.username, liveSessions: 0, complete: true, clients: [] }),
    ]);
    expect(setUp.counts).toEqual([[PREVIOUS_USER_SESSIONS_METRIC, 0]]);
    setUp.cleanup();
  });

  it('refuses to change the password while the previous user has live sessions, leaving every version working, and goes on once they are gone', async () => {
    // GIVEN
    const setUp = await rotatedOnce('refuse');
    const current = setUp.fake.valueOf<Credentials>(setUp.arn);
    const previous = setUp.fake.valueOf<Credentials>(setUp.arn, 'AWSPREVIOUS');
    await connectAs(previous, 'legacy-app');
    const token = setUp.fake.startRotation(setUp.arn);
    await setUp.run(token, 'createSecret');
    // WHEN
    const refusal = setUp.run(token, 'setSecret');
    // THEN
    await expect(refusal).rejects.toBeInstanceOf(PreviousUserInUseError);
    await expect(refusal).rejects.toThrow(/1 live database session/);
    expect(setUp.fake.versionOf(setUp.arn, 'AWSPENDING')).toBe(token);
    expect(await setUp.admin.canUse(current.username, current.password)).toBe(true);
    expect(await setUp.admin.canUse(previous.username, previous.password)).toBe(true);
    expect(setUp.checked()).toEqual([expect.objectContaining({ liveSessions: 1, policy: 'refuse' })]);

    // WHEN the legacy consumer disconnects and Secrets Manager retries
    await Promise.all(open.splice(0).map((session) => session.end()));
    await drained(previous.username);
    for (const step of STEPS.slice(1)) await setUp.run(token, step);
    // THEN
    const rotated = setUp.fake.valueOf<Credentials>(setUp.arn);
    expect(rotated.username).toBe(previous.username);
    expect(await setUp.admin.canUse(rotated.username, rotated.password)).toBe(true);
    expect(await setUp.admin.canUse(previous.username, previous.password)).toBe(false);
    setUp.cleanup();
  });
});
