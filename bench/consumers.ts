/**
 * bench:consumers — a fleet of consumer processes through rotations, an AWS outage and throttling, and (with
 * --compare) three kinds of consumer under sustained load, against the local mode.
 *
 * Fleet (default): --replicas N processes (default 8) of one service, each a SecretCache + the rotation
 * broadcast (SNS to a queue per replica) + RotatingPgPool issuing requests, against moto and a real PostgreSQL
 * rotated by the real function (alternating users). Three scenarios:
 *   rotations   --fleet-rotations K (default 5): per replica, update latency from finishSecret to the new
 *               version in its cache (p50/p99), failed requests, GetSecretValue per rotation
 *   outage      the Secrets Manager endpoint unreachable through local/fault-proxy.ts (its target a closed
 *               port) for --outage-ms (default 8000), four times the replicas' refresh interval, while
 *               requests continue
 *   throttling  Secrets Manager behind local/fault-proxy.ts at --throttle-rate requests/s (default 4) for the
 *               whole fleet, through --throttled-rotations rotations (default 3)
 * moto's EventBridge has no SNS target: the bench publishes the rotation event to the topic right after
 * finishSecret, as the ConsumerBroadcast rule does.
 *
 * Comparison (--compare): consumers under sustained load through many rotations, against the local mode
 * (moto + a real PostgreSQL over TLS + the real database rotation function). Three kinds of consumer, each
 * through its own K rotations of its own secret and user, one after the other in the same run (side by side,
 * the baselines' storm of refused logins would starve ours of the machine's two cores):
 *   ours      SecretCache + rotation events from an SQS queue + RotatingPgPool (auth-failure recovery)
 *   env-var   credentials read once at start, as from an environment variable
 *   ttl-5min  a cache refreshed every 5 minutes, the usual caching default, no recovery
 * Usage: npm run bench:consumers -- [--replicas 8] [--fleet-rotations 5] [--compare [--rotations 50] [--rate 500]] [--json]
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

async function runComparison() {
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
  return { rotations: ROTATIONS, ratePerSecond: RATE, results };
}

async function main() {
  const replicaArg = args.indexOf('--replica');
  if (replicaArg >= 0) {
    await runReplica(JSON.parse(args[replicaArg + 1] ?? '{}') as ReplicaConfig);
    return;
  }
  const fleet = await runFleet();
  const comparison = args.includes('--compare') ? await runComparison() : undefined;
  if (JSON_OUTPUT) {
    console.log(JSON.stringify({ fleet, ...(comparison ? { comparison } : {}) }, null, 2));
  } else {
    printFleet(fleet);
    if (comparison) printTable(comparison.results);
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

// ---------------------------------------------------------------------------------------------------------
// Fleet: replicas in their own processes

const REPLICAS = flag('replicas', 8);
const FLEET_ROTATIONS = flag('fleet-rotations', 5);
const OUTAGE_MS = flag('outage-ms', 8000);
const OUTAGE_REFRESH_MS = Math.max(500, Math.floor(OUTAGE_MS / 4));
const THROTTLE_RATE = flag('throttle-rate', 4);
const THROTTLED_ROTATIONS = flag('throttled-rotations', 3);
/** Requests each replica issues per second, on two connections. */
const REPLICA_RATE = flag('replica-rate', 20);

interface ReplicaConfig {
  readonly index: number;
  readonly aws: LocalAws['clientConfig'];
  /** Where the replica's Secrets Manager client goes (the switch in front of moto). */
  readonly secretsEndpoint: string;
  readonly topicArn: string;
  readonly queueNamePrefix: string;
  readonly secretId: string;
  readonly caPem: string;
  readonly refreshIntervalMs: number;
}

type FromReplica =
  | { type: 'ready' }
  | { type: 'refresh'; versionId: string; at: number }
  | { type: 'report'; ok: number; failed: number; fetches: number; errors: string[] };

