import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { mapStack, withSourceMappedErrors } from '../../../functions/rotation/source-maps';

/** A source whose `fail` throws on line 4, bundled minified with a source map, as the functions are. */
const SOURCE = [
  'export function fail(): never {',
  "  const reason = 'boom';",
  '  // the throw is on line 4',
  '  throw new Error(reason, { cause: new TypeError("inner") });',
  '}',
  '',
].join('\n');

describe('stack traces of a bundled function without --enable-source-maps', () => {
  let dir: string;
  let bundle: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'source-maps-'));
    writeFileSync(join(dir, 'failing.ts'), SOURCE);
    bundle = join(dir, 'index.js');
    buildSync({
      entryPoints: [join(dir, 'failing.ts')],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      minify: true,
      sourcemap: true,
      logLevel: 'error',
    });
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function thrownBy(file: string): Error {
    const { fail } = require(file) as { fail: () => never };
    try {
      fail();
    } catch (error) {
      return error as Error;
    }
    throw new Error('fail() did not throw');
  }

  it('points the frames of the bundle at the source lines, using the map shipped beside it', () => {
    // prepare
    const error = thrownBy(bundle);
    expect(error.stack).toContain(`${bundle}:1:`);

    // act
    const mapped = mapStack(error.stack ?? '', bundle);

    // assess
    expect(mapped).toMatch(/failing\.ts:4:\d+/);
    expect(mapped).not.toContain(`${bundle}:`);
    expect(mapped.split('\n')[0]).toBe('Error: boom');
  });

  it('maps the stacks of the causes too, when the wrapped handler throws', async () => {
    // prepare
    const handler = withSourceMappedErrors(async () => {
      throw thrownBy(bundle);
    }, bundle);

    // act
    const error = (await handler().catch((e: unknown) => e)) as Error;

    // assess
    expect(error.stack).toMatch(/failing\.ts:4:\d+/);
    expect((error.cause as Error).stack).toMatch(/failing\.ts:4:\d+/);
  });

  it('leaves the stack as it is when no map was shipped', () => {
    const copy = join(dir, 'unmapped.js');
    writeFileSync(copy, readFileSync(bundle, 'utf8'));
    const stack = thrownBy(copy).stack ?? '';

    expect(mapStack(stack, copy)).toBe(stack);
  });

  it('leaves frames of other files alone', () => {
    const stack =
      'Error: x\n    at run (/var/task/other.js:1:10)\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)';

    expect(mapStack(stack, bundle)).toBe(stack);
  });

  it('returns the handler unchanged when Node maps stacks itself', () => {
    const handler = async () => 'ok';

    expect(withSourceMappedErrors(handler, bundle, true)).toBe(handler);
    expect(withSourceMappedErrors(handler, bundle, false)).not.toBe(handler);
  });

  it('keeps the value of a handler that succeeds', async () => {
    const handler = withSourceMappedErrors(async (n: number) => n + 1, bundle);

    await expect(handler(1)).resolves.toBe(2);
  });
});
