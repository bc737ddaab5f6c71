import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { Client, escapeIdentifier } from 'pg';
import type { LocalDatabase } from '../../../local/databases/common';
import { startPostgres } from '../../../local/databases/postgres';
import { clearFinishedPendingForMoto } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';

/** The CLI's executable, as npm runs it. */
export const BIN = join(__dirname, '..', '..', '..', 'bin', 'secret-rotation');

/** moto, a PostgreSQL with TLS, and a directory for the CA file the rotation function trusts. */
export interface CliWorld {
  readonly aws: LocalAws;
  readonly db: LocalDatabase;
  readonly secrets: SecretsManagerClient;
  /** PEM of the database's CA, for `DB_CA_BUNDLE_PATH`. */
  readonly caPath: string;
  /** An empty home directory, so no shared AWS config of the machine leaks into the CLI. */
  readonly home: string;
  stop(): Promise<void>;
}

export async function startWorld(): Promise<CliWorld> {
  const [aws, db] = await Promise.all([startMoto(), startPostgres({ tls: true })]);
  const dir = mkdtempSync(join(tmpdir(), 'cli-it-'));
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, db.caPem ?? '');
  const home = join(dir, 'home');
  return {
    aws,
    db,
    secrets: new SecretsManagerClient(aws.clientConfig),
    caPath,
    home,
    stop: async () => {
      await Promise.allSettled([aws.stop(), db.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What one run of the CLI did. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the CLI as a child process (`node bin/secret-rotation ...`) with moto's throwaway credentials and
 * region, and nothing else of this process's AWS environment.
 */
export function runCli(
  world: Pick<CliWorld, 'home'>,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: world.home,
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          AWS_REGION: 'us-east-1',
          ...env,
        },
        timeout: 120_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
  });
}

/** Creates a login role with rights on an `orders` table. */
export async function createAppUser(db: LocalDatabase, username: string, password: string): Promise<void> {
  await asAdmin(db, async (c) => {
    await c.query('CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, item text)');
    await c.query(`CREATE ROLE ${escapeIdentifier(username)} LOGIN PASSWORD ${c.escapeLiteral(password)}`);
    await c.query(`GRANT SELECT, INSERT ON orders TO ${escapeIdentifier(username)}`);
  });
}

/** Whether the credentials log in. */
export async function canLogIn(db: LocalDatabase, username: string, password: string): Promise<boolean> {
  const client = new Client({
    host: db.host,
    port: db.port,
    user: username,
    password,
    database: db.database,
    ssl: { ca: db.caPem, rejectUnauthorized: true },
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function asAdmin(db: LocalDatabase, work: (c: Client) => Promise<void>): Promise<void> {
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
    await work(client);
  } finally {
    await client.end();
  }
}

/** A database secret in the AWS templates' shape. */
export function databaseSecret(
  db: LocalDatabase,
  username: string,
  password: string,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username,
    password,
    dbname: db.database,
    ...extra,
  });
}

/** Creates a secret; returns its ARN. */
export async function createSecret(
  world: CliWorld,
  name: string,
  secretString: string,
  tags: Record<string, string> = {},
): Promise<string> {
  const out = await world.secrets.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: secretString,
      ...(Object.keys(tags).length > 0
        ? { Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }
        : {}),
    }),
  );
  return out.ARN as string;
}

/**
 * Gives a secret a rotation function and schedule in moto, as `aws secretsmanager rotate-secret` would:
 * moto records them but cannot run the function and leaves AWSPENDING on a copy of the current value
 * (local/MOTO-DIFFERENCES.md), which is removed here so the secret is not left "rotating". moto also refuses
 * RotateSecret after a finished rotation (AWSPENDING left on AWSCURRENT), which AWS accepts: see below.
 */
export async function configureRotation(world: CliWorld, name: string, days: number): Promise<void> {
  const token = '00000000-0000-4000-8000-0000000000aa';
  // moto-only: moto refuses RotateSecret while AWSPENDING sits on AWSCURRENT (a finished rotation, which AWS
  // accepts; local/MOTO-DIFFERENCES.md), so remove that label first, as RotationDriver.testConfiguration does.
  await clearFinishedPendingForMoto(world.secrets, name);
  await world.secrets
    .send(
      new RotateSecretCommand({
        SecretId: name,
        ClientRequestToken: token,
        RotationLambdaARN: `arn:aws:lambda:us-east-1:123456789012:function:${name.replace(/\W/g, '-')}-rotation`,
        RotationRules: { AutomaticallyAfterDays: days },
        RotateImmediately: false,
      }),
    )
    .catch(() => undefined);
  const stages =
    (await world.secrets.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages ?? {};
  for (const [versionId, labels] of Object.entries(stages)) {
    if (labels.includes('AWSPENDING') && !labels.includes('AWSCURRENT')) {
      await world.secrets.send(
        new UpdateSecretVersionStageCommand({
          SecretId: name,
          VersionStage: 'AWSPENDING',
          RemoveFromVersionId: versionId,
        }),
      );
    }
  }
}

/** The version ids holding each label. */
export async function labels(world: CliWorld, name: string): Promise<Record<string, string | undefined>> {
  const stages =
    (await world.secrets.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages ?? {};
  const out: Record<string, string | undefined> = {};
  for (const [versionId, list] of Object.entries(stages)) for (const label of list) out[label] = versionId;
  return out;
}
