/**
 * bench:consumers — consumers under sustained load through many rotations, against the local mode
 * (moto + a real PostgreSQL over TLS + the real database rotation function). Three kinds of consumer, each
 * through its own K rotations of its own secret and user, one after the other in the same run (side by side,
 * the baselines' storm of refused logins would starve ours of the machine's two cores):
 *   ours      SecretCache + rotation events from an SQS queue + RotatingPgPool (auth-failure recovery)
 *   env-var   credentials read once at start, as from an environment variable
 *   ttl-5min  a cache refreshed every 5 minutes, the usual caching default, no recovery
 * Usage: npm run bench:consumers -- [--rotations 50] [--rate 500] [--json]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Client, escapeIdentifier, Pool } from 'pg';
import { RotationQueuePoller } from '../client/events';
import { RotatingPgPool } from '../client/pg-pool';
import { SecretCache } from '../client/secret-cache';
import type { CachedSecret, SecretValueSource } from '../client/types';
import { createDatabaseHandler } from '../functions/database/create-handler';
import type { LocalDatabase } from '../local/databases/common';
import { startPostgres } from '../local/databases/postgres';
import { RotationDriver } from '../local/driver';
import { type LocalAws, startMoto } from '../local/moto';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROTATIONS = flag('rotations', 50);
const RATE = flag('rate', 500);
const JSON_OUTPUT = args.includes('--json');
const QUIET_MS = flag('quiet-ms', 3000);

type Kind = 'ours' | 'env-var' | 'ttl-5min';

interface Stats {
  ok: number;
  failed: number;
  latencies: number[];
  quietLatencies: number[];
}

interface Group {
  readonly kind: Kind;
  readonly query: () => Promise<unknown>;
  readonly stats: Stats;
  end(): Promise<void>;
}

/**
 * Every consumer's pool. A request that waits more than 2 s for a connection fails, as it would behind a
 * service's own timeout: without it, a consumer whose logins are refused queues requests without bound.
 */
const POOL = { max: 10, idleTimeoutMillis: 1000, maxUses: 200, connectionTimeoutMillis: 2000 };

