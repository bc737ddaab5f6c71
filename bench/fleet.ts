/**
 * bench:fleet — rotate a fleet of secrets concurrently through the local mode, with the AWS endpoint
 * throttled at a set request rate, as an account's Secrets Manager quota does.
 *
 * Every secret is a real PostgreSQL user's credentials (single-user strategy, TLS), rotated by the real
 * database rotation function through the rotation driver, `--concurrency` rotations at a time (Lambda
 * instances, each with its own handler). Between the SDK and moto a fault proxy throttles requests above
 * `--rate` per second with `ThrottlingException`.
 *
 * Reports the completion time against the minimum the rate allows (the requests that got through divided by
 * the rate), the retries (throttled requests the SDK retried, and whole rotations the driver retried), and
 * the failures, then checks every secret: AWSCURRENT is the rotation's version, no AWSPENDING is left
 * behind, and the current password logs in.
 *
 * The defaults: 50 requests/s, the quota AWS gives the combined Secrets Manager write operations a rotation
 * makes (PutSecretValue, UpdateSecretVersionStage, ...), and 20 rotations at a time, what two cores serve
 * before the machine rather than the quota becomes the limit.
 *
 * Usage: npm run bench:fleet -- [--secrets 1000] [--rate 50] [--concurrency 20] [--json]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import { createDatabaseHandler } from '../functions/database/create-handler';
import { SDK_RETRY_CONFIG } from '../functions/rotation/sdk-config';
import type { LocalDatabase } from '../local/databases/common';
import { startPostgres } from '../local/databases/postgres';
import { RotationDriver, type RotationRecord } from '../local/driver';
import { startFaultProxy } from '../local/fault-proxy';
import { startMoto } from '../local/moto';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
  return value;
};
const SECRETS = flag('secrets', 1000);
const RATE = flag('rate', 50);
const CONCURRENCY = flag('concurrency', 20);
const JSON_OUTPUT = args.includes('--json');

async function main() {
  const aws = await startMoto();
  const db = await startPostgres({ tls: true });
  const dir = mkdtempSync(join(tmpdir(), 'bench-fleet-'));
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, db.caPem ?? '');
  const proxy = await startFaultProxy({ target: aws.endpoint, ratePerSecond: RATE });
  try {
    progress(`creating ${SECRETS} database users and their secrets`);
    const arns = await createFleet(db, new SecretsManagerClient(aws.clientConfig));
    const driver = new RotationDriver({ ...aws.clientConfig, endpoint: proxy.endpoint, ...SDK_RETRY_CONFIG });
    const env = { ROTATION_STRATEGY: 'single-user', DB_CA_BUNDLE_PATH: caPath };
    const queue = [...arns];
    const records: RotationRecord[] = [];
    const started = performance.now();
    const worker = async () => {
      const handler = createDatabaseHandler({ secretsManager: driver.client, env });
      for (let arn = queue.shift(); arn; arn = queue.shift()) {
        records.push(await driver.rotate(arn, handler, { maxAttempts: 5 }));
        if (records.length % 50 === 0) progress(`rotated ${records.length}/${SECRETS}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, SECRETS) }, worker));
    const elapsedMs = performance.now() - started;
    const requests = { forwarded: proxy.stats.forwarded, throttled: proxy.stats.throttled };
    progress('checking every secret');
    const check = await checkFleet(db, new SecretsManagerClient(aws.clientConfig), records);
    const minimumMs = (requests.forwarded / RATE) * 1000;
    const result = {
      secrets: SECRETS,
      concurrency: CONCURRENCY,
      ratePerSecond: RATE,
      sdkRetry: SDK_RETRY_CONFIG,
      completionSeconds: round(elapsedMs / 1000, 1),
      minimumSeconds: round(minimumMs / 1000, 1),
      ratioToMinimum: round(elapsedMs / minimumMs, 2),
      requests: requests.forwarded,
      requestsPerRotation: round(requests.forwarded / SECRETS, 1),
      achievedRatePerSecond: round(requests.forwarded / (elapsedMs / 1000), 1),
      throttledAndRetriedBySdk: requests.throttled,
      rotationsRetried: records.filter((r) => r.attempts > 1).length,
      rotationsFailed: records.filter((r) => !r.succeeded).length,
      stepMedianMs: Object.fromEntries(
        ['createSecret', 'setSecret', 'testSecret', 'finishSecret'].map((step) => [
          step,
          median(records.flatMap((r) => r.steps.filter((s) => s.step === step).map((s) => s.durationMs))),
        ]),
      ),
      ...check,
    };
    if (JSON_OUTPUT) console.log(JSON.stringify(result, null, 2));
    else printTable(result);
    if (result.rotationsFailed + result.lost + result.stuck + result.loginFailures > 0) process.exitCode = 1;
  } finally {
    await Promise.allSettled([proxy.stop(), aws.stop(), db.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Creates the users and their secrets, outside the measured part and not through the proxy. */
