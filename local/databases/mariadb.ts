import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { freePort, type LocalDatabase, makeCertificates, stopProcess, trackChild, waitFor } from './common';

/** Options of a local MariaDB. */
export interface MariaDbOptions {
  /** Serve TLS with a throwaway CA (returned as `caPem`). @default false */
  readonly tls?: boolean;
  /** subjectAltName entries of the server certificate. @default 127.0.0.1 and localhost */
  readonly tlsNames?: readonly string[];
}

const SERVER_CANDIDATES = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld', '/usr/bin/mariadbd'];
const INSTALL_CANDIDATES = [
  '/usr/bin/mariadb-install-db',
  '/usr/bin/mysql_install_db',
  '/usr/scripts/mariadb-install-db',
];

/** Whether MariaDB's server binaries are installed. */
export function mariaDbAvailable(): boolean {
  return SERVER_CANDIDATES.some(existsSync) && INSTALL_CANDIDATES.some(existsSync);
}

/**
 * Starts a real MariaDB server from the system's binaries (Debian's `mariadb-server`) in a temporary data
 * directory on a free loopback port.
 */
export async function startMariaDb(options: MariaDbOptions = {}): Promise<LocalDatabase> {
  const server = SERVER_CANDIDATES.find(existsSync);
  const install = INSTALL_CANDIDATES.find(existsSync);
  if (!server || !install) {
    throw new Error('MariaDB is not installed: run `apt-get install mariadb-server` (Debian/Ubuntu).');
  }
  const root = mkdtempSync(join(tmpdir(), 'rotation-mariadb-'));
  const dataDir = join(root, 'data');
  const asRoot = process.getuid?.() === 0;
  const userArgs = asRoot ? ['--user=root'] : [];
  execFileSync(
    install,
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...userArgs,
    ],
    { stdio: 'pipe' },
  );
  const port = await freePort();
  const tlsArgs: string[] = [];
  let caPem: string | undefined;
  if (options.tls) {
    const certs = makeCertificates(root, options.tlsNames);
    caPem = certs.caPem;
    tlsArgs.push(`--ssl-ca=${certs.caFile}`, `--ssl-cert=${certs.certFile}`, `--ssl-key=${certs.keyFile}`);
  }
  let output = '';
  const child: ChildProcess = spawn(
    server,
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${join(root, 'mysqld.sock')}`,
      `--pid-file=${join(root, 'mysqld.pid')}`,
      '--skip-log-bin',
      '--innodb-buffer-pool-size=32M',
      ...tlsArgs,
      ...userArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  trackChild(child);
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const stop = async () => {
    await stopProcess(child);
    rmSync(root, { recursive: true, force: true });
  };
  const adminPassword = randomBytes(12).toString('hex');
  try {
    // A fresh data directory has root@localhost with no password, reachable over the socket only.
    await waitFor(
      'MariaDB',
      () => canConnect({ socketPath: join(root, 'mysqld.sock') }),
      child,
      () => output,
    );
    const setup = await createConnection({ socketPath: join(root, 'mysqld.sock'), user: 'root' });
    await setup.query("CREATE USER 'admin'@'%' IDENTIFIED BY ?", [adminPassword]);
    await setup.query("GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION");
    await setup.query('CREATE DATABASE appdb');
    await setup.end();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    engine: 'mariadb',
    host: '127.0.0.1',
    port,
    adminUser: 'admin',
    adminPassword,
    database: 'appdb',
    ...(caPem ? { caPem } : {}),
    stop,
  };
}

async function canConnect(options: { socketPath: string }): Promise<boolean> {
  try {
    const connection = await createConnection({ ...options, user: 'root' });
    await connection.end();
    return true;
  } catch {
    return false;
  }
}