/** A replica: the service as a user would build it on the library, issuing requests until told to stop. */
async function runReplica(config: ReplicaConfig): Promise<void> {
  const { SNSClient } = await import('@aws-sdk/client-sns');
  const { RotationBroadcastSubscriber } = await import('../client/broadcast');
  const send = (message: FromReplica) => process.send?.(message);
  const secrets = new SecretsManagerClient({ ...config.aws, endpoint: config.secretsEndpoint });
  const cache = new SecretCache({
    client: secrets,
    refreshIntervalMs: config.refreshIntervalMs,
    observer: { onRefresh: (info) => send({ type: 'refresh', versionId: info.versionId, at: Date.now() }) },
  });
  const subscriber = new RotationBroadcastSubscriber({
    cache,
    sqs: new SQSClient(config.aws),
    sns: new SNSClient(config.aws),
    topicArn: config.topicArn,
    queueNamePrefix: config.queueNamePrefix,
    replicaId: `replica-${config.index}`,
  });
  await subscriber.start();
  const pool = new RotatingPgPool({
    source: cache,
    secretId: config.secretId,
    pool: {
      max: 2,
      idleTimeoutMillis: 1000,
      connectionTimeoutMillis: 2000,
      ssl: { ca: config.caPem, rejectUnauthorized: true },
    },
  });
  await pool.query('SELECT 1');
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  let running = true;
  const loops = [0, 1].map(async () => {
    while (running) {
      const started = Date.now();
      try {
        await pool.query('SELECT 1');
        ok++;
      } catch (error) {
        failed++;
        if (errors.length < 3)
          errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      }
      await sleep(Math.max(0, 2000 / REPLICA_RATE - (Date.now() - started)));
    }
  });
  process.on('message', async (message: { type: string }) => {
    if (message.type === 'report') {
      send({ type: 'report', ok, failed, fetches: cache.fetches, errors: [...errors] });
    } else if (message.type === 'stop') {
      running = false;
      await Promise.all(loops);
      await subscriber.stop();
      await pool.end();
      process.send?.({ type: 'report', ok, failed, fetches: cache.fetches, errors: [...errors] }, () =>
        process.exit(0),
      );
    }
  });
  send({ type: 'ready' });
}

/**
 * A TCP switch in front of an endpoint: the replicas' Secrets Manager endpoint, moved between moto, the
 * throttling proxy and the unreachable one (or refusing connections) without restarting the replicas.
 */
