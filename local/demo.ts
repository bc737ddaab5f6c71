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
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { Client, escapeIdentifier } from 'pg';
import { RotationQueuePoller } from '../client/events';
import { RotatingPgPool } from '../client/pg-pool';
import { SecretCache } from '../client/secret-cache';
import { createDatabaseHandler } from '../functions/database/create-handler';
import type { LocalDatabase } from './databases/common';
import { startPostgres } from './databases/postgres';
import { RotationDriver, type RotationRecord } from './driver';
import { type LocalAws, startMoto } from './moto';

/** What the demo found, per rotation. */
export interface DemoRow {
  readonly strategy: string;
  readonly rotation: number;
  readonly user: string;
  readonly succeeded: boolean;
  readonly durationMs: number;
  readonly newWorks: boolean;
  /** Whether the credentials that were current before still log in. */
  readonly oldWorks: boolean;
  /** Whether `oldWorks` is what the strategy promises (single-user: no; alternating users: yes). */
  readonly asPromised: boolean;
  readonly events: readonly string[];
  /** Consumer requests during this rotation, and how many failed. */
  readonly requests: number;
  readonly failedRequests: number;
}

/** Options of the demo. */
export interface DemoOptions {
  /** Rotations per strategy. @default 3 */
  readonly rotations?: number;
  /** Where progress lines go. @default console.log */
  readonly print?: (line: string) => void;
}

type Credentials = { username: string; password: string };

