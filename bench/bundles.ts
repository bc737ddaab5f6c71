/**
 * bench:bundles — each function's deployment bundle and its cold-start cost, beside a minimal handler
 * measured in the same run.
 *
 * Every Lambda entry (`functions/<name>/handler.ts`, `functions/<name>/<x>-handler.ts`) is bundled with esbuild exactly as the CDK construct bundles it
 * (ROTATION_BUNDLING: minified CommonJS, source map, the AWS SDK inside). The cold-start cost is what a new
 * Lambda execution environment pays in our code before the first invocation: loading the bundle and building
 * the handler (clients, configuration validated at cold start), measured in a fresh Node.js process each time
 * (`--runs` times, median and p90, the functions taking turns), without the process's own start-up. Network
 * is not touched: building a handler makes no request.
 *
 * Usage: npm run bench:bundles -- [--runs 25] [--json]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildSync } from 'esbuild';
import { FUNCTIONS_DIR, ROTATION_BUNDLING } from '../infra/constructs/rotation-function';
import { coldStartEnv, functionEntries } from './cold-start-env';

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 25;
const JSON_OUTPUT = args.includes('--json');
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error('--runs must be a positive integer');
  process.exit(2);
}

/** A handler that does nothing, bundled the same way: the floor every function is compared with. */
const MINIMAL_HANDLER = 'export const handler = async (event: unknown) => ({ ok: event !== undefined });\n';

interface Row {
  readonly name: string;
  readonly bundleBytes: number;
  readonly gzipBytes: number;
  readonly coldStartMedianMs: number;
  readonly coldStartP90Ms: number;
  readonly heapMb: number;
  readonly overMinimalMs?: number;
}

function main() {
  const out = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  try {
    const minimalEntry = join(out, 'minimal.ts');
    writeFileSync(minimalEntry, MINIMAL_HANDLER);
    const entries: Array<[string, string]> = [['minimal handler (baseline)', minimalEntry]];
    for (const { name, entry } of functionEntries(FUNCTIONS_DIR)) entries.push([name, entry]);
    const bundles = entries.map(([name, entry]) => {
      const bundle = join(out, `${name.replace(/\W+/g, '-')}.js`);
      buildSync({
        entryPoints: [entry],
        outfile: bundle,
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
      return { name, bundle, samples: [] as Array<{ ms: number; heapMb: number }> };
    });
    // Round-robin: a slow moment of the machine falls on every function alike, not on one of them.
    for (let run = 0; run < RUNS; run++) {
      for (const b of bundles)
        b.samples.push(
          coldStart(b.bundle, b.name === 'minimal handler (baseline)' ? {} : coldStartEnv(b.name)),
        );
    }
    const rows: Row[] = bundles.map(({ name, bundle, samples }) => {
      const code = readFileSync(bundle);
      const times = samples.map((s) => s.ms).sort((a, b) => a - b);
      return {
        name,
        bundleBytes: code.length,
        gzipBytes: gzipSync(code).length,
        coldStartMedianMs: round(percentile(times, 0.5)),
        coldStartP90Ms: round(percentile(times, 0.9)),
        heapMb: round(Math.max(...samples.map((s) => s.heapMb))),
      };
    });
    const floor = rows[0]?.coldStartMedianMs ?? 0;
    const withDelta = rows.map((r, i) =>
      i === 0 ? r : { ...r, overMinimalMs: round(r.coldStartMedianMs - floor) },
    );
    if (JSON_OUTPUT)
      console.log(JSON.stringify({ runs: RUNS, node: process.version, functions: withDelta }, null, 2));
    else printTable(withDelta);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Loads the bundle and builds the handler in a fresh process; returns the time that took. */
function coldStart(bundle: string, env: Record<string, string>): { ms: number; heapMb: number } {
  const probe = [
    'const t0 = performance.now();',
    `const mod = require(${JSON.stringify(bundle)});`,
    "if (typeof mod.handler !== 'function') throw new Error('no handler export');",
    'const ms = performance.now() - t0;',
    'process.stdout.write(JSON.stringify({ ms, heapMb: process.memoryUsage().heapUsed / 2 ** 20 }));',
  ].join('\n');
  const output = execFileSync(process.execPath, ['-e', probe], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      ...env,
    },
    encoding: 'utf8',
  });
  return JSON.parse(output) as { ms: number; heapMb: number };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function printTable(rows: Row[]) {
  const header = ['function', 'bundle', 'gzip', 'cold start p50', 'p90', 'over minimal', 'heap'];
  const body = rows.map((r) => [
    r.name,
    `${(r.bundleBytes / 1024).toFixed(0)} KiB`,
    `${(r.gzipBytes / 1024).toFixed(0)} KiB`,
    `${r.coldStartMedianMs} ms`,
    `${r.coldStartP90Ms} ms`,
    r.overMinimalMs === undefined ? '-' : `+${r.overMinimalMs} ms`,
    `${r.heapMb} MiB`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log([line(header), ...body.map(line)].join('\n'));
  console.log(
    `\n${RUNS} fresh Node.js ${process.version} processes per function; cold start = loading the bundle and building the handler.`,
  );
}

main();
