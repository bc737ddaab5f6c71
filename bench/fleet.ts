/**
 * bench:fleet — an emergency rotation of a fleet of secrets, through the same code as
 * `secret-rotation rotate --all --local-function database`, against a model of Secrets Manager's quotas.
 *
 * Every secret is a real PostgreSQL user's credentials (single-user strategy, TLS), rotated by the real
 * database rotation function through the rotation driver. Between the SDK and moto a fault proxy enforces
 * the quotas AWS documents, one token bucket per quota group (cli/commands/quotas.ts): PutSecretValue,
 * UpdateSecret and UpdateSecretVersionStage 50/s combined; RotateSecret and CancelRotateSecret 50/s;
 * TagResource and UntagResource 50/s; GetSecretValue 10,000/s; DescribeSecret 40,000/s; BatchGetSecretValue
 * and ListSecrets 100/s. Reads are not held at the write rate, as AWS does not hold them. A request above its
 * group's rate gets `ThrottlingException`, and the SDK retries it.
 *
 * Two cores cannot serve 50 writes a second of real rotations (each one is several TLS logins to PostgreSQL,
 * a SCRAM verifier and a dozen moto requests), so every quota is scaled by `--scale` (default 0.04: 2 writes
 * a second, what this two-core machine sustained while shared with other test suites, load average 15-20;
 * on an idle machine 0.2 holds). What the bench measures is a ratio, which the scale does not change: the completion time against
 * the minimum the write quota allows, which is the binding one (a rotation makes one RotateSecret but
 * several writes).
 *
 * Reports the completion time, the minimum for the writes the functions made and for the writes the
 * protocol needs (PutSecretValue in createSecret, one UpdateSecretVersionStage in finishSecret), the
 * requests throttled per quota, the achieved rate per operation, and the failures; then checks every
 * secret: AWSCURRENT is the rotation's version (else lost), no AWSPENDING is left on another version than
 * AWSCURRENT (else stuck), and the current password logs in.
 *
 * Usage: npm run bench:fleet -- [--secrets 1000] [--scale 0.04] [--concurrency 50] [--json]
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
import { FleetOutcome, type FleetSecretResult, rotateFleet } from '../cli/commands/fleet';
import {
  paceClient,
  QuotaPacer,
  SECRETS_MANAGER_QUOTAS,
  scaledQuotas,
  UNLISTED_OPERATION_RATE,
} from '../cli/commands/quotas';
import { listSecrets, pendingRotation } from '../cli/secrets';
import { createDatabaseHandler } from '../functions/database/create-handler';
import { SDK_RETRY_CONFIG } from '../functions/rotation/sdk-config';
import type { LocalDatabase } from '../local/databases/common';
import { startPostgres } from '../local/databases/postgres';
import { RotationDriver } from '../local/driver';
import { startFaultProxy } from '../local/fault-proxy';
import { startMoto } from '../local/moto';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const args = process.argv.slice(2);
const option = (name: string, fallback: number, valid: (n: number) => boolean, what: string) => {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!valid(value)) {
    console.error(`--${name} must be ${what}, got '${args[i + 1]}'`);
    process.exit(2);
  }
  return value;
};
const positiveInteger = (n: number) => Number.isInteger(n) && n >= 1;
const SECRETS = option('secrets', 1000, positiveInteger, 'a positive integer');
const SCALE = option('scale', 0.04, (n) => n > 0 && n <= 1, 'a fraction in (0, 1]');
const CONCURRENCY = option('concurrency', 50, positiveInteger, 'a positive integer');
const JSON_OUTPUT = args.includes('--json');
/** The writes a rotation needs: PutSecretValue (createSecret) and UpdateSecretVersionStage (finishSecret). */
const PROTOCOL_WRITES_PER_ROTATION = 2;
/** The writes this project's functions make: the two above (finishSecret leaves AWSPENDING on AWSCURRENT). */
const FUNCTION_WRITES_PER_ROTATION = 2;