/**
 * The end-to-end demo: moto's server for the AWS APIs, a real PostgreSQL over verified TLS, and the real
 * database rotation function driven the way Secrets Manager drives it. Starts everything itself and stops it all.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoRow[]> {
  const print = options.print ?? ((line: string) => console.log(line));
  const rotations = options.rotations ?? 3;
  let aws: LocalAws | undefined;
  let db: LocalDatabase | undefined;
  const caDir = await import('node:fs').then((fs) =>
    fs.mkdtempSync(`${require('node:os').tmpdir()}/rotation-demo-`),
  );
  try {
    print('Starting moto (AWS APIs) and PostgreSQL with TLS ...');
    [aws, db] = await Promise.all([startMoto(), startPostgres({ tls: true })]);
    print(`  moto at ${aws.endpoint}; PostgreSQL at ${db.host}:${db.port}`);
    const { writeFileSync } = await import('node:fs');
    const caPath = `${caDir}/ca.pem`;
    writeFileSync(caPath, db.caPem ?? '');

    const secrets = new SecretsManagerClient(aws.clientConfig);
    const eventBridge = new EventBridgeClient(aws.clientConfig);
    const sqs = new SQSClient(aws.clientConfig);
    const queueUrl = await subscribeQueue(eventBridge, sqs, 'rotation-events', true);
    const consumerQueueUrl = await subscribeQueue(eventBridge, sqs, 'orders-service-events', false);
    print(
      '  EventBridge bus "secret-rotation" delivers rotation events to two SQS queues: this display and the consumer',
    );

    await createAppUser(db, 'orders_app', 'Initial-Pa55word');
    const master = await secrets.send(
      new CreateSecretCommand({
        Name: 'demo/master',
        SecretString: JSON.stringify(secretJson(db, db.adminUser, db.adminPassword)),
      }),
    );
    const rows: DemoRow[] = [];
    for (const strategy of ['single-user', 'alternating-users'] as const) {
      const name = `demo/orders-app/${strategy}`;
      const user = strategy === 'single-user' ? 'orders_app' : 'orders_app_alt';
      if (strategy === 'alternating-users') await createAppUser(db, user, 'Initial-Pa55word');
      await secrets.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: JSON.stringify({
            ...secretJson(db, user, 'Initial-Pa55word'),
            ...(strategy === 'alternating-users' ? { masterarn: master.ARN } : {}),
          }),
        }),
      );
      const driver = new RotationDriver(aws.clientConfig);
      const handler = createDatabaseHandler({
        secretsManager: driver.client,
        eventBridge,
        env: {
          ROTATION_STRATEGY: strategy,
          EVENT_BUS_NAME: 'secret-rotation',
          DB_CA_BUNDLE_PATH: caPath,
        },
      });
      print(`\n== ${strategy}: secret ${name}`);
      // A service built on the client library: it reads the secret at run time, refreshes on the events
      // its queue receives, and recovers from a refused login with AWSCURRENT anew, then AWSPENDING.
      const cache = new SecretCache({ client: secrets });
      const poller = new RotationQueuePoller({ cache, sqs, queueUrl: consumerQueueUrl, waitTimeSeconds: 1 });
      poller.start();
      const pool = new RotatingPgPool({
        source: cache,
        secretId: name,
        pool: { max: 2, maxUses: 5, ssl: { ca: db.caPem, rejectUnauthorized: true } },
      });
      const consumer = startConsumer(() => pool.query('INSERT INTO orders (item) VALUES ($1)', ['order']));
      print('  a consumer service is inserting orders through RotatingPgPool the whole time');
      for (let i = 1; i <= rotations; i++) {
        const before = await current(secrets, name);
        consumer.take(); // count only this rotation's traffic
        const record: RotationRecord = await driver.rotate(name, handler, {
          onStep: (s) =>
            print(
              `  rotation ${i}  ${s.step.padEnd(12)} ${s.ok ? 'ok  ' : 'FAIL'} ${String(s.durationMs).padStart(5)} ms${s.errorName ? `  ${s.errorName}` : ''}`,
            ),
        });
        const after = await current(secrets, name);
        const newWorks = await canLogIn(db, after);
        const oldWorks = await canLogIn(db, before);
        const events = await drainEvents(sqs, queueUrl);
        const traffic = consumer.take();
        const asPromised = strategy === 'single-user' ? !oldWorks : oldWorks;
        print(
          `  rotation ${i}: now ${after.username}; new credentials ${newWorks ? 'log in' : 'FAIL'}; ` +
            `previous credentials ${oldWorks ? 'still log in' : 'refused'} (${asPromised ? 'as the strategy promises' : 'NOT as promised'})`,
        );
        for (const event of events) print(`    event: ${event}`);
        print(`    consumer: ${traffic.requests} requests, ${traffic.failed} failed`);
        rows.push({
          strategy,
          rotation: i,
          user: after.username,
          succeeded: record.succeeded,
          durationMs: record.durationMs,
          newWorks,
          oldWorks,
          asPromised,
          events,
          requests: traffic.requests,
          failedRequests: traffic.failed,
        });
      }
      await consumer.stop();
      await poller.stop();
      await pool.end();
    }
    print(`\n${summaryTable(rows)}`);
    return rows;
  } finally {
    await Promise.allSettled([aws?.stop(), db?.stop()]);
    (await import('node:fs')).rmSync(caDir, { recursive: true, force: true });
  }
}

/** The summary as a text table. */
export function summaryTable(rows: readonly DemoRow[]): string {
  const header = [
    'strategy',
    '#',
    'user now',
    'result',
    'ms',
    'new login',
    'old login',
    'events',
    'requests',
    'failed',
  ];
  const body = rows.map((r) => [
    r.strategy,
    String(r.rotation),
    r.user,
    r.succeeded ? 'rotated' : 'FAILED',
    String(r.durationMs),
    r.newWorks ? 'ok' : 'FAIL',
    `${r.oldWorks ? 'works' : 'refused'}${r.asPromised ? '' : ' (!)'}`,
    String(r.events.length),
    String(r.requests),
    String(r.failedRequests),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function secretJson(db: LocalDatabase, username: string, password: string) {
  return { engine: 'postgres', host: db.host, port: db.port, username, password, dbname: db.database };
}

async function current(secrets: SecretsManagerClient, name: string): Promise<Credentials> {
  // Always name the stage: moto answers a stage-less GetSecretValue with a stale version (MOTO-DIFFERENCES.md).
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }));
  return JSON.parse(out.SecretString ?? '{}') as Credentials;
}

