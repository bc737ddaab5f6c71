/**
 * bench:rotation — how long a database rotation takes, what it asks of Secrets Manager and the database, and
 * what each function's cold start costs, beside baselines measured in the same run and the AWS rotation
 * templates' figures from issue 17.
 *
 * The local mode: moto's server for Secrets Manager, a real PostgreSQL and a real MariaDB, both over TLS with
 * a throwaway CA (given to the function as DB_CA_BUNDLE_PATH, on top of the trust set it ships). The database
 * function is bundled with the deployed esbuild options (ROTATION_BUNDLING) and run with the deployed
 * NODE_OPTIONS, in a fresh process per case, through the local rotation driver (local/driver.ts), which plays
 * the service's part. Each case: a warm-up, then N rotations, each verified (the new credentials log in; the
 * old ones as the strategy promises). Cold starts: the bundle of every entry (`functions/<name>/handler.ts`,
 * `functions/<name>/<x>-handler.ts`) as deployed, in a fresh process per run (load the bundle and build the handler), with and without `--enable-source-maps`.
 *
 * Usage: npm run bench:rotation -- [--rotations 20] [--warmup 2] [--cold-starts 15] [--baseline-runs 20]
 *   [--only postgres] [--cold-starts-only] [--json]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import {
  FUNCTIONS_DIR,
  ROTATION_BUNDLING,
  ROTATION_NODE_OPTIONS,
} from '../infra/constructs/rotation-function';
import type { LocalDatabase } from '../local/databases/common';
import { mariaDbAvailable, startMariaDb } from '../local/databases/mariadb';
import { startPostgres } from '../local/databases/postgres';
import { type LocalAws, startMoto } from '../local/moto';
import { coldStartEnv, functionEntries } from './cold-start-env';
import type { BaselineOutput, RotateOutput, WorkerDatabase, WorkerInput } from './rotation-worker';

const STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

/** The AWS templates' medians from issue 17's measurement (not this run): python templates, same servers. */
const TEMPLATE_MS = {
  postgresSingle: 256,
  postgresSingleSsl: 240,
  postgresAlternating: 289,
  mariadbSingle: 196,
  mariadbAlternating: 232,
  coldStart: 234,
} as const;

interface Case {
  readonly id: string;
  readonly label: string;
  readonly engine: 'postgres' | 'mariadb';
  readonly strategy: 'single-user' | 'alternating-users';
  readonly sslInSecret: boolean;
  readonly templateMs: number;
}

const CASES: readonly Case[] = [
  {
    id: 'postgres-single-user',
    label: 'PostgreSQL single-user',
    engine: 'postgres',
    strategy: 'single-user',
    sslInSecret: false,
    templateMs: TEMPLATE_MS.postgresSingle,
  },
  {
    id: 'postgres-single-user-ssl',
    label: 'PostgreSQL single-user, "ssl": true',
    engine: 'postgres',
    strategy: 'single-user',
    sslInSecret: true,
    templateMs: TEMPLATE_MS.postgresSingleSsl,
  },
  {
    id: 'postgres-alternating-users',
    label: 'PostgreSQL alternating users',
    engine: 'postgres',
    strategy: 'alternating-users',
    sslInSecret: false,
    templateMs: TEMPLATE_MS.postgresAlternating,
  },
  {
    id: 'mariadb-single-user',
    label: 'MariaDB single-user',
    engine: 'mariadb',
    strategy: 'single-user',
    sslInSecret: false,
    templateMs: TEMPLATE_MS.mariadbSingle,
  },
  {
    id: 'mariadb-alternating-users',
    label: 'MariaDB alternating users',
    engine: 'mariadb',
    strategy: 'alternating-users',
    sslInSecret: false,
    templateMs: TEMPLATE_MS.mariadbAlternating,
  },
];

/** Cold-start goals of issue 17; the database one holds for each of its entries (generic and per engine). */
const COLD_START_GOAL_MS = { database: 80, other: 100 } as const;

const MINIMAL_HANDLER = 'export const handler = async (event: unknown) => ({ ok: event !== undefined });\n';

const options = parseArgs(process.argv.slice(2));

