/**
 * Builds the three installable packages from the repository's sources (`npm run build`, or one of them with
 * `npm run build -- client|cdk|cli`):
 *
 * - `client/` → `dist/esm` and `dist/cjs` (tsc twice, each with its `.d.ts` and a `package.json` marking the
 *   module format);
 * - `infra/` → `lib/index.js` (the constructs, bundled: they import a few modules of `functions/`, which are no
 *   package of their own), `lib/types/**.d.ts`, and `lib/assets/<function>/<handler>/index.js`: every Lambda
 *   function pre-bundled with `ROTATION_BUNDLING`, so that a user's synth needs neither esbuild nor Docker;
 * - `cli/` → `dist/secret-rotation.cjs`, runnable with plain `node`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { type BuildOptions, build, type Metafile, type Plugin } from 'esbuild';
import { ROTATION_BUNDLING } from '../infra/constructs/rotation-function';
import { PACKAGES, type PackageName, REPOSITORY_ROOT } from './packages';

const FUNCTIONS_DIR = path.join(REPOSITORY_ROOT, 'functions');

/** A build step failed: names the package and what was wrong. */
export class PackageBuildError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PackageBuildError';
  }
}

/** One Lambda function to pre-bundle: its entry and where its asset goes, relative to `functions/`. */
export interface FunctionEntry {
  /** Absolute path of the entry file, e.g. `<repo>/functions/database/handler.ts`. */
  readonly entry: string;
  /** The asset's directory relative to the package's `lib/assets`, e.g. `database/handler`. */
  readonly assetPath: string;
}

/** `export const handler`, `export async function handler`, `export { ... handler ... }`. */
const EXPORTS_HANDLER =
  /export\s+(?:const|let|var|(?:async\s+)?function\*?)\s+handler\b|export\s*\{[^}]*\bhandler\b[^}]*\}/;

/**
 * Every Lambda entry of `functions/`: `functions/<name>/handler.ts` and `functions/<name>/<x>-handler.ts`
 * that export `handler` (a `create-handler.ts` exporting only a factory is a module, not an entry).
 */
export function discoverFunctionEntries(functionsDir = FUNCTIONS_DIR): FunctionEntry[] {
  const entries: FunctionEntry[] = [];
  for (const dir of readdirSync(functionsDir, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const file of readdirSync(path.join(functionsDir, dir.name)).sort()) {
      if (!/^(?:[a-z0-9-]+-)?handler\.ts$/.test(file)) continue;
      const entry = path.join(functionsDir, dir.name, file);
      if (!EXPORTS_HANDLER.test(readFileSync(entry, 'utf8'))) continue;
      entries.push({ entry, assetPath: `${dir.name}/${file.replace(/\.ts$/, '')}` });
    }
  }
  return entries.sort((a, b) => a.assetPath.localeCompare(b.assetPath));
}

/**
 * esbuild's options for `ROTATION_BUNDLING`, the way `NodejsFunction` turns the same `BundlingOptions` into
 * esbuild arguments (CommonJS, platform node, `index.js`). An option this does not know fails the build, so
 * that the pre-bundled assets can never silently differ from what `NodejsFunction` builds in the repository.
 */
export function esbuildOptionsOf(bundling: Readonly<Record<string, unknown>>): BuildOptions {
  const options: BuildOptions = { bundle: true, platform: 'node', format: 'cjs', logLevel: 'warning' };
  for (const [key, value] of Object.entries(bundling)) {
    switch (key) {
      case 'minify':
        options.minify = value === true;
        break;
      case 'sourceMap':
        if (value === true && options.sourcemap === undefined) options.sourcemap = true;
        break;
      case 'sourceMapMode':
        options.sourcemap = value === 'default' ? true : (value as BuildOptions['sourcemap']);
        break;
      case 'sourcesContent':
        options.sourcesContent = value !== false;
        break;
      case 'target':
        options.target = value as string;
        break;
      case 'externalModules':
        options.external = [...(value as readonly string[])];
        break;
      case 'loader':
        options.loader = {
          ...(value as Record<string, BuildOptions['loader'] & string>),
        } as BuildOptions['loader'];
        break;
      case 'define':
        options.define = { ...(value as Record<string, string>) };
        break;
      case 'keepNames':
        options.keepNames = value === true;
        break;
      case 'banner':
        options.banner = { js: value as string };
        break;
      case 'footer':
        options.footer = { js: value as string };
        break;
      case 'mainFields':
        options.mainFields = [...(value as readonly string[])];
        break;
      case 'inject':
        options.inject = [...(value as readonly string[])];
        break;
      case 'charset':
        options.charset = value as BuildOptions['charset'];
        break;
      case 'logLevel':
        options.logLevel = value as BuildOptions['logLevel'];
        break;
      default:
        throw new PackageBuildError(
          `ROTATION_BUNDLING.${key} has no esbuild equivalent in scripts/build-packages.ts: add it there, so that ` +
            'the pre-bundled functions are built exactly as NodejsFunction builds them',
        );
    }
  }
  return options;
}

