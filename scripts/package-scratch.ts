/**
 * Scratch projects for the installable packages: pack the built packages as `npm publish` would, install the
 * tarballs into a throwaway project the way a user does (`npm install`, from the npm cache when it can), and
 * measure what an install added. Used by the package tests (test/integration/packages) and `bench:packages`.
 */
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { PACKAGES, type PackageName, REPOSITORY_ROOT } from './packages';

/** A command the scratch project ran failed: names it, with the end of its output. */
export class ScratchCommandError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ScratchCommandError';
  }
}

/** What a command printed. */
export interface CommandOutput {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string },
): Promise<CommandOutput> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 300_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        // Tools colour their output when the environment asks for it (FORCE_COLOR in CI); the callers
        // read text, so escape sequences are removed here.
        resolve({
          code,
          stdout: stripVTControlCharacters(stdout.toString()),
          stderr: stripVTControlCharacters(stderr.toString()),
        });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Runs a command and fails with its output when it exits non-zero. */
export async function mustRun(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<CommandOutput> {
  const out = await runCommand(command, args, options);
  if (out.code !== 0) {
    const tail = `${out.stdout}\n${out.stderr}`.trim().split('\n').slice(-30).join('\n');
    throw new ScratchCommandError(
      `${command} ${args.join(' ')} exited with ${out.code} in ${options.cwd}:\n${tail}`,
    );
  }
  return out;
}

/** The npm that runs this process (`npm_execpath` under `npm test`), else the one on PATH. */
function npm(): { command: string; prefix: string[] } {
  const execPath = process.env.npm_execpath;
  if (execPath?.endsWith('.js') || execPath?.endsWith('.cjs')) {
    return { command: process.execPath, prefix: [execPath] };
  }
  return { command: 'npm', prefix: [] };
}

/** Runs npm with the given arguments, failing on a non-zero exit. */
export function runNpm(args: readonly string[], cwd: string): Promise<CommandOutput> {
  const { command, prefix } = npm();
  // The scratch project must not inherit the workspace's npm settings (npm test sets npm_config_* for its
  // scripts, the workspace's prefix among them), except where and how to fetch: the cache, the registry, proxies.
  const keep =
    /^npm_config_(cache|registry|userconfig|globalconfig|proxy|https_proxy|noproxy|strict_ssl|cafile|ca|fetch_.*)$/i;
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => keep.test(key) || !/^npm_(config|package|lifecycle)_/i.test(key),
    ),
  );
  return mustRun(command, [...prefix, ...args], { cwd, env });
}

/** Fails with a clear message when a package has not been built (`npm run build`). */
export function assertBuilt(): void {
  const outputs: Record<PackageName, string> = {
    client: path.join(PACKAGES.client.dir, 'dist', 'cjs', 'index.js'),
    cdk: path.join(PACKAGES.cdk.dir, 'lib', 'index.js'),
    cli: path.join(PACKAGES.cli.dir, 'dist', 'secret-rotation.cjs'),
  };
  const missing = Object.entries(outputs).filter(([, file]) => !existsSync(file));
  if (missing.length > 0) {
    throw new ScratchCommandError(
      `packages not built (${missing.map(([name]) => name).join(', ')}): run 'npm run build' first`,
    );
  }
}

/** `npm pack` of each package (its built output as it is, no lifecycle scripts) into `dir`. */
export async function packPackages(dir: string): Promise<Record<PackageName, string>> {
  assertBuilt();
  mkdirSync(dir, { recursive: true });
  const out = await runNpm(
    [
      'pack',
      ...Object.values(PACKAGES).flatMap((p) => ['-w', path.relative(REPOSITORY_ROOT, p.dir)]),
      '--ignore-scripts',
      '--json',
      '--pack-destination',
      dir,
    ],
    REPOSITORY_ROOT,
  );
  const packed = JSON.parse(out.stdout) as Array<{ name: string; filename: string }>;
  const tarballs = {} as Record<PackageName, string>;
  for (const [key, { name }] of Object.entries(PACKAGES) as Array<[PackageName, { name: string }]>) {
    const entry = packed.find((p) => p.name === name);
    if (!entry) throw new ScratchCommandError(`npm pack did not pack ${name}`);
    tarballs[key] = path.join(dir, entry.filename);
  }
  return tarballs;
}

/** The version of a dependency the repository itself installed, so that scratch installs hit the npm cache. */
export function repositoryVersion(name: string): string {
  const pkg = JSON.parse(
    readFileSync(path.join(REPOSITORY_ROOT, 'node_modules', name, 'package.json'), 'utf8'),
  ) as { version: string };
  return pkg.version;
}

