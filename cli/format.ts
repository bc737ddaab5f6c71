/** A column of a text table. */
export interface Column<T> {
  /** Header, printed as given (lower case, as the demo's tables). */
  readonly header: string;
  readonly value: (row: T) => string;
  /** Right-align (numbers). @default false */
  readonly right?: boolean;
  /** Wraps a padded cell in colour codes; applied after padding so that alignment holds. */
  readonly style?: (cell: string, row: T) => string;
}

/**
 * Renders rows as an aligned table: a header, a rule of dashes, one line a row, columns two spaces apart,
 * trailing spaces trimmed.
 */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => (r[i] ?? '').length)));
  const pad = (text: string, i: number) =>
    columns[i]?.right ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0);
  const line = (parts: string[]) => parts.join('  ').trimEnd();
  const body = cells.map((r, rowIndex) =>
    line(
      r.map((cell, i) => {
        const padded = pad(cell, i);
        const style = columns[i]?.style;
        const row = rows[rowIndex];
        return style && row !== undefined ? style(padded, row) : padded;
      }),
    ),
  );
  return [
    line(columns.map((c, i) => pad(c.header, i))),
    line(widths.map((w) => '-'.repeat(w))),
    ...body,
  ].join('\n');
}

/** Colours for a terminal; every function is the identity when colour is off. */
export interface Palette {
  readonly ok: (text: string) => string;
  readonly bad: (text: string) => string;
  readonly warn: (text: string) => string;
  readonly dim: (text: string) => string;
  readonly bold: (text: string) => string;
}

const wrap = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;
const identity = (text: string) => text;

/** The palette: ANSI colours when `enabled`, plain text otherwise. */
export function palette(enabled: boolean): Palette {
  if (!enabled) return { ok: identity, bad: identity, warn: identity, dim: identity, bold: identity };
  return { ok: wrap(32, 39), bad: wrap(31, 39), warn: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
}

/**
 * Whether to colour: only on a terminal, and never when `NO_COLOR` is set (https://no-color.org) or
 * `--no-color` was given.
 */
export function colourEnabled(
  isTTY: boolean | undefined,
  env: Readonly<Record<string, string | undefined>>,
  noColor: boolean,
): boolean {
  return isTTY === true && !noColor && !env.NO_COLOR && env.TERM !== 'dumb';
}

/** A date as `2026-11-25 18:23 UTC`, or `-` when absent. Always UTC, so outputs compare across machines. */
export function formatDate(date: Date | undefined): string {
  if (!date) return '-';
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A date without the time (AWS reports last-accessed dates to the day). */
export function formatDay(date: Date | undefined): string {
  return date ? date.toISOString().slice(0, 10) : '-';
}

/** A date with how long ago or ahead it is: `2026-11-25 18:23 UTC (3d ago)`. */
export function formatDateRelative(date: Date | undefined, now: Date): string {
  if (!date) return '-';
  const delta = date.getTime() - now.getTime();
  const span = formatSpan(Math.abs(delta));
  return `${formatDate(date)} (${delta >= 0 ? `in ${span}` : `${span} ago`})`;
}

/** A span of time, coarsely: `45s`, `12m`, `3h`, `2d 4h`, `41d`. */
export function formatSpan(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${minutes % 60 ? ` ${minutes % 60}m` : ''}`;
  const days = Math.floor(hours / 24);
  if (days < 10) return `${days}d${hours % 24 ? ` ${hours % 24}h` : ''}`;
  return `${days}d`;
}

/** Milliseconds as `850 ms` or `4.2 s`. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The first 8 characters of a version id, for tables and progress lines. */
export function shortId(versionId: string | undefined): string {
  return versionId ? versionId.slice(0, 8) : '-';
}

/** Stable JSON for scripts: two-space indentation and a final newline. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A date as ISO 8601 for JSON output, or null. */
export function isoOrNull(date: Date | undefined): string | null {
  return date ? date.toISOString() : null;
}