async function createAppUser(db: LocalDatabase, username: string, password: string): Promise<void> {
  const client = new Client({
    host: db.host,
    port: db.port,
    user: db.adminUser,
    password: db.adminPassword,
    database: db.database,
    ssl: { ca: db.caPem, rejectUnauthorized: true },
  });
  await client.connect();
  try {
    await client.query('CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, item text)');
    await client.query(
      `CREATE ROLE ${escapeIdentifier(username)} LOGIN PASSWORD ${client.escapeLiteral(password)}`,
    );
    await client.query(`GRANT SELECT, INSERT ON orders TO ${escapeIdentifier(username)}`);
    await client.query(`GRANT USAGE ON SEQUENCE orders_id_seq TO ${escapeIdentifier(username)}`);
  } finally {
    await client.end();
  }
}

async function canLogIn(db: LocalDatabase, credentials: Credentials): Promise<boolean> {
  const client = new Client({
    host: db.host,
    port: db.port,
    user: credentials.username,
    password: credentials.password,
    database: db.database,
    ssl: { ca: db.caPem, rejectUnauthorized: true },
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('INSERT INTO orders (item) VALUES ($1)', ['demo']);
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Consumers inserting in a loop; `take()` returns and resets the counts since the last call. */
function startConsumer(request: () => Promise<unknown>, loops = 4) {
  let running = true;
  let requests = 0;
  let failed = 0;
  const workers = Array.from({ length: loops }, async () => {
    while (running) {
      requests++;
      await request().catch(() => failed++);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
  return {
    take: () => {
      const counts = { requests, failed };
      requests = 0;
      failed = 0;
      return counts;
    },
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

async function subscribeQueue(
  eventBridge: EventBridgeClient,
  sqs: SQSClient,
  queueName: string,
  createBus: boolean,
): Promise<string> {
  if (createBus) await eventBridge.send(new CreateEventBusCommand({ Name: 'secret-rotation' }));
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
  const attributes = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  await eventBridge.send(
    new PutRuleCommand({
      Name: `${queueName}-rule`,
      EventBusName: 'secret-rotation',
      EventPattern: JSON.stringify({ source: ['secret-rotation'] }),
    }),
  );
  await eventBridge.send(
    new PutTargetsCommand({
      Rule: `${queueName}-rule`,
      EventBusName: 'secret-rotation',
      Targets: [{ Id: 'queue', Arn: attributes.Attributes?.QueueArn }],
    }),
  );
  return queue.QueueUrl as string;
}

async function drainEvents(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  const events: string[] = [];
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return events;
    for (const message of messages) {
      const event = JSON.parse(message.Body ?? '{}') as {
        'detail-type'?: string;
        detail?: Record<string, unknown>;
      };
      const detail = event.detail ?? {};
      events.push(
        `${event['detail-type']} (${detail.action !== undefined ? `${String(detail.action)}, ` : ''}${String(detail.strategy)}, version ${String(detail.versionId).slice(0, 8)}${detail.durationMs !== undefined ? `, ${String(detail.durationMs)} ms` : ''})`,
      );
    }
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
}

if (require.main === module) {
  // The function's own JSON logs and EMF metrics are for CloudWatch; the demo prints its own progress.
  // Pass --verbose to see them too.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (!process.argv.includes('--verbose')) {
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  }
  runDemo()
    .then((rows) => {
      const ok = rows.every((r) => r.succeeded && r.newWorks && r.asPromised && r.failedRequests === 0);
      const requests = rows.reduce((sum, r) => sum + r.requests, 0);
      console.log(
        ok
          ? `\nEvery rotation succeeded and behaved as its strategy promises; the consumer made ${requests} requests and none failed.`
          : '\nSome rotations did not behave as promised, or consumer requests failed.',
      );
      process.exit(ok ? 0 : 1);
    })
    .catch((error: unknown) => {
      console.error(`\nDemo failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    });
}