async function startSwitch(target: string) {
  const { createServer, connect } = await import('node:net');
  const url = new URL(target);
  let upstream = { host: url.hostname, port: Number(url.port) };
  let down = false;
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((socket) => {
    if (down) {
      socket.destroy();
      return;
    }
    const remote = connect(upstream);
    sockets.add(socket);
    sockets.add(remote);
    const close = () => {
      socket.destroy();
      remote.destroy();
      sockets.delete(socket);
      sockets.delete(remote);
    };
    socket.on('error', close).on('close', close);
    remote.on('error', close).on('close', close);
    socket.pipe(remote).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const cut = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    /** Cuts every connection; new ones go to `to`, or are refused when `to` is undefined. */
    route(to: string | undefined) {
      down = to === undefined;
      if (to) {
        const next = new URL(to);
        upstream = { host: next.hostname, port: Number(next.port) };
      }
      cut();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}

interface ReplicaHandle {
  readonly index: number;
  readonly refreshes: Array<{ versionId: string; at: number }>;
  report(): Promise<Extract<FromReplica, { type: 'report' }>>;
  stop(): Promise<Extract<FromReplica, { type: 'report' }>>;
}

async function startReplicas(count: number, config: Omit<ReplicaConfig, 'index'>): Promise<ReplicaHandle[]> {
  const { fork } = await import('node:child_process');
  return Promise.all(
    Array.from({ length: count }, (_, index) => {
      const child = fork(__filename, ['--replica', JSON.stringify({ ...config, index })], {
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        env: { ...process.env },
      });
      const refreshes: Array<{ versionId: string; at: number }> = [];
      const waiters: Array<(m: Extract<FromReplica, { type: 'report' }>) => void> = [];
      return new Promise<ReplicaHandle>((resolve, reject) => {
        child.on('exit', (code) => {
          if (code) reject(new Error(`replica ${index} exited with ${code}`));
        });
        child.on('message', (message: FromReplica) => {
          if (message.type === 'ready') {
            resolve({
              index,
              refreshes,
              report: () =>
                new Promise((r) => {
                  waiters.push(r);
                  child.send({ type: 'report' });
                }),
              stop: () =>
                new Promise((r) => {
                  waiters.push(r);
                  child.send({ type: 'stop' });
                }),
            });
          } else if (message.type === 'refresh') refreshes.push(message);
          else waiters.shift()?.(message);
        });
      });
    }),
  );
}

interface ReplicaRow {
  scenario: string;
  replica: number;
  updateP50Ms: number | null;
  updateP99Ms: number | null;
  failed: number;
  requests: number;
  getSecretValuePerRotation?: number;
  getSecretValueCalls?: number;
}

async function runFleet() {
  const aws = await startMoto();
  const db = await startPostgres({ tls: true });
  const dir = mkdtempSync(join(tmpdir(), 'bench-fleet-'));
  writeFileSync(join(dir, 'ca.pem'), db.caPem ?? '');
  const { SNSClient, CreateTopicCommand, PublishCommand } = await import('@aws-sdk/client-sns');
  const { startFaultProxy } = await import('../local/fault-proxy');
  const secrets = new SecretsManagerClient(aws.clientConfig);
  const eventBridge = new EventBridgeClient(aws.clientConfig);
  const sns = new SNSClient(aws.clientConfig);
  const switcher = await startSwitch(aws.endpoint);
  const throttle = await startFaultProxy({
    target: aws.endpoint,
    ratePerSecond: THROTTLE_RATE,
    burst: THROTTLE_RATE,
  });
  const rows: ReplicaRow[] = [];
  const scenarios: Array<Record<string, unknown>> = [];
  try {
    await eventBridge.send(new CreateEventBusCommand({ Name: 'fleet' }));
    const topicArn = (await sns.send(new CreateTopicCommand({ Name: 'fleet-broadcast' }))).TopicArn as string;
    const username = 'fleet_app';
    await admin(db, async (c) => {
      await c.query(`CREATE ROLE ${escapeIdentifier(username)} LOGIN PASSWORD 'Fleet-Start-1'`);
    });
    const master = await secrets.send(
      new CreateSecretCommand({
        Name: 'fleet/master',
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
    const secret = await secrets.send(
      new CreateSecretCommand({
        Name: 'fleet/app',
        SecretString: JSON.stringify({
          engine: 'postgres',
          host: db.host,
          port: db.port,
          username,
          password: 'Fleet-Start-1',
          dbname: db.database,
          masterarn: master.ARN,
        }),
      }),
    );
    const secretId = secret.ARN as string;
    const driver = new RotationDriver(aws.clientConfig);
    const handler = createDatabaseHandler({
      secretsManager: driver.client,
      eventBridge,
      env: {
        ROTATION_STRATEGY: 'alternating-users',
        EVENT_BUS_NAME: 'fleet',
        DB_CA_BUNDLE_PATH: join(dir, 'ca.pem'),
      },
    });
    /** One rotation, its event broadcast; resolves with each replica's update latency. */
    const rotateOnce = async (replicas: ReplicaHandle[]) => {
      const record = await driver.rotate(secretId, handler);
      const finishedAt = Date.now();
      await sns.send(
        new PublishCommand({
          TopicArn: topicArn,
          Message: JSON.stringify({
            version: '0',
            source: 'secret-rotation',
            'detail-type': 'Secret Rotated',
            resources: [secretId],
            detail: { secretArn: secretId, versionId: record.token },
          }),
        }),
      );
      const deadline = Date.now() + 30_000;
      const latencies = new Map<number, number>();
      while (latencies.size < replicas.length && Date.now() < deadline) {
        for (const r of replicas) {
          const seen = r.refreshes.find((x) => x.versionId === record.token);
          if (seen && !latencies.has(r.index)) latencies.set(r.index, Math.max(0, seen.at - finishedAt));
        }
        await sleep(5);
      }
      return latencies;
    };
    const base = {
      aws: aws.clientConfig,
      secretsEndpoint: switcher.endpoint,
      topicArn,
      secretId,
      caPem: db.caPem ?? '',
    };

    // 1. rotations, and 2. throttling: one fleet with the default 15-minute refresh
    const fleet = await startReplicas(REPLICAS, {
      ...base,
      queueNamePrefix: 'fleet-',
      refreshIntervalMs: 900_000,
    });
    const collect = async (
      scenario: string,
      rotations: number,
      run: () => Promise<Map<number, number>[]>,
    ) => {
      const before = await Promise.all(fleet.map((r) => r.report()));
      const results = await run();
      await sleep(300);
      const after = await Promise.all(fleet.map((r) => r.report()));
      const scenarioRows = fleet.map((r, i) => {
        const lat = results.map((m) => m.get(r.index)).filter((v): v is number => v !== undefined);
        return {
          scenario,
          replica: r.index,
          updateP50Ms: percentile(lat, 50),
          updateP99Ms: percentile(lat, 99),
          updated: `${lat.length}/${rotations}`,
          failed: (after[i]?.failed ?? 0) - (before[i]?.failed ?? 0),
          requests:
            (after[i]?.ok ?? 0) + (after[i]?.failed ?? 0) - (before[i]?.ok ?? 0) - (before[i]?.failed ?? 0),
          getSecretValuePerRotation: round(
            ((after[i]?.fetches ?? 0) - (before[i]?.fetches ?? 0)) / rotations,
          ),
          errors: after[i]?.errors ?? [],
        };
      });
      rows.push(...scenarioRows);
      return scenarioRows;
    };
    if (!JSON_OUTPUT) process.stderr.write(`rotations: ${FLEET_ROTATIONS} with ${REPLICAS} replicas\n`);
    const rotationRows = await collect('rotations', FLEET_ROTATIONS, async () => {
      const all: Map<number, number>[] = [];
      for (let i = 0; i < FLEET_ROTATIONS; i++) all.push(await rotateOnce(fleet));
      return all;
    });
    scenarios.push(summary('rotations', rotationRows, FLEET_ROTATIONS));

    if (!JSON_OUTPUT) process.stderr.write(`throttling: ${THROTTLE_RATE} requests/s for the fleet\n`);
    switcher.route(throttle.endpoint);
    const throttledBefore = throttle.stats.throttled + (throttle.stats.byOperation.GetSecretValue ?? 0);
    const throttleRows = await collect('throttling', THROTTLED_ROTATIONS, async () => {
      const all: Map<number, number>[] = [];
      for (let i = 0; i < THROTTLED_ROTATIONS; i++) all.push(await rotateOnce(fleet));
      return all;
    });
    const proxyCalls =
      throttle.stats.throttled + (throttle.stats.byOperation.GetSecretValue ?? 0) - throttledBefore;
    scenarios.push({
      ...summary('throttling', throttleRows, THROTTLED_ROTATIONS),
      callsAtEndpointPerReplicaPerRotation: round(proxyCalls / REPLICAS / THROTTLED_ROTATIONS),
      throttledAnswers: throttle.stats.throttled,
    });
    switcher.route(aws.endpoint);
    await Promise.all(fleet.map((r) => r.stop()));

    // 3. outage: a fleet whose refresh interval is a quarter of the outage
    if (!JSON_OUTPUT)
      process.stderr.write(`outage: ${OUTAGE_MS} ms, refresh interval ${OUTAGE_REFRESH_MS} ms\n`);
    const outageFleet = await startReplicas(REPLICAS, {
      ...base,
      queueNamePrefix: 'fleet-outage-',
      refreshIntervalMs: OUTAGE_REFRESH_MS,
    });
    const before = await Promise.all(outageFleet.map((r) => r.report()));
    // Secrets Manager unreachable: the fault proxy's target is a port nobody listens on, so every call gets
    // the proxy's "target unreachable" answer (HTTP 502), as from a load balancer in front of a dead service.
    const { freePort } = await import('../local/databases/common');
    const unreachable = await startFaultProxy({ target: `http://127.0.0.1:${await freePort()}` });
    switcher.route(unreachable.endpoint);
    await sleep(OUTAGE_MS);
    const during = await Promise.all(outageFleet.map((r) => r.report()));
    switcher.route(aws.endpoint);
    const unreachableCalls = unreachable.stats.forwarded;
    await unreachable.stop();
    await sleep(OUTAGE_REFRESH_MS * 2);
    const after = await Promise.all(outageFleet.map((r) => r.stop()));
    const outageRows = outageFleet.map((r, i) => ({
      scenario: 'outage',
      replica: r.index,
      updateP50Ms: null,
      updateP99Ms: null,
      failed: (after[i]?.failed ?? 0) - (before[i]?.failed ?? 0),
      requests:
        (after[i]?.ok ?? 0) + (after[i]?.failed ?? 0) - (before[i]?.ok ?? 0) - (before[i]?.failed ?? 0),
      getSecretValueCalls: (during[i]?.fetches ?? 0) - (before[i]?.fetches ?? 0),
      errors: after[i]?.errors ?? [],
    }));
    rows.push(...outageRows);
    scenarios.push({
      scenario: 'outage',
      replicas: REPLICAS,
      outageMs: OUTAGE_MS,
      refreshIntervalMs: OUTAGE_REFRESH_MS,
      failedRequests: outageRows.reduce((t, r) => t + r.failed, 0),
      requests: outageRows.reduce((t, r) => t + r.requests, 0),
      getSecretValueAttemptsPerReplica: round(
        outageRows.reduce((t, r) => t + r.getSecretValueCalls, 0) / REPLICAS,
      ),
      callsAtEndpointPerReplica: round(unreachableCalls / REPLICAS),
    });
  } finally {
    await Promise.allSettled([switcher.stop(), throttle.stop(), aws.stop(), db.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
  return { replicas: REPLICAS, scenarios, rows };
}

function summary(scenario: string, rows: Array<Record<string, unknown>>, rotations: number) {
  const all = (key: string) => rows.map((r) => r[key]).filter((v): v is number => typeof v === 'number');
  return {
    scenario,
    replicas: rows.length,
    rotations,
    updateP50MsWorstReplica: Math.max(...all('updateP50Ms')),
    updateP99MsWorstReplica: Math.max(...all('updateP99Ms')),
    replicasUpdatedEveryTime: rows.filter((r) => r.updated === `${rotations}/${rotations}`).length,
    failedRequests: all('failed').reduce((t, v) => t + v, 0),
    requests: all('requests').reduce((t, v) => t + v, 0),
    getSecretValuePerReplicaPerRotationWorst: Math.max(...all('getSecretValuePerRotation')),
  };
}

function printFleet(fleet: Awaited<ReturnType<typeof runFleet>>) {
  const columns = [
    ['scenario', 'scenario'],
    ['replica', 'replica'],
    ['updated', 'updated'],
    ['updateP50Ms', 'update p50 ms'],
    ['updateP99Ms', 'update p99 ms'],
    ['requests', 'requests'],
    ['failed', 'failed'],
    ['getSecretValuePerRotation', 'GetSecretValue/rotation'],
    ['getSecretValueCalls', 'GetSecretValue in outage'],
  ] as const;
  table(
    `bench:consumers — fleet of ${fleet.replicas} replica processes (alternating users, broadcast, RotatingPgPool)`,
    columns,
    fleet.rows as unknown as Array<Record<string, unknown>>,
  );
  console.log('');
  for (const s of fleet.scenarios) {
    console.log(
      Object.entries(s)
        .map(([k, v]) => `${k}=${v}`)
        .join('  '),
    );
  }
  const errors = fleet.rows.flatMap((r) => (r as { errors?: string[] }).errors ?? []);
  if (errors.length > 0) console.log(`\nfirst errors: ${[...new Set(errors)].slice(0, 5).join(' | ')}`);
}

function table(
  title: string,
  columns: ReadonlyArray<readonly [string, string]>,
  rows: Array<Record<string, unknown>>,
) {
  const cells = rows.map((row) =>
    columns.map(([key]) => (row[key] === undefined || row[key] === null ? '-' : String(row[key]))),
  );
  const widths = columns.map(([, t], i) => Math.max(t.length, ...cells.map((c) => c[i]?.length ?? 0)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(title);
  console.log(line(columns.map(([, t]) => t)));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const c of cells) console.log(line(c));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