async function main() {
  const quotas = scaledQuotas(SCALE);
  const aws = await startMoto();
  const db = await startPostgres({ tls: true });
  const dir = mkdtempSync(join(tmpdir(), 'bench-fleet-'));
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, db.caPem ?? '');
  const proxy = await startFaultProxy({
    target: aws.endpoint,
    quotas: Object.entries(quotas).map(([name, q]) => ({
      name,
      ratePerSecond: q.ratePerSecond,
      operations: q.operations,
      // Secrets Manager documents its rates, not its buckets' size. One second's worth (at least 4 requests) is a
      // small bucket by AWS's own documented model (EC2, which documents its API buckets, holds many seconds'
      // worth). The CLI's own bucket holds 2, so the rest only absorbs requests this loaded machine delivers
      // bunched together.
      burst: Math.max(4, Math.floor(q.ratePerSecond)),
    })),
  });
  try {
    progress(`creating ${SECRETS} database users and their secrets`);
    const plain = new SecretsManagerClient(aws.clientConfig);
    await createFleet(db, plain);
    const clock = {
      now: () => performance.now(),
      sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
    };
    const pacer = new QuotaPacer(quotas, clock, UNLISTED_OPERATION_RATE * SCALE);
    const driver = new RotationDriver({ ...aws.clientConfig, endpoint: proxy.endpoint, ...SDK_RETRY_CONFIG });
    paceClient(driver.client, pacer);
    const reader = new SecretsManagerClient({
      ...aws.clientConfig,
      endpoint: proxy.endpoint,
      ...SDK_RETRY_CONFIG,
    });
    paceClient(reader, pacer);
    const env = { ROTATION_STRATEGY: 'single-user', DB_CA_BUNDLE_PATH: caPath };
    // This moto holds the fleet only; listed outside the measured part and not through the proxy.
    const targets = await listSecrets(plain);
    const rotationsPerSecond = Math.min(
      quotas.rotate.ratePerSecond,
      quotas.write.ratePerSecond / FUNCTION_WRITES_PER_ROTATION,
    );
    let done = 0;
    const started = performance.now();
    const results = await rotateFleet(targets, {
      mode: {
        kind: 'local',
        driver,
        handler: async () => createDatabaseHandler({ secretsManager: driver.client, env }),
        attempts: 5,
        timeoutMs: 600_000,
      },
      secretsManager: reader,
      concurrency: CONCURRENCY,
      starts: new QuotaPacer(
        { start: { ratePerSecond: rotationsPerSecond, operations: ['start'] } },
        clock,
        UNLISTED_OPERATION_RATE,
        1,
      ),
      now: () => new Date(),
      sleep: clock.sleep,
      onProgress: (e) => {
        if (e.type === 'end' && ++done % 50 === 0) progress(`rotated ${done}/${targets.length}`);
      },
    });
    const elapsedMs = performance.now() - started;
    const seconds = elapsedMs / 1000;
    progress('checking every secret');
    const check = await checkFleet(db, plain, results);
    const byOperation = { ...proxy.stats.byOperation };
    const writes = SECRETS_MANAGER_QUOTAS.write.operations.reduce((n, op) => n + (byOperation[op] ?? 0), 0);
    const writeRate = quotas.write.ratePerSecond;
    const minimumForWritesMade = writes / writeRate;
    const minimumForProtocol = (results.length * PROTOCOL_WRITES_PER_ROTATION) / writeRate;
    const result = {
      secrets: results.length,
      concurrency: CONCURRENCY,
      quotaScale: SCALE,
      quotasModelled: Object.fromEntries(Object.entries(quotas).map(([name, q]) => [name, q.ratePerSecond])),
      sdkRetry: SDK_RETRY_CONFIG,
      completionSeconds: round(seconds, 1),
      writes,
      writesPerRotation: round(writes / results.length, 2),
      minimumSeconds: round(minimumForWritesMade, 1),
      ratioToMinimum: round(seconds / minimumForWritesMade, 2),
      protocolWritesPerRotation: PROTOCOL_WRITES_PER_ROTATION,
      protocolMinimumSeconds: round(minimumForProtocol, 1),
      ratioToProtocolMinimum: round(seconds / minimumForProtocol, 2),
      pacerWaitSecondsByQuota: Object.fromEntries(
        Object.entries(pacer.waitedMs).map(([name, ms]) => [name, round(ms / 1000, 1)]),
      ),
      throttled: proxy.stats.throttled,
      throttledByQuota: { ...proxy.stats.throttledByQuota },
      requests: proxy.stats.forwarded,
      ratePerSecondByOperation: Object.fromEntries(
        Object.entries(byOperation)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([op, n]) => [op, round(n / seconds, 1)]),
      ),
      requestsPerRotationByOperation: Object.fromEntries(
        Object.entries(byOperation)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([op, n]) => [op, round(n / results.length, 2)]),
      ),
      stepMedianMs: Object.fromEntries(
        ['createSecret', 'setSecret', 'testSecret', 'finishSecret'].map((step) => [
          step,
          median(results.map((r) => r.stepsMs?.[step]).filter((ms): ms is number => ms !== undefined)),
        ]),
      ),
      rotationsFailed: results.filter((r) => r.outcome !== FleetOutcome.ROTATED).length,
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
async function checkFleet(db: LocalDatabase, secrets: SecretsManagerClient, records: FleetSecretResult[]) {
  let lost = 0;
  let stuck = 0;
  let loginFailures = 0;
  const queue = [...records];
  const worker = async () => {
    for (let r = queue.shift(); r; r = queue.shift()) {
      const stages = (await secrets.send(new DescribeSecretCommand({ SecretId: r.arn }))).VersionIdsToStages;
      const current = await secrets.send(
        new GetSecretValueCommand({ SecretId: r.arn, VersionStage: 'AWSCURRENT' }),
      );
      if (current.VersionId !== r.versionId) lost++;
      // AWSPENDING on the AWSCURRENT version is a finished rotation; on another version, a stuck one.
      if (pendingRotation({ stages: stages ?? {} })) stuck++;
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
  const q = r.quotasModelled as Record<string, number>;
  const rows: Array<[string, string]> = [
    ['secrets rotated', `${r.secrets} (${r.concurrency} at a time)`],
    [
      'quotas modelled (scale)',
      `${r.quotaScale} of AWS's: writes ${q.write}/s, RotateSecret ${q.rotate}/s, GetSecretValue ${q.getValue}/s, DescribeSecret ${q.describe}/s`,
    ],
    ['completion time', `${r.completionSeconds} s`],
    ['writes made', `${r.writes} (${r.writesPerRotation} a rotation)`],
    ['minimum for the writes made', `${r.minimumSeconds} s  (${r.writes} / ${q.write}/s)`],
    ['ratio to that minimum', `${r.ratioToMinimum}`],
    [
      'minimum for the protocol',
      `${r.protocolMinimumSeconds} s  (${r.protocolWritesPerRotation} writes a rotation / ${q.write}/s)`,
    ],
    ['ratio to the protocol minimum', `${r.ratioToProtocolMinimum}`],
    [
      'throttled requests',
      `${r.throttled}${Object.keys(r.throttledByQuota as object).length ? ` ${JSON.stringify(r.throttledByQuota)}` : ''}`,
    ],
    [
      'step medians (create/set/test/finish)',
      Object.values(r.stepMedianMs as Record<string, number>)
        .map((ms) => `${ms} ms`)
        .join(' / '),
    ],
    ['time waited for quota (sum)', JSON.stringify(r.pacerWaitSecondsByQuota)],
    ['rotations failed', `${r.rotationsFailed}`],
    ['lost (AWSCURRENT not moved)', `${r.lost}`],
    ['stuck (AWSPENDING left on another version)', `${r.stuck}`],
    ['current password fails to log in', `${r.loginFailures}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
  const perRotation = r.requestsPerRotationByOperation as Record<string, number>;
  const rates = r.ratePerSecondByOperation as Record<string, number>;
  console.log('');
  console.log(`${'operation'.padEnd(26)}  ${'per rotation'.padStart(12)}  ${'achieved /s'.padStart(11)}`);
  for (const op of Object.keys(perRotation)) {
    console.log(
      `${op.padEnd(26)}  ${String(perRotation[op]).padStart(12)}  ${String(rates[op]).padStart(11)}`,
    );
  }
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