interface Stats {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

interface CaseResult {
  readonly id: string;
  readonly label: string;
  readonly rotations: number;
  readonly verified: number;
  readonly firstRotationMs: number;
  readonly totalMs: Stats;
  readonly stepMs: Record<(typeof STEPS)[number], Stats>;
  /** Per rotation, by step and operation (the medians over the rotations). */
  readonly awsRequests: Record<string, number>;
  readonly awsRequestsTotal: number;
  readonly dbConnections: Record<string, number>;
  readonly dbConnectionsTotal: number;
  readonly templateMs: number;
  readonly ratioToTemplate: number;
  readonly goalMs: number;
  readonly meetsGoal: boolean;
  readonly ratioToBareConnect: number;
}

interface ColdStartResult {
  readonly name: string;
  readonly bundleBytes: number;
  readonly mapBytes: number;
  readonly asDeployedMs: Stats;
  readonly withSourceMapsMs: Stats;
  readonly withoutSourceMapsMs: Stats;
  /** CPU time (user + system) of the same work: far less sensitive than wall time to a busy machine. */
  readonly asDeployedCpuMs: Stats;
  readonly withSourceMapsCpuMs: Stats;
  readonly withoutSourceMapsCpuMs: Stats;
  readonly goalMs?: number;
  /** The goal met by the median wall time. */
  readonly meetsGoal?: boolean;
  /** The goal met by the median CPU time: what the wall time would be on an idle core. */
  readonly meetsGoalByCpu?: boolean;
  readonly ratioToMinimal: number;
  readonly ratioToTemplate?: number;
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'bench-rotation-'));
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    progress('bundling');
    const worker = bundle(join(__dirname, 'rotation-worker.ts'), join(dir, 'worker.js'));
    const functions = functionBundles(dir);

    progress('cold starts');
    const coldStarts = coldStartsOf(functions);
    const minimal = coldStarts.find((c) => c.name === 'minimal handler')?.asDeployedMs.median ?? 0;

    progress('starting moto, PostgreSQL and MariaDB');
    const aws: LocalAws = await startMoto();
    started.push(aws);
    const wanted = options.coldStartsOnly
      ? []
      : CASES.filter((c) => !options.only || c.id.includes(options.only));
    if (wanted.length === 0 && !options.coldStartsOnly)
      throw new Error(`--only ${options.only} matches no case: ${CASES.map((c) => c.id).join(', ')}`);
    const engines = new Set(wanted.map((c) => c.engine));
    if (engines.has('mariadb') && !mariaDbAvailable()) throw new Error('MariaDB is not installed here');
    const servers: Partial<Record<Case['engine'], WorkerDatabase>> = {};
    for (const engine of engines) {
      const db: LocalDatabase =
        engine === 'postgres' ? await startPostgres({ tls: true }) : await startMariaDb({ tls: true });
      started.push(db);
      const caPath = join(dir, `${engine}-ca.pem`);
      writeFileSync(caPath, db.caPem ?? '');
      servers[engine] = {
        engine,
        host: db.host,
        port: db.port,
        adminUser: db.adminUser,
        adminPassword: db.adminPassword,
        database: db.database,
        caPath,
      };
    }

    progress('baselines');
    const baselines = (await runWorker(worker, dir, {
      mode: 'baseline',
      dbs: Object.values(servers),
      runs: options.baselineRuns,
    })) as BaselineOutput;
    const bareConnect: Record<string, Stats> = {};
    for (const [engine, times] of Object.entries(baselines.connectMs)) bareConnect[engine] = stats(times);

    const results: CaseResult[] = [];
    for (const [index, c] of wanted.entries()) {
      progress(`${c.label}: ${options.warmup} warm-up + ${options.rotations} rotations`);
      const db = servers[c.engine];
      if (!db) throw new Error(`no ${c.engine} server`);
      const output = (await runWorker(worker, dir, {
        mode: 'rotate',
        label: c.id,
        strategy: c.strategy,
        sslInSecret: c.sslInSecret,
        db,
        aws: aws.clientConfig,
        rotations: options.rotations,
        warmup: options.warmup,
        user: `bench_${index}_${c.strategy === 'single-user' ? 'single' : 'alt'}`,
      })) as RotateOutput;
      results.push(summarise(c, output, bareConnect[c.engine]?.median ?? 0));
    }

    const loadAfter = loadavg();
    const report = {
      node: process.version,
      nodeOptions: ROTATION_NODE_OPTIONS,
      rotations: options.rotations,
      warmup: options.warmup,
      coldStartRuns: options.coldStarts,
      machine: { cpus: (await import('node:os')).cpus().length, loadBefore, loadAfter },
      templateFigures:
        'AWS template figures are from issue 17 (one earlier run on this machine), not this run',
      baselines: {
        minimalHandlerColdStartMs: minimal,
        bareTlsConnectMs: bareConnect,
      },
      cases: results,
      coldStarts,
    };
    if (options.json) console.log(JSON.stringify(report, null, 2));
    else printReport(report);
  } finally {
    for (const s of started.reverse()) await s.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

function summarise(c: Case, output: RotateOutput, bareConnectMs: number): CaseResult {
  const samples = output.samples;
  const total = stats(samples.map((s) => s.totalMs));
  const stepMs = Object.fromEntries(
    STEPS.map((step) => [step, stats(samples.map((s) => s.stepMs[step]))]),
  ) as Record<(typeof STEPS)[number], Stats>;
  const awsRequests = medianCounts(samples.map((s) => s.requests));
  const dbConnections = medianCounts(samples.map((s) => s.connections));
  const goalMs = c.templateMs / 2;
  return {
    id: c.id,
    label: c.label,
    rotations: samples.length,
    verified: output.verified,
    firstRotationMs: round(output.firstRotationMs),
    totalMs: total,
    stepMs,
    awsRequests,
    awsRequestsTotal: sum(awsRequests),
    dbConnections,
    dbConnectionsTotal: sum(dbConnections),
    templateMs: c.templateMs,
    ratioToTemplate: ratio(total.median, c.templateMs),
    goalMs,
    meetsGoal: total.median <= goalMs,
    ratioToBareConnect: ratio(total.median, bareConnectMs),
  };
}

/** Per key, the median count over the rotations (they are all the same when nothing is retried). */
function medianCounts(records: ReadonlyArray<Record<string, number>>): Record<string, number> {
  const keys = [...new Set(records.flatMap((r) => Object.keys(r)))].sort(
    (a, b) => stepIndex(a) - stepIndex(b) || a.localeCompare(b),
  );
  const out: Record<string, number> = {};
  for (const key of keys) {
    const value = median(records.map((r) => r[key] ?? 0));
    if (value > 0) out[key] = value;
  }
  return out;
}

function stepIndex(key: string): number {
  return STEPS.findIndex((s) => key.startsWith(s));
}

interface FunctionBundle {
  readonly name: string;
  readonly file: string;
  readonly env: Record<string, string>;
}

function functionBundles(dir: string): FunctionBundle[] {
  const minimalEntry = join(dir, 'minimal.ts');
  writeFileSync(minimalEntry, MINIMAL_HANDLER);
  const out: FunctionBundle[] = [
    { name: 'minimal handler', file: bundle(minimalEntry, join(dir, 'minimal.js')), env: {} },
  ];
  for (const { name, entry } of functionEntries(FUNCTIONS_DIR)) {
    const file = bundle(entry, join(dir, `${name.replace(/\W+/g, '-')}.js`));
    out.push({ name, file, env: { ...coldStartEnv(name) } });
  }
  return out;
}

/** esbuild with the options the construct gives NodejsFunction (ROTATION_BUNDLING, CommonJS). */
function bundle(entry: string, outfile: string): string {
  buildSync({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    minify: ROTATION_BUNDLING.minify,
    sourcemap: ROTATION_BUNDLING.sourceMap,
    sourcesContent: ROTATION_BUNDLING.sourcesContent,
    target: ROTATION_BUNDLING.target,
    external: [...ROTATION_BUNDLING.externalModules],
    logLevel: 'error',
  });
  return outfile;
}

function coldStartsOf(bundles: readonly FunctionBundle[]): ColdStartResult[] {
  const variants = {
    asDeployed: ROTATION_NODE_OPTIONS,
    withSourceMaps: '--enable-source-maps',
    withoutSourceMaps: '',
  } as const;
  type Samples = Record<keyof typeof variants, Array<{ ms: number; cpuMs: number }>>;
  const samples = new Map<string, Samples>();
  for (const b of bundles) samples.set(b.name, { asDeployed: [], withSourceMaps: [], withoutSourceMaps: [] });
  // Round-robin: a slow moment of the machine falls on every function and variant alike.
  for (let run = 0; run < options.coldStarts; run++) {
    for (const b of bundles) {
      for (const [variant, nodeOptions] of Object.entries(variants) as Array<
        [keyof typeof variants, string]
      >) {
        samples.get(b.name)?.[variant].push(coldStart(b, nodeOptions));
      }
    }
  }
  const wall = (list: Samples[keyof Samples]) => stats(list.map((x) => x.ms));
  const cpu = (list: Samples[keyof Samples]) => stats(list.map((x) => x.cpuMs));
  const minimal = wall(samples.get('minimal handler')?.asDeployed ?? []).median;
  return bundles.map((b) => {
    const s = samples.get(b.name);
    if (!s) throw new Error(`no samples for ${b.name}`);
    const asDeployedMs = wall(s.asDeployed);
    const isMinimal = b.name === 'minimal handler';
    const goalMs = isMinimal
      ? undefined
      : b.name === 'database' || b.name.startsWith('database/')
        ? COLD_START_GOAL_MS.database
        : COLD_START_GOAL_MS.other;
    return {
      name: b.name,
      bundleBytes: statSync(b.file).size,
      mapBytes: isFile(`${b.file}.map`) ? statSync(`${b.file}.map`).size : 0,
      asDeployedMs,
      withSourceMapsMs: wall(s.withSourceMaps),
      withoutSourceMapsMs: wall(s.withoutSourceMaps),
      asDeployedCpuMs: cpu(s.asDeployed),
      withSourceMapsCpuMs: cpu(s.withSourceMaps),
      withoutSourceMapsCpuMs: cpu(s.withoutSourceMaps),
      ...(goalMs !== undefined
        ? {
            goalMs,
            meetsGoal: asDeployedMs.median <= goalMs,
            meetsGoalByCpu: cpu(s.asDeployed).median <= goalMs,
          }
        : {}),
      ratioToMinimal: ratio(asDeployedMs.median, minimal),
      ...(b.name === 'database'
        ? { ratioToTemplate: ratio(asDeployedMs.median, TEMPLATE_MS.coldStart) }
        : {}),
    };
  });
}

/** Loads the bundle and builds the handler in a fresh process; the wall and CPU time that took, in ms. */
function coldStart(b: FunctionBundle, nodeOptions: string): { ms: number; cpuMs: number } {
  const probe = [
    "const { performance } = require('node:perf_hooks');",
    'const c0 = process.cpuUsage();',
    'const t0 = performance.now();',
    `const mod = require(${JSON.stringify(b.file)});`,
    "if (typeof mod.handler !== 'function') throw new Error('no handler export');",
    'const ms = performance.now() - t0;',
    'const c = process.cpuUsage(c0);',
    'process.stdout.write(JSON.stringify({ ms, cpuMs: (c.user + c.system) / 1000 }));',
  ].join('\n');
  const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
  const output = execFileSync(process.execPath, ['-e', probe], {
    env: { ...lambdaLikeEnv(nodeOptions), ...b.env },
    encoding: 'utf8',
  });
  return JSON.parse(output) as { ms: number; cpuMs: number };
}

/** The environment of a function process: region, credentials, the deployed NODE_OPTIONS and service name. */
function lambdaLikeEnv(nodeOptions: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_SERVICE_NAME: 'secret-rotation',
    NODE_OPTIONS: nodeOptions,
  };
}