/** Creates a scratch project (`package.json` only) in `dir`. */
export function createProject(dir: string, extra: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify({ name: path.basename(dir), version: '1.0.0', private: true, ...extra }, null, 2)}\n`,
  );
}

/**
 * `npm install` of `specs` (names with versions, or tarball paths) into the project, from the npm cache when
 * it has them; install scripts are not run (nothing here needs one, and a user's CI often forbids them).
 */
export async function install(dir: string, specs: readonly string[], dev = false): Promise<void> {
  await runNpm(
    [
      'install',
      ...(dev ? ['--save-dev'] : []),
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--loglevel=error',
      ...specs,
    ],
    dir,
  );
}

/** What a project's `node_modules` holds. */
export interface InstalledFootprint {
  /** Bytes of every file (apparent size). */
  readonly bytes: number;
  /** Installed packages (each `package.json` directly in a `node_modules/<name>` or `<@scope>/<name>`). */
  readonly packages: number;
  /** Their names, for telling what an install added. */
  readonly names: ReadonlySet<string>;
}

function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) total += directoryBytes(full);
    else total += lstatSync(full).size;
  }
  return total;
}

function collectPackages(nodeModules: string, names: Set<string>, relative = ''): number {
  if (!existsSync(nodeModules)) return 0;
  let count = 0;
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(nodeModules, entry.name);
    if (entry.name.startsWith('@') && entry.isDirectory()) {
      for (const scoped of readdirSync(full, { withFileTypes: true })) {
        count += packageAt(path.join(full, scoped.name), `${relative}${entry.name}/${scoped.name}`, names);
      }
    } else if (entry.isDirectory()) {
      count += packageAt(full, `${relative}${entry.name}`, names);
    }
  }
  return count;
}

function packageAt(dir: string, name: string, names: Set<string>): number {
  if (!existsSync(path.join(dir, 'package.json'))) return 0;
  names.add(name);
  return 1 + collectPackages(path.join(dir, 'node_modules'), names, `${name}>`);
}

/** Measures `<dir>/node_modules`. */
export function footprint(dir: string): InstalledFootprint {
  const nodeModules = path.join(dir, 'node_modules');
  const names = new Set<string>();
  const packages = collectPackages(nodeModules, names);
  return { bytes: existsSync(nodeModules) ? directoryBytes(nodeModules) : 0, packages, names };
}

/** What one install added on top of what the project had. */
export interface Added {
  readonly bytes: number;
  readonly packages: number;
}

/** The difference between two footprints of the same project. */
export function added(before: InstalledFootprint, after: InstalledFootprint): Added {
  return { bytes: after.bytes - before.bytes, packages: after.packages - before.packages };
}

/** One package's figures: what it adds to a project that already has its driver or framework. */
export interface PackageFigures {
  readonly package: string;
  /** What the project already had before the package. */
  readonly baseline: string;
  /** What installing the package added. */
  readonly added: Added;
  /** The AWS SDK clients the package calls, installed alone on the same baseline: the floor. */
  readonly sdkFloor: Added;
  /** Those SDK clients' names. */
  readonly sdkClients: readonly string[];
}

function sdkClientsOf(tarballPackageJson: string): string[] {
  const pkg = JSON.parse(readFileSync(tarballPackageJson, 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  return Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@aws-sdk/client-'));
}

/**
 * Installs each package on its baseline (the client on `pg`, the constructs on `aws-cdk-lib` and
 * `constructs`, the CLI on nothing) in `workDir`, first its SDK clients alone (the floor), then the package.
 */
export async function measurePackages(
  workDir: string,
  tarballs: Record<PackageName, string>,
): Promise<PackageFigures[]> {
  const baselines: Record<PackageName, { label: string; specs: string[] }> = {
    client: { label: 'pg', specs: [`pg@${repositoryVersion('pg')}`] },
    cdk: {
      label: 'aws-cdk-lib, constructs',
      specs: [
        `aws-cdk-lib@${repositoryVersion('aws-cdk-lib')}`,
        `constructs@${repositoryVersion('constructs')}`,
      ],
    },
    cli: { label: 'nothing', specs: [] },
  };
  const figures: PackageFigures[] = [];
  for (const name of Object.keys(PACKAGES) as PackageName[]) {
    const dir = path.join(workDir, `figures-${name}`);
    createProject(dir);
    const baseline = baselines[name];
    if (baseline.specs.length > 0) await install(dir, baseline.specs);
    const before = footprint(dir);
    const sdkClients = sdkClientsOf(path.join(PACKAGES[name].dir, 'package.json'));
    const specs = sdkClients.map((c) => `${c}@${repositoryVersion(c)}`);
    if (specs.length > 0) await install(dir, specs);
    const floor = footprint(dir);
    await install(dir, [tarballs[name]]);
    const after = footprint(dir);
    figures.push({
      package: PACKAGES[name].name,
      baseline: baseline.label,
      added: added(before, after),
      sdkFloor: added(before, floor),
      sdkClients,
    });
  }
  return figures;
}

/** Bytes in MB with one decimal. */
export function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** The figures as a table. */
export function figuresTable(figures: readonly PackageFigures[]): string {
  const rows = [
    ['package', 'on top of', 'adds', 'packages', 'SDK clients alone', 'packages', 'over the SDK floor'],
    ...figures.map((f) => [
      f.package,
      f.baseline,
      megabytes(f.added.bytes),
      String(f.added.packages),
      f.sdkClients.length > 0 ? megabytes(f.sdkFloor.bytes) : '-',
      f.sdkClients.length > 0 ? String(f.sdkFloor.packages) : '-',
      megabytes(f.added.bytes - f.sdkFloor.bytes),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r, line) =>
      r
        .map((cell, i) => (i < 2 || line === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
        .join('  '),
    )
    .join('\n');
}
