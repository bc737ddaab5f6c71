import { UsageError } from './errors';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration option: a number with a unit (`500ms`, `90s`, `15m`, `6h`, `2d`), or a bare number of
 * seconds. Throws a `UsageError` naming the option and the value.
 */
export function parseDuration(option: string, raw: string, command?: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  const unit = match?.[2] ?? 's';
  const factor = UNITS[unit];
  if (!match?.[1] || factor === undefined) {
    throw new UsageError(
      `--${option} must be a duration such as 90s, 15m, 6h or 2d (a bare number is seconds), got '${raw}'`,
      command,
    );
  }
  return Math.round(Number(match[1]) * factor);
}

/** Parses a positive whole number option. */
export function parsePositiveInteger(option: string, raw: string, command?: string, max = 100): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1 || Number(raw) > max) {
    throw new UsageError(`--${option} must be a whole number from 1 to ${max}, got '${raw}'`, command);
  }
  return Number(raw);
}
