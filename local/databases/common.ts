import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

/** A database server started for local mode, tests or benchmarks. */
export interface LocalDatabase {
  readonly engine: 'postgres' | 'mariadb';
  readonly host: string;
  readonly port: number;
  /** A superuser able to create roles and grant privileges. */
  readonly adminUser: string;
  readonly adminPassword: string;
  /** A database that exists on the server. */
  readonly database: string;
  /** PEM of the CA that signed the server certificate, when the server speaks TLS. */
  readonly caPem?: string;
  /** Stops the server and removes its data directory; leaves no process behind. */
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Looks for `relative` under every node_modules from this file up to the root. */
export function findInNodeModules(relative: string): string | undefined {
  let dir = __dirname;
  for (;;) {
    const candidate = join(dir, 'node_modules', relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Waits until `probe` resolves true, or throws after `timeoutMs` with the process's output. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  child: ChildProcess,
  output: () => string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${what} exited with code ${child.exitCode} during startup:\n${output().slice(-2000)}`);
    }
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms:\n${output().slice(-2000)}`);
}

const tracked = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Makes sure a server started here dies with this process, even when it exits without calling `stop()`
 * (an uncaught error, Ctrl-C, a closed pipe): no process is ever left behind.
 */
export function trackChild(child: ChildProcess): void {
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of tracked) c.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1)));
  }
}

/** Stops a child process: SIGTERM, then SIGKILL after a grace period. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** The names a test server's certificate lists by default. */
export const DEFAULT_TLS_NAMES = ['IP:127.0.0.1', 'DNS:localhost'] as const;

/**
 * Creates a throwaway CA and a server certificate with the openssl CLI, for `names` (subjectAltName
 * entries such as `IP:127.0.0.1` or `DNS:db.example`; by default 127.0.0.1 and localhost).
 */
export function makeCertificates(
  dir: string,
  names: readonly string[] = DEFAULT_TLS_NAMES,
): {
  caPem: string;
  certFile: string;
  keyFile: string;
  caFile: string;
} {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Local Test CA'].concat([
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
    ]),
  );
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  ]);
  const ext = join(dir, 'server.ext');
  for (const name of names) {
    if (!/^(IP|DNS):[A-Za-z0-9.:*-]+$/.test(name)) throw new Error(`Not a subjectAltName entry: ${name}`);
  }
  writeFileSync(ext, `subjectAltName=${names.join(',')}\n`);
  run(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
    ].concat(['-extfile', 'server.ext', '-out', 'server.pem']),
  );
  const caPem = execFileSync('cat', [join(dir, 'ca.pem')]).toString();
  return {
    caPem,
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    caFile: join(dir, 'ca.pem'),
  };
}
