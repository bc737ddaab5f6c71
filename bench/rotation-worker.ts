/**
 * The process side of `bench:rotation` (bench/rotation.ts bundles this file with the deployed esbuild options
 * and runs it with the deployed NODE_OPTIONS, one fresh process per case). It builds the database rotation
 * handler the way `functions/database/handler.ts` does, with the local rotation driver's Secrets Manager
 * client in place of the plain one, rotates N times after a warm-up, verifies every rotation with logins of
 * its own, and writes the figures to the file `BENCH_OUTPUT` names. Input: the JSON file `BENCH_INPUT` names.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createConnection } from 'mysql2/promise';
import { Client } from 'pg';
import { createDatabaseHandler } from '../functions/database/create-handler';
import { type ROTATION_STEPS, RotationDriver } from '../local/driver';

/** A database the worker talks to. */
export interface WorkerDatabase {
  readonly engine: 'postgres' | 'mariadb';
  readonly host: string;
  readonly port: number;
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly database: string;
  readonly caPath: string;
}

/** What bench/rotation.ts asks of a worker. */
export type WorkerInput =
  | {
      readonly mode: 'rotate';
      readonly label: string;
      readonly strategy: 'single-user' | 'alternating-users';
      /** Whether the secret says `"ssl": true` explicitly (TLS is on by default either way). */
      readonly sslInSecret: boolean;
      readonly db: WorkerDatabase;
      readonly aws: {
        endpoint: string;
        region: string;
        credentials: { accessKeyId: string; secretAccessKey: string };
      };
      readonly rotations: number;
      readonly warmup: number;
      readonly user: string;
    }
  | { readonly mode: 'baseline'; readonly dbs: readonly WorkerDatabase[]; readonly runs: number };

type Step = (typeof ROTATION_STEPS)[number];

/** One measured rotation. */
export interface RotationSample {
  readonly totalMs: number;
  readonly stepMs: Record<Step, number>;
  readonly requests: Record<string, number>;
  readonly connections: Record<Step, number>;
}

/** What a `rotate` worker reports. */
export interface RotateOutput {
  readonly label: string;
  readonly firstRotationMs: number;
  readonly samples: RotationSample[];
  readonly verified: number;
}

/** What a `baseline` worker reports: bare TLS connect + `SELECT 1` + close, per engine. */
export interface BaselineOutput {
  readonly connectMs: Record<string, number[]>;
}

const input = JSON.parse(readFileSync(required('BENCH_INPUT'), 'utf8')) as WorkerInput;

main().then(
  (output) => {
    writeFileSync(required('BENCH_OUTPUT'), JSON.stringify(output));
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);

async function main(): Promise<RotateOutput | BaselineOutput> {
  return input.mode === 'baseline' ? baseline(input.dbs, input.runs) : rotate(input);
}

async function baseline(dbs: readonly WorkerDatabase[], runs: number): Promise<BaselineOutput> {
  const connectMs: Record<string, number[]> = {};
  for (const db of dbs) {
    const ca = readFileSync(db.caPath, 'utf8');
    const times: number[] = [];
    // The first connect loads the driver; it is not a baseline of a connection.
    await login(db, ca, db.adminUser, db.adminPassword);
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      if (!(await login(db, ca, db.adminUser, db.adminPassword)))
        throw new Error(`baseline login to ${db.engine} failed`);
      times.push(performance.now() - started);
    }
    connectMs[db.engine] = times;
  }
  return { connectMs };
}

