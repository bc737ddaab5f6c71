import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROTATION_BUNDLING } from '../../../infra/constructs/rotation-function';
import {
  discoverFunctionEntries,
  esbuildOptionsOf,
  PackageBuildError,
} from '../../../scripts/build-packages';

describe('the functions the constructs package pre-bundles', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'functions-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function write(file: string, text: string): void {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), text);
  }

  it('finds every handler.ts and <x>-handler.ts that exports handler, without a list to keep', () => {
    // GIVEN entries in each spelling, and modules that only look like entries
    write('database/handler.ts', 'export const handler = async () => undefined;\n');
    write('database/create-handler.ts', 'export function createDatabaseHandler() {}\n');
    write('sweep/cleanup-handler.ts', 'export async function handler() {}\n');
    write('webhook/handler.ts', 'const h = async () => 1;\nexport { h as other, h as handler };\n');
    write('notes/README.md', 'export const handler\n');
    write('notes/helper.ts', 'export const handler = 1;\n');

    // WHEN the build discovers them
    const entries = discoverFunctionEntries(dir);

    // THEN the three entries, each with its asset directory
    expect(entries.map((e) => e.assetPath)).toEqual([
      'database/handler',
      'sweep/cleanup-handler',
      'webhook/handler',
    ]);
    expect(entries[0]?.entry).toBe(join(dir, 'database', 'handler.ts'));
  });

  it("finds the repository's functions", () => {
    const assetPaths = discoverFunctionEntries().map((e) => e.assetPath);
    expect(assetPaths).toEqual(
      expect.arrayContaining(['api-key/handler', 'database/handler', 'jwt/handler']),
    );
    expect(assetPaths.filter((p) => p.endsWith('create-handler'))).toEqual([]);
  });
});

describe('the esbuild options of ROTATION_BUNDLING', () => {
  it('are those NodejsFunction derives from it: CommonJS for node, minified, with a source map', () => {
    expect(esbuildOptionsOf(ROTATION_BUNDLING)).toEqual({
      bundle: true,
      platform: 'node',
      format: 'cjs',
      logLevel: 'warning',
      minify: true,
      sourcemap: true,
      sourcesContent: false,
      target: 'node24',
      external: ['pg-native'],
    });
  });

  it('translate the other BundlingOptions NodejsFunction passes to esbuild', () => {
    expect(
      esbuildOptionsOf({
        sourceMap: true,
        sourceMapMode: 'inline',
        sourcesContent: false,
        keepNames: true,
        define: { 'process.env.X': '"1"' },
        loader: { '.pem': 'text' },
        banner: '/* b */',
        footer: '/* f */',
        mainFields: ['module', 'main'],
        charset: 'utf8',
      }),
    ).toMatchObject({
      sourcemap: 'inline',
      sourcesContent: false,
      keepNames: true,
      define: { 'process.env.X': '"1"' },
      loader: { '.pem': 'text' },
      banner: { js: '/* b */' },
      footer: { js: '/* f */' },
      mainFields: ['module', 'main'],
      charset: 'utf8',
    });
  });

  it('fail the build, naming the option, for an option they cannot reproduce', () => {
    const build = () => esbuildOptionsOf({ ...ROTATION_BUNDLING, nodeModules: ['pg'] });
    expect(build).toThrow(PackageBuildError);
    expect(build).toThrow(/ROTATION_BUNDLING\.nodeModules has no esbuild equivalent/);
  });
});