/** Runs the bundled worker in a fresh process with the deployed NODE_OPTIONS; its logs go where Lambda's go. */
function runWorker(worker: string, dir: string, input: WorkerInput): Promise<unknown> {
  const id = Math.random().toString(36).slice(2);
  const inputPath = join(dir, `input-${id}.json`);
  const outputPath = join(dir, `output-${id}.json`);
  writeFileSync(inputPath, JSON.stringify(input));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker], {
      env: { ...lambdaLikeEnv(ROTATION_NODE_OPTIONS), BENCH_INPUT: inputPath, BENCH_OUTPUT: outputPath },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk) => (stderr = (stderr + chunk).slice(-8000)));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`worker (${input.mode}) exited with ${code}:\n${stderr}`));
      try {
        resolve(JSON.parse(readFileSync(outputPath, 'utf8')));
      } catch (error) {
        reject(error);
      }
    });
  });
}

type Report = {
  node: string;
  nodeOptions: string;
  rotations: number;
  warmup: number;
  coldStartRuns: number;
  machine: { cpus: number; loadBefore: number[]; loadAfter: number[] };
  templateFigures: string;
  baselines: { minimalHandlerColdStartMs: number; bareTlsConnectMs: Record<string, Stats> };
  cases: CaseResult[];
  coldStarts: ColdStartResult[];
};