async function main() {
  const aws = await startMoto();
  const db = await startPostgres({ tls: true });
  const dir = mkdtempSync(join(tmpdir(), 'bench-consumers-'));
  writeFileSync(join(dir, 'ca.pem'), db.caPem ?? '');
  const results: Array<Record<string, unknown>> = [];
  try {
    for (const strategy of ['single-user', 'alternating-users'] as const) {
      for (const kind of ['ours', 'env-var', 'ttl-5min'] as const) {
        results.push(await runConsumer(aws, db, strategy, kind, join(dir, 'ca.pem')));
      }
    }
  } finally {
    await Promise.allSettled([aws.stop(), db.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
  if (JSON_OUTPUT) {
    console.log(JSON.stringify({ rotations: ROTATIONS, ratePerSecond: RATE, results }, null, 2));
  } else {
    printTable(results);
  }
}

async function runConsumer(
  aws: LocalAws,
  db: LocalDatabase,
  strategy: 'single-user' | 'alternating-users',
  kind: Kind,
  caPath: string,
) {
  const secrets = new SecretsManagerClient(aws.clientConfig);
  const eventBridge = new EventBridgeClient(aws.clientConfig);
  const sqs = new SQSClient(aws.clientConfig);
  const id = `${strategy}-${kind}`;
  const username = `bench_${id.replace(/-/g, '_')}`;
  await admin(db, async (c) => {
    await c.query(
      'CREATE TABLE IF NOT EXISTS bench (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())',
    );
    await c.query(`CREATE ROLE ${escapeIdentifier(username)} LOGIN PASSWORD 'Bench-Start-1'`);
    await c.query(`GRANT SELECT, INSERT ON bench TO ${escapeIdentifier(username)}`);
    await c.query(`GRANT USAGE ON SEQUENCE bench_id_seq TO ${escapeIdentifier(username)}`);
  });
  const master = await secrets.send(
    new CreateSecretCommand({
      Name: `bench/master/${id}`,
      SecretString: JSON.stringify({
        engine: 'postgres',
        host: db.host,
        port: db.port,
        username: db.adminUser,
        password: db.adminPassword,
        dbname: db.database,
      }),
    }),
  );
  const name = `bench/app/${id}`;
  await secrets.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: JSON.stringify({
        engine: 'postgres',
        host: db.host,
        port: db.port,
        username,
        password: 'Bench-Start-1',
        dbname: db.database,
        ...(strategy === 'alternating-users' ? { masterarn: master.ARN } : {}),
      }),
    }),
  );
  const bus = `bench-${id}`;
  await eventBridge.send(new CreateEventBusCommand({ Name: bus }));
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: `bench-${id}` }));
  const queueArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes?.QueueArn;
  await eventBridge.send(
    new PutRuleCommand({
      Name: 'rotations',
      EventBusName: bus,
      EventPattern: JSON.stringify({ source: ['secret-rotation'] }),
    }),
  );
  await eventBridge.send(
    new PutTargetsCommand({ Rule: 'rotations', EventBusName: bus, Targets: [{ Id: 'q', Arn: queueArn }] }),
  );

  const ssl = { ca: db.caPem, rejectUnauthorized: true };
  const insert = 'INSERT INTO bench DEFAULT VALUES';

  // ours: the cache, refreshed by the events the queue receives, behind the rotating pool
  const cache = new SecretCache({ client: secrets });
  const watched = new VersionWatch(cache);
  const poller = new RotationQueuePoller({
    cache,
    sqs,
    queueUrl: queue.QueueUrl as string,
    waitTimeSeconds: 1,
  });
  const group = await consumer(kind, { name, secrets, watched, db, ssl, insert });
  if (kind === 'ours') poller.start();
  const load = startLoad([group], RATE);
  await sleep(QUIET_MS);
  load.phase = 'rotating';

  const driver = new RotationDriver(aws.clientConfig);
  const handler = createDatabaseHandler({
    secretsManager: driver.client,
    eventBridge,
    env: { ROTATION_STRATEGY: strategy, EVENT_BUS_NAME: bus, DB_CA_BUNDLE_PATH: caPath },
  });
  const updateLatencies: number[] = [];
  let rotationsOk = 0;
  for (let i = 0; i < ROTATIONS; i++) {
    const record = await driver.rotate(name, handler);
    if (record.succeeded) rotationsOk++;
    if (kind === 'ours') {
      // consumer update latency: from finishSecret to the first request on the new version
      const finished = Date.now();
      const seenAt = await watched.waitFor(record.token, 10_000);
      if (seenAt !== undefined) updateLatencies.push(Math.max(0, seenAt - finished));
    }
    if (!JSON_OUTPUT) process.stderr.write(`\r${strategy}, ${kind}: rotation ${i + 1}/${ROTATIONS}`);
  }
  if (!JSON_OUTPUT) process.stderr.write('\n');
  await sleep(500);
  await load.stop();
  if (kind === 'ours') await poller.stop();
  await group.end();

  return {
    strategy,
    consumer: group.kind,
    rotations: rotationsOk,
    requests: group.stats.ok + group.stats.failed,
    failed: group.stats.failed,
    p50QuietMs: percentile(group.stats.quietLatencies, 50),
    p99QuietMs: percentile(group.stats.quietLatencies, 99),
    p50RotatingMs: percentile(group.stats.latencies, 50),
    p99RotatingMs: percentile(group.stats.latencies, 99),
    ...(group.kind === 'ours'
      ? {
          updateP50Ms: percentile(updateLatencies, 50),
          updateP99Ms: percentile(updateLatencies, 99),
          getSecretValuePerRotation: round(cache.fetches / Math.max(1, rotationsOk)),
        }
      : {}),
  };
}

/** The consumer of one kind, reading the secret its own way. */
async function consumer(
  kind: Kind,
  c: {
    name: string;
    secrets: SecretsManagerClient;
    watched: VersionWatch;
    db: LocalDatabase;
    ssl: object;
    insert: string;
  },
): Promise<Group> {
  switch (kind) {
    case 'ours': {
      const ours = new RotatingPgPool({ source: c.watched, secretId: c.name, pool: { ...POOL, ssl: c.ssl } });
      return { kind, query: () => ours.query(c.insert), stats: newStats(), end: () => ours.end() };
    }
    case 'env-var': {
      // read once, at start
      const once = JSON.parse(
        (await c.secrets.send(new GetSecretValueCommand({ SecretId: c.name, VersionStage: 'AWSCURRENT' })))
          .SecretString ?? '{}',
      );
      const pool = new Pool({
        ...POOL,
        ssl: c.ssl,
        host: c.db.host,
        port: c.db.port,
        user: once.username,
        password: once.password,
        database: c.db.database,
      });
      pool.on('error', () => {});
      return { kind, query: () => pool.query(c.insert), stats: newStats(), end: () => pool.end() };
    }
    case 'ttl-5min': {
      // refreshed every 5 minutes: never within this run's window of a few minutes, as in production
      const ttl = new TtlConsumer(c.secrets, c.name, 300_000, c.db, c.ssl);
      return { kind, query: () => ttl.query(c.insert), stats: newStats(), end: () => ttl.end() };
    }
  }
}