/** Pre-bundles every function into `<outDir>/<assetPath>/index.js` (and its source map). */
export async function bundleFunctions(outDir: string, entries = discoverFunctionEntries()): Promise<void> {
  const options = esbuildOptionsOf(ROTATION_BUNDLING);
  for (const { entry, assetPath } of entries) {
    await build({ ...options, entryPoints: [entry], outfile: path.join(outDir, assetPath, 'index.js') });
  }
}

function run(command: string, args: readonly string[], cwd = REPOSITORY_ROOT): void {
  execFileSync(command, args, { cwd, stdio: 'inherit' });
}

const tsc = path.join(REPOSITORY_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** The bare module names a bundle still requires at run time (its externals). */
function externalImports(metafile: Metafile): Set<string> {
  const names = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) {
      if (imported.external) names.add(imported.path);
    }
  }
  return names;
}

/** Fails when a bundle requires a module its package does not declare (or Node.js does not provide). */
function checkExternals(packageName: string, metafile: Metafile, allowed: readonly string[]): void {
  const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  const undeclared = [...externalImports(metafile)].filter(
    (name) => !builtins.has(name) && !allowed.some((a) => name === a || name.startsWith(`${a}/`)),
  );
  if (undeclared.length > 0) {
    throw new PackageBuildError(
      `${packageName}: the bundle requires ${undeclared.join(', ')}, which its package.json does not declare`,
    );
  }
}

function declaredDependencies(packageDir: string): string[] {
  const pkg = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
  };
  return [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})];
}