async function createFleet(db: LocalDatabase, secrets: SecretsManagerClient): Promise<string[]> {
  const users = Array.from({ length: SECRETS }, (_, i) => ({
    username: `fleet_${String(i).padStart(5, '0')}`,
    password: `Start-${crypto.randomUUID()}`,
  }));
  const admin = await connect(db, db.adminUser, db.adminPassword);
  try {
    for (const u of users) {
      await admin.query(
        `CREATE ROLE ${escapeIdentifier(u.username)} LOGIN PASSWORD ${escapeLiteral(u.password)}`,
      );
    }
  } finally {
    await admin.end();
  }
  const arns: string[] = [];
  for (let i = 0; i < users.length; i += 25) {
    const batch = users.slice(i, i + 25).map(async (u) => {
      const out = await secrets.send(
        new CreateSecretCommand({
          Name: `fleet/${u.username}`,
          SecretString: JSON.stringify({
            engine: 'postgres',
            host: db.host,
            port: db.port,
            username: u.username,
            password: u.password,
            dbname: db.database,
          }),
        }),
      );
      return out.ARN ?? '';
    });
    arns.push(...(await Promise.all(batch)));
  }
  return arns;
}

/** Lost: AWSCURRENT is not the rotation's version. Stuck: an AWSPENDING left. Login: the current password works. */
async function checkFleet(db: LocalDatabase, secrets: SecretsManagerClient, records: RotationRecord[]) {
  let lost = 0;
  let stuck = 0;
  let loginFailures = 0;
  const queue = [...records];
  const worker = async () => {
    for (let r = queue.shift(); r; r = queue.shift()) {
      const stages = (await secrets.send(new DescribeSecretCommand({ SecretId: r.secretArn })))
        .VersionIdsToStages;
      const current = await secrets.send(
        new GetSecretValueCommand({ SecretId: r.secretArn, VersionStage: 'AWSCURRENT' }),
      );
      if (current.VersionId !== r.token) lost++;
      if (Object.values(stages ?? {}).some((labels) => labels.includes('AWSPENDING'))) stuck++;
      const value = JSON.parse(current.SecretString ?? '{}') as { username: string; password: string };
      try {
        const client = await connect(db, value.username, value.password);
        await client.end();
      } catch {
        loginFailures++;
      }
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
  return { lost, stuck, loginFailures };
}

async function connect(db: LocalDatabase, user: string, password: string): Promise<Client> {
  const client = new Client({
    host: db.host,
    port: db.port,
    user,
    password,
    database: db.database,
    ssl: db.caPem ? { ca: db.caPem } : false,
  });
  await client.connect();
  return client;
}

function printTable(r: Record<string, unknown>) {
  const rows: Array<[string, string]> = [
    ['secrets rotated', `${r.secrets} (${r.concurrency} at a time)`],
    ['endpoint throttled at', `${r.ratePerSecond} requests/s`],
    ['completion time', `${r.completionSeconds} s`],
    ['minimum the rate allows', `${r.minimumSeconds} s  (${r.requests} requests / ${r.ratePerSecond}/s)`],
    ['ratio to the minimum', `${r.ratioToMinimum}`],
    ['requests per rotation', `${r.requestsPerRotation}`],
    ['achieved request rate', `${r.achievedRatePerSecond} /s`],
    ['throttled, retried by the SDK', `${r.throttledAndRetriedBySdk}`],
    ['rotations retried (whole)', `${r.rotationsRetried}`],
    ['rotations failed', `${r.rotationsFailed}`],
    ['lost (AWSCURRENT not moved)', `${r.lost}`],
    ['stuck (AWSPENDING left)', `${r.stuck}`],
    ['current password fails to log in', `${r.loginFailures}`],
    [
      'step medians (create/set/test/finish)',
      Object.values(r.stepMedianMs as Record<string, number>)
        .map((ms) => `${ms} ms`)
        .join(' / '),
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
}

function progress(message: string) {
  if (!JSON_OUTPUT) process.stderr.write(`${message}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
