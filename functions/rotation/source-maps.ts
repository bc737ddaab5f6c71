import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';

/** A stack frame's location: `path:line:column`, at the end of the frame or inside its parentheses. */
const FRAME = /^(\s*at (?:.*?\()?)(.+?):(\d+):(\d+)(\)?)$/;
/** How deep `cause` chains are followed. */
const MAX_CAUSE_DEPTH = 5;

const maps = new Map<string, SourceMap | null>();

/**
 * The source map of `file` (`<file>.map`, shipped beside the bundle), parsed on first use; `null` when there
 * is none or it cannot be read. Parsing a bundle's map costs tens of milliseconds, which is why functions run
 * without `--enable-source-maps` (Node would parse it at every cold start) and map a stack only when an error
 * leaves the handler.
 */
function sourceMapOf(file: string): SourceMap | null {
  let map = maps.get(file);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
    } catch {
      map = null;
    }
    maps.set(file, map);
  }
  return map;
}

/**
 * `stack` with every frame in `bundle` rewritten to its place in the sources (`functions/database/...ts:12:3`),
 * using the bundle's source map. Frames of other files, and every frame when there is no map, stay as they are.
 */
export function mapStack(stack: string, bundle: string): string {
  const map = sourceMapOf(bundle);
  if (!map) return stack;
  return stack
    .split('\n')
    .map((line) => {
      const frame = FRAME.exec(line);
      if (!frame || frame[2] !== bundle) return line;
      const [, before, , row, column, after] = frame;
      const entry = map.findEntry(Number(row) - 1, Number(column) - 1) as {
        originalSource?: string;
        originalLine?: number;
        originalColumn?: number;
      };
      if (entry.originalSource === undefined || entry.originalLine === undefined) return line;
      const source = entry.originalSource.replace(/^(?:\.\.\/)+/, '');
      return `${before}${source}:${entry.originalLine + 1}:${(entry.originalColumn ?? 0) + 1}${after}`;
    })
    .join('\n');
}

/** Rewrites the stacks of `error` and of its causes in place, as `mapStack` does. */
export function mapErrorStacks(error: unknown, bundle: string, depth = 0): void {
  if (!(error instanceof Error) || depth > MAX_CAUSE_DEPTH) return;
  if (typeof error.stack === 'string') {
    try {
      error.stack = mapStack(error.stack, bundle);
    } catch {
      // A read-only stack stays as it is.
    }
  }
  mapErrorStacks(error.cause, bundle, depth + 1);
}

/**
 * Wraps a Lambda handler so that an error it throws carries stack traces into the sources, although the
 * function runs without `--enable-source-maps`: the bundle's source map is read only then, so a cold start
 * never pays for it. With `--enable-source-maps` (or `NODE_OPTIONS` set so for debugging), Node maps the
 * stacks itself and the handler is returned unchanged. `bundle` is the file the handler was loaded from
 * (`__filename` in the entry, which esbuild leaves as the bundle's own path); `nodeMapsStacks` defaults to
 * `process.sourceMapsEnabled`.
 */
export function withSourceMappedErrors<A extends unknown[], R>(
  handler: (...args: A) => Promise<R>,
  bundle: string,
  nodeMapsStacks: boolean = process.sourceMapsEnabled === true,
): (...args: A) => Promise<R> {
  if (nodeMapsStacks) return handler;
  return async (...args: A): Promise<R> => {
    try {
      return await handler(...args);
    } catch (error) {
      mapErrorStacks(error, bundle);
      throw error;
    }
  };
}