/** `client/`: ESM and CJS, each with its declarations and a format marker. */
export function buildClient(): void {
  const dir = PACKAGES.client.dir;
  rmSync(path.join(dir, 'dist'), { recursive: true, force: true });
  run(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.esm.json')]);
  run(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.cjs.json')]);
  writeFileSync(path.join(dir, 'dist', 'esm', 'package.json'), '{ "type": "module" }\n');
  writeFileSync(path.join(dir, 'dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
}

/** The relative modules a declaration file imports (`from './x'`, `import('./x')`). */
function relativeImportsOf(declaration: string): string[] {
  const found: string[] = [];
  for (const match of declaration.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    found.push(match[1] as string);
  }
  return found;
}

/**
 * Copies the declarations reachable from `entry` (relative to `fromDir`) into `toDir`, keeping their layout:
 * the constructs' types use a few of `functions/` (the HTTP provider's configuration), and only those.
 */
function copyReachableDeclarations(fromDir: string, entry: string, toDir: string): void {
  const pending = [entry];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(path.join(fromDir, file), 'utf8');
    mkdirSync(path.dirname(path.join(toDir, file)), { recursive: true });
    writeFileSync(path.join(toDir, file), text);
    for (const specifier of relativeImportsOf(text)) {
      const base = path.join(path.dirname(file), specifier.replace(/\.js$/, ''));
      const candidates = [`${base}.d.ts`, path.join(base, 'index.d.ts')];
      const found = candidates.find((c) => existsSync(path.join(fromDir, c)));
      if (!found) throw new PackageBuildError(`cdk: ${file} imports ${specifier}, which has no declaration`);
      pending.push(found);
    }
  }
}

/** `infra/`: the constructs bundled into `lib/index.js`, their declarations, and every function pre-bundled. */
export async function buildCdk(): Promise<void> {
  const dir = PACKAGES.cdk.dir;
  const lib = path.join(dir, 'lib');
  rmSync(lib, { recursive: true, force: true });
  const result = await build({
    entryPoints: [path.join(dir, 'constructs', 'index.ts')],
    outfile: path.join(lib, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    keepNames: true,
    external: ['aws-cdk-lib', 'constructs'],
    metafile: true,
    logLevel: 'warning',
  });
  checkExternals(PACKAGES.cdk.name, result.metafile, declaredDependencies(dir));
  const declarations = path.join(REPOSITORY_ROOT, '.local', 'cdk-declarations');
  rmSync(declarations, { recursive: true, force: true });
  run(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.types.json'), '--outDir', declarations]);
  copyReachableDeclarations(
    declarations,
    path.join('infra', 'constructs', 'index.d.ts'),
    path.join(lib, 'types'),
  );
  rmSync(declarations, { recursive: true, force: true });
  await bundleFunctions(path.join(lib, 'assets'));
}

/** What `rotate --local-function` says when run from the installed package. */
export const LOCAL_FUNCTION_UNAVAILABLE =
  '--local-function runs the rotation functions from their TypeScript sources: it works in a checkout of the ' +
  "repository (npm run cli -- rotate ...), not from the installed package. Without it, rotate starts the secret's " +
  'own Lambda through Secrets Manager.';

/**
 * Stands in for the rotation functions' sources in the CLI's bundle: `rotate --local-function` runs the
 * functions from the repository's TypeScript (with their database drivers), which the package does not ship.
 */
const LOCAL_FUNCTIONS_IN_PACKAGE: Plugin = {
  name: 'local-functions-in-package',
  setup(esbuild) {
    // Every module local-functions.ts loads lazily (the handlers' factories, the SDK clients only they use).
    esbuild.onResolve({ filter: /.*/ }, (args) =>
      args.kind === 'dynamic-import' && args.importer.endsWith(`${path.sep}local-functions.ts`)
        ? { path: 'local-function-unavailable', namespace: 'package' }
        : undefined,
    );
    esbuild.onLoad({ filter: /.*/, namespace: 'package' }, () => ({
      resolveDir: PACKAGES.cli.dir,
      loader: 'ts',
      contents: [
        "import { CliError } from './errors';",
        `throw new CliError(${JSON.stringify(LOCAL_FUNCTION_UNAVAILABLE)});`,
      ].join('\n'),
    }));
  },
};

/** `cli/`: one CommonJS file run by plain `node`; the AWS SDK clients stay dependencies of the package. */
export async function buildCli(): Promise<void> {
  const dir = PACKAGES.cli.dir;
  rmSync(path.join(dir, 'dist'), { recursive: true, force: true });
  const result = await build({
    entryPoints: [path.join(dir, 'bin.ts')],
    outfile: path.join(dir, 'dist', 'secret-rotation.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
    external: ['@aws-sdk/*'],
    plugins: [LOCAL_FUNCTIONS_IN_PACKAGE],
    metafile: true,
    logLevel: 'warning',
  });
  checkExternals(PACKAGES.cli.name, result.metafile, declaredDependencies(dir));
}

const BUILDERS: Record<PackageName, () => void | Promise<void>> = {
  client: buildClient,
  cdk: buildCdk,
  cli: buildCli,
};

async function buildAll(names: readonly string[]): Promise<void> {
  const unknown = names.filter((n) => !(n in BUILDERS));
  if (unknown.length > 0) {
    throw new PackageBuildError(
      `unknown package ${unknown.join(', ')}: one of ${Object.keys(BUILDERS).join(', ')}`,
    );
  }
  const selected = (names.length > 0 ? names : Object.keys(BUILDERS)) as PackageName[];
  for (const name of selected) {
    const started = Date.now();
    await BUILDERS[name]();
    console.log(
      `built ${PACKAGES[name].name} (${path.relative(REPOSITORY_ROOT, PACKAGES[name].dir)}/) in ${Date.now() - started} ms`,
    );
  }
}

if (require.main === module) {
  buildAll(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`build failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