async function rotate(job: Extract<WorkerInput, { mode: 'rotate' }>): Promise<RotateOutput> {
  const { db } = job;
  const ca = readFileSync(db.caPath, 'utf8');
  const initialPassword = `Initial-${process.pid}-${Date.now()}`;
  await createAppUser(db, ca, job.user, initialPassword);

  const setup = new SecretsManagerClient(job.aws);
  const family = db.engine === 'postgres' ? 'postgres' : 'mysql';
  const base = {
    engine: family,
    host: db.host,
    port: db.port,
    dbname: db.database,
    ...(job.sslInSecret ? { ssl: true } : {}),
  };
  let masterarn: string | undefined;
  if (job.strategy === 'alternating-users') {
    const master = await setup.send(
      new CreateSecretCommand({
        Name: `bench/${job.label}/master`,
        SecretString: JSON.stringify({ ...base, username: db.adminUser, password: db.adminPassword }),
      }),
    );
    masterarn = master.ARN;
  }
  const created = await setup.send(
    new CreateSecretCommand({
      Name: `bench/${job.label}`,
      SecretString: JSON.stringify({
        ...base,
        username: job.user,
        password: initialPassword,
        ...(masterarn ? { masterarn } : {}),
      }),
    }),
  );
  const arn = created.ARN ?? '';

  // What the function asks of Secrets Manager, by step and operation.
  let step: Step | undefined;
  let requests: Record<string, number> = {};
  let connections = emptySteps();
  const driver = new RotationDriver(job.aws);
  driver.client.middlewareStack.add(
    (next, context) => (args) => {
      if (step) {
        const key = `${step} ${String(context.commandName).replace(/Command$/, '')}`;
        requests[key] = (requests[key] ?? 0) + 1;
      }
      return next(args);
    },
    { step: 'initialize', name: 'benchRequestCounter' },
  );
  // Every TCP connection the process opens to the database while a step runs (pg and mysql2 both end in
  // Socket#connect; measurement only, the function's code is untouched).
  const connect = Socket.prototype.connect;
  Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
    const during = step;
    if (during) {
      this.once('connect', () => {
        if (this.remotePort === db.port) connections[during]++;
      });
    }
    return (connect as (...a: unknown[]) => Socket).apply(this, args);
  } as typeof connect;

  const handler = createDatabaseHandler({
    secretsManager: driver.client,
    env: {
      ...process.env,
      ROTATION_KIND: 'database',
      ROTATION_STRATEGY: job.strategy,
      DB_CA_BUNDLE_PATH: db.caPath,
    },
  });

  let stepMs = emptySteps();
  const fn = async (event: unknown) => {
    step = (event as { Step: Step }).Step;
    const started = performance.now();
    try {
      return await handler(event);
    } finally {
      stepMs[step] = performance.now() - started;
      step = undefined;
    }
  };

  const samples: RotationSample[] = [];
  let firstRotationMs = 0;
  let verified = 0;
  let previous = { username: job.user, password: initialPassword };
  for (let i = 0; i < job.warmup + job.rotations; i++) {
    requests = {};
    connections = emptySteps();
    stepMs = emptySteps();
    const started = performance.now();
    const record = await driver.rotate(arn, fn, { maxAttempts: 1 });
    const totalMs = performance.now() - started;
    if (!record.succeeded) {
      const failed = record.steps.find((s) => !s.ok);
      throw new Error(`${job.label}: rotation ${i + 1} failed at ${failed?.step}: ${failed?.errorName}`);
    }
    if (i === 0) firstRotationMs = totalMs;
    // Verification, outside the timing: the new credentials log in; the old ones as the strategy promises.
    const value = await setup.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSCURRENT' }));
    const current = JSON.parse(value.SecretString ?? '{}') as { username: string; password: string };
    if (current.password === previous.password) throw new Error(`${job.label}: the password did not change`);
    if (!(await login(db, ca, current.username, current.password))) {
      throw new Error(`${job.label}: rotation ${i + 1}: the new credentials do not log in`);
    }
    const oldWorks = await login(db, ca, previous.username, previous.password);
    if (job.strategy === 'single-user' && oldWorks) {
      throw new Error(`${job.label}: rotation ${i + 1}: the old password still logs in`);
    }
    if (job.strategy === 'alternating-users' && !oldWorks) {
      throw new Error(`${job.label}: rotation ${i + 1}: the previous user no longer logs in`);
    }
    if (job.strategy === 'alternating-users' && current.username === previous.username) {
      throw new Error(`${job.label}: rotation ${i + 1}: the user did not alternate`);
    }
    verified++;
    previous = current;
    if (i >= job.warmup) samples.push({ totalMs, stepMs, requests, connections });
  }
  return { label: job.label, firstRotationMs, samples, verified };
}

function emptySteps(): Record<Step, number> {
  return { createSecret: 0, setSecret: 0, testSecret: 0, finishSecret: 0 };
}

/** Whether `username`/`password` log in over verified TLS and run a query (a bare client, not the function's). */
async function login(db: WorkerDatabase, ca: string, username: string, password: string): Promise<boolean> {
  if (db.engine === 'postgres') {
    const client = new Client({
      host: db.host,
      port: db.port,
      user: username,
      password,
      database: db.database,
      ssl: { ca, rejectUnauthorized: true },
    });
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      if ((error as { code?: string }).code === '28P01') return false;
      throw error;
    }
    try {
      await client.query('SELECT 1');
      return true;
    } finally {
      await client.end();
    }
  }
  let connection: Awaited<ReturnType<typeof createConnection>>;
  try {
    connection = await createConnection({
      host: db.host,
      port: db.port,
      user: username,
      password,
      database: db.database,
      ssl: { ca, rejectUnauthorized: true },
    });
  } catch (error) {
    if ((error as { errno?: number }).errno === 1045) return false;
    throw error;
  }
  try {
    await connection.query('SELECT 1');
    return true;
  } finally {
    await connection.end();
  }
}

async function createAppUser(
  db: WorkerDatabase,
  ca: string,
  username: string,
  password: string,
): Promise<void> {
  if (db.engine === 'postgres') {
    const client = new Client({
      host: db.host,
      port: db.port,
      user: db.adminUser,
      password: db.adminPassword,
      database: db.database,
      ssl: { ca, rejectUnauthorized: true },
    });
    await client.connect();
    try {
      await client.query('CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, note text)');
      await client.query(
        `CREATE ROLE ${client.escapeIdentifier(username)} LOGIN PASSWORD ${client.escapeLiteral(password)}`,
      );
      await client.query(`GRANT SELECT, INSERT ON items TO ${client.escapeIdentifier(username)}`);
    } finally {
      await client.end();
    }
    return;
  }
  const connection = await createConnection({
    host: db.host,
    port: db.port,
    user: db.adminUser,
    password: db.adminPassword,
    database: db.database,
    ssl: { ca, rejectUnauthorized: true },
  });
  try {
    await connection.query('CREATE TABLE IF NOT EXISTS items (id INT AUTO_INCREMENT PRIMARY KEY, note TEXT)');
    await connection.query("CREATE USER ?@'%' IDENTIFIED BY ?", [username, password]);
    await connection.query(`GRANT SELECT, INSERT ON ${connection.escapeId(db.database)}.items TO ?@'%'`, [
      username,
    ]);
  } finally {
    await connection.end();
  }
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}