function printReport(r: Report): void {
  const ms = (s: Stats) => `${s.median} (${s.min}–${s.max})`;
  console.log(
    `\nRotations: median (min–max) ms of ${r.rotations} verified rotations per case after ${r.warmup} warm-up; ` +
      `NODE_OPTIONS='${r.nodeOptions}', Node.js ${r.node}, ${r.machine.cpus} CPUs, ` +
      `load ${r.machine.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ` +
      `${r.machine.loadAfter.map((l) => l.toFixed(2)).join(' ')} after.\n`,
  );
  table(
    [
      'case',
      'verified',
      'rotation',
      'createSecret',
      'setSecret',
      'testSecret',
      'finishSecret',
      'template*',
      'ratio',
      'goal',
    ],
    r.cases.map((c) => [
      c.label,
      `${c.verified}/${c.rotations + r.warmup}`,
      ms(c.totalMs),
      ...STEPS.map((s) => ms(c.stepMs[s])),
      `${c.templateMs}`,
      c.ratioToTemplate.toFixed(2),
      `≤ ${c.goalMs} ${c.meetsGoal ? 'met' : `missed by ${round(c.totalMs.median - c.goalMs)}`}`,
    ]),
  );
  console.log(
    '\nPer rotation: AWS requests by operation, database connections by step (--json: both by step)\n',
  );
  const operations = [...new Set(r.cases.flatMap((c) => Object.keys(byOperation(c.awsRequests))))].sort();
  table(
    ['case', ...operations, 'AWS', ...STEPS.map((s) => `DB ${s}`), 'DB', 'first rotation', 'vs bare connect'],
    r.cases.map((c) => {
      const ops = byOperation(c.awsRequests);
      return [
        c.label,
        ...operations.map((o) => String(ops[o] ?? 0)),
        String(c.awsRequestsTotal),
        ...STEPS.map((s) => String(c.dbConnections[s] ?? 0)),
        String(c.dbConnectionsTotal),
        `${c.firstRotationMs} ms`,
        `${c.ratioToBareConnect.toFixed(1)}×`,
      ];
    }),
  );
  console.log(
    `\nCold starts: median (min–max) ms of ${r.coldStartRuns} fresh processes (load the bundle, build the handler)\n`,
  );
  table(
    [
      'function',
      'bundle',
      'map',
      'as deployed',
      'CPU as deployed',
      'CPU with source maps',
      'CPU without',
      'vs minimal',
      'goal',
    ],
    r.coldStarts.map((c) => [
      c.name,
      `${(c.bundleBytes / 1024).toFixed(0)} KiB`,
      `${(c.mapBytes / 1024).toFixed(0)} KiB`,
      ms(c.asDeployedMs),
      ms(c.asDeployedCpuMs),
      ms(c.withSourceMapsCpuMs),
      ms(c.withoutSourceMapsCpuMs),
      c.ratioToMinimal.toFixed(2),
      c.goalMs === undefined
        ? '-'
        : `≤ ${c.goalMs}: wall ${c.meetsGoal ? 'met' : `missed by ${round(c.asDeployedMs.median - c.goalMs)}`}, ` +
          `CPU ${c.meetsGoalByCpu ? 'met' : `missed by ${round(c.asDeployedCpuMs.median - (c.goalMs ?? 0))}`}`,
    ]),
  );
  const bare = Object.entries(r.baselines.bareTlsConnectMs)
    .map(([engine, s]) => `${engine === 'postgres' ? 'pg' : 'mysql2'} ${ms(s)} ms`)
    .join('; ');
  console.log(
    `\nBaselines of this run: minimal handler cold start ${r.baselines.minimalHandlerColdStartMs} ms; ` +
      `bare TLS connect + SELECT 1 + close (CA of the server only): ${bare}.` +
      `\n* ${r.templateFigures}: cold start ${TEMPLATE_MS.coldStart} ms (template import).`,
  );
}