/** Records when each version is first handed to a consumer: the first request on the new version follows. */
class VersionWatch implements SecretValueSource {
  readonly firstSeen = new Map<string, number>();
  constructor(private readonly inner: SecretCache) {}
  async current(secretId: string) {
    return this.#note(await this.inner.current(secretId));
  }
  async stage(secretId: string, stage: string) {
    const s = await this.inner.stage(secretId, stage);
    return s ? this.#note(s) : s;
  }
  invalidate(secretId: string) {
    this.inner.invalidate(secretId);
  }
  onChange(listener: (secretId: string) => void) {
    return this.inner.onChange(listener);
  }
  async waitFor(versionId: string, timeoutMs: number): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const at = this.firstSeen.get(versionId);
      if (at !== undefined) return at;
      await sleep(2);
    }
    return undefined;
  }
  #note(secret: CachedSecret): CachedSecret {
    if (!this.firstSeen.has(secret.versionId)) this.firstSeen.set(secret.versionId, Date.now());
    return secret;
  }
}

/** The usual time-based cache: refetch after `ttlMs`, rebuild the pool when the credentials changed. */
class TtlConsumer {
  #pool: Pool | undefined;
  #fetchedAt = 0;
  #version = '';
  constructor(
    private readonly secrets: SecretsManagerClient,
    private readonly name: string,
    private readonly ttlMs: number,
    private readonly db: LocalDatabase,
    private readonly ssl: object,
  ) {}
  async query(text: string) {
    if (!this.#pool || Date.now() - this.#fetchedAt > this.ttlMs) {
      const out = await this.secrets.send(
        new GetSecretValueCommand({ SecretId: this.name, VersionStage: 'AWSCURRENT' }),
      );
      this.#fetchedAt = Date.now();
      if (out.VersionId !== this.#version) {
        const value = JSON.parse(out.SecretString ?? '{}');
        await this.#pool?.end();
        this.#pool = new Pool({
          ...POOL,
          ssl: this.ssl,
          host: this.db.host,
          port: this.db.port,
          user: value.username,
          password: value.password,
          database: this.db.database,
        });
        this.#pool.on('error', () => {});
        this.#version = out.VersionId ?? '';
      }
    }
    return (this.#pool as Pool).query(text);
  }
  async end() {
    await this.#pool?.end();
  }
}

function startLoad(groups: Group[], ratePerSecond: number) {
  const state = { phase: 'quiet' as 'quiet' | 'rotating', running: true };
  const inFlight = new Set<Promise<void>>();
  const interval = 1000 / ratePerSecond;
  const tick = async () => {
    let next = performance.now();
    while (state.running) {
      for (const group of groups) {
        const started = performance.now();
        const phase = state.phase;
        const p = group
          .query()
          .then(() => {
            group.stats.ok++;
            (phase === 'quiet' ? group.stats.quietLatencies : group.stats.latencies).push(
              performance.now() - started,
            );
          })
          .catch(() => {
            group.stats.failed++;
          })
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
  };
  const loop = tick();
  return {
    get phase() {
      return state.phase;
    },
    set phase(value: 'quiet' | 'rotating') {
      state.phase = value;
    },
    stop: async () => {
      state.running = false;
      await loop;
      await Promise.allSettled([...inFlight]);
    },
  };
}

async function admin(db: LocalDatabase, work: (c: Client) => Promise<void>) {
  const c = new Client({
    host: db.host,
    port: db.port,
    user: db.adminUser,
    password: db.adminPassword,
    database: db.database,
    ssl: { ca: db.caPem, rejectUnauthorized: true },
  });
  await c.connect();
  try {
    await work(c);
  } finally {
    await c.end();
  }
}

function newStats(): Stats {
  return { ok: 0, failed: 0, latencies: [], quietLatencies: [] };
}

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function printTable(rows: Array<Record<string, unknown>>) {
  const columns = [
    ['strategy', 'strategy'],
    ['consumer', 'consumer'],
    ['rotations', 'rotations'],
    ['requests', 'requests'],
    ['failed', 'failed'],
    ['p50QuietMs', 'p50 quiet ms'],
    ['p99QuietMs', 'p99 quiet ms'],
    ['p50RotatingMs', 'p50 rotating ms'],
    ['p99RotatingMs', 'p99 rotating ms'],
    ['updateP50Ms', 'update p50 ms'],
    ['updateP99Ms', 'update p99 ms'],
    ['getSecretValuePerRotation', 'GetSecretValue/rotation'],
  ] as const;
  const cells = rows.map((row) =>
    columns.map(([key]) => (row[key] === undefined || row[key] === null ? '-' : String(row[key]))),
  );
  const widths = columns.map(([, title], i) =>
    Math.max(title.length, ...cells.map((c) => c[i]?.length ?? 0)),
  );
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(
    `bench:consumers — ${ROTATIONS} rotations per strategy at ${RATE} requests/s per consumer kind`,
  );
  console.log(line(columns.map(([, title]) => title)));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const c of cells) console.log(line(c));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