/** `{ 'setSecret GetSecretValue': 3, ... }` summed over the steps: `{ GetSecretValue: 7, ... }`. */
function byOperation(byStep: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, count] of Object.entries(byStep)) {
    const operation = key.split(' ')[1] ?? key;
    out[operation] = (out[operation] ?? 0) + count;
  }
  return out;
}

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log([line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n'));
}

function stats(values: readonly number[]): Stats {
  if (values.length === 0) return { median: 0, min: 0, max: 0 };
  return { median: round(median(values)), min: round(Math.min(...values)), max: round(Math.max(...values)) };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function sum(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}

function ratio(value: number, reference: number): number {
  return reference > 0 ? Math.round((value / reference) * 100) / 100 : 0;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function progress(message: string): void {
  if (!options.json) process.stderr.write(`bench:rotation: ${message}\n`);
}

function parseArgs(args: string[]) {
  const value = (name: string, fallback: number) => {
    const at = args.indexOf(name);
    if (at < 0) return fallback;
    const n = Number(args[at + 1]);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`${name} must be a positive integer, got ${args[at + 1]}`);
      process.exit(2);
    }
    return n;
  };
  const onlyAt = args.indexOf('--only');
  return {
    json: args.includes('--json'),
    rotations: value('--rotations', 20),
    warmup: value('--warmup', 2),
    coldStarts: value('--cold-starts', 15),
    baselineRuns: value('--baseline-runs', 20),
    only: onlyAt >= 0 ? args[onlyAt + 1] : undefined,
    coldStartsOnly: args.includes('--cold-starts-only'),
  };
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
