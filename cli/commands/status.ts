import type { Filter, FilterNameStringType } from '@aws-sdk/client-secrets-manager';
import type { Args, CommandSpec } from '../args';
import { type CommandContext, println } from '../context';
import { parseDuration } from '../duration';
import { CliError, describeAwsError, ExitCode, UsageError } from '../errors';
import { formatDate, formatSpan, isoOrNull, table, toJson } from '../format';
import { cachedFunctionInfo, kindLabel, type RotationKind, resolveKind } from '../kind';
import {
  describeSecret,
  FILTER_KEYS,
  listSecrets,
  listVersions,
  pendingRotation,
  type RotationRules,
  type SecretState,
} from '../secrets';
import { type ConsumerCountsJson, consumerCountsText, readConsumerCounts, trackerTable } from './consumers';

export const statusSpec: CommandSpec = {
  name: 'status',
  summary: 'a table of secrets: kind, schedule, last and next rotation, overdue, stuck AWSPENDING',
  description: [
    'Shows the rotation state of the named secrets, or of every secret (ListSecrets, all pages; --filter to',
    'narrow). Reads metadata only, never a value.',
    '',
    'overdue: rotation is enabled and NextRotationDate is more than --overdue-margin in the past, or the secret',
    'was never rotated and is older than its schedule plus the margin.',
    'pending: AWSPENDING on a version that is not AWSCURRENT: a rotation under way ("rotating"), or, older than',
    '--stuck-after, one that failed and blocks every later rotation ("STUCK").',
    "kind: from the tags secret-rotation:kind and secret-rotation:strategy, else the rotation function's",
    'ROTATION_KIND/ROTATION_STRATEGY (when lambda:GetFunctionConfiguration is allowed).',
  ].join('\n'),
  positionals: [{ name: 'secret', required: false, variadic: true }],
  options: {
    filter: {
      type: 'string',
      multiple: true,
      value: '<[key=]value>',
      description: `ListSecrets filter, key one of ${FILTER_KEYS.join(', ')}; a bare value means all`,
    },
    'overdue-margin': {
      type: 'string',
      value: '<duration>',
      description: 'How late a rotation may be before it counts as overdue',
      default: '6h',
    },
    'stuck-after': {
      type: 'string',
      value: '<duration>',
      description: 'How old an AWSPENDING version may be before it counts as stuck',
      default: '1h',
    },
    check: { type: 'boolean', description: 'Exit 1 when a secret is overdue or has a stuck AWSPENDING' },
    table: {
      type: 'string',
      value: '<name>',
      description:
        "The consumer tracker's table (else SECRET_ROTATION_TRACKER_TABLE): adds consumers on AWSCURRENT and older versions",
    },
  },
  examples: [
    'secret-rotation status',
    'secret-rotation status --filter name=prod/ --check',
    'secret-rotation status prod/orders-app prod/billing-api --json',
  ],
};

/** The schedule of one secret in `status --json`. */
export interface ScheduleJson {
  readonly automaticallyAfterDays: number | null;
  readonly scheduleExpression: string | null;
  /** The rotation window, e.g. `4h`. */
  readonly duration: string | null;
}

/** An AWSPENDING label on a version that is not AWSCURRENT. */
export interface PendingJson {
  readonly versionId: string;
  readonly createdDate: string | null;
  readonly ageSeconds: number | null;
  /** Older than `--stuck-after`. */
  readonly stuck: boolean;
}

/** One secret in `status --json`. */
export interface StatusSecretJson {
  readonly name: string;
  readonly arn: string;
  readonly kind: string | null;
  readonly strategy: string | null;
  /** Where kind and strategy came from: `tags`, `rotation function environment`, or null. */
  readonly kindSource: string | null;
  readonly rotationEnabled: boolean;
  readonly rotationFunction: string | null;
  readonly schedule: ScheduleJson | null;
  readonly lastRotated: string | null;
  readonly nextRotation: string | null;
  readonly overdue: boolean;
  readonly overdueReason: string | null;
  readonly pending: PendingJson | null;
  /** Live consumers from the consumer tracker, with a tracker table only. */
  readonly consumers?: ConsumerCountsJson | null;
}

/** What `status --json` prints. */
export interface StatusJson {
  readonly generatedAt: string;
  readonly overdueMarginSeconds: number;
  readonly stuckAfterSeconds: number;
  readonly secrets: readonly StatusSecretJson[];
  /** Named secrets that could not be read. */
  readonly errors: readonly { readonly secret: string; readonly message: string }[];
}

const UNIT_MS: Readonly<Record<string, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/**
 * The interval of a schedule in milliseconds: `AutomaticallyAfterDays`, or a `rate()` expression.
 * `undefined` for `cron()` (its interval is not a constant) and for no schedule.
 */
export function scheduleIntervalMs(rules: RotationRules | undefined): number | undefined {
  if (!rules) return undefined;
  if (rules.automaticallyAfterDays !== undefined && rules.automaticallyAfterDays > 0) {
    return rules.automaticallyAfterDays * UNIT_MS.day!;
  }
  const rate = /^rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)$/i.exec(rules.scheduleExpression?.trim() ?? '');
  if (rate?.[1] && rate[2]) return Number(rate[1]) * (UNIT_MS[rate[2].toLowerCase()] ?? 0);
  return undefined;
}

/** The schedule as a table cell: `every 30d, window 4h`, `cron(0 3 ? * SUN *)`, or `-`. */
export function scheduleText(rules: RotationRules | ScheduleJson | null | undefined): string {
  if (!rules) return '-';
  const base =
    rules.scheduleExpression ??
    (typeof rules.automaticallyAfterDays === 'number' ? `every ${rules.automaticallyAfterDays}d` : undefined);
  if (!base) return '-';
  return rules.duration ? `${base}, window ${rules.duration}` : base;
}

/** Whether a secret's rotation is overdue, and why. Rotation turned off is not "overdue" here: it shows as such. */
export function assessOverdue(
  state: SecretState,
  now: Date,
  marginMs: number,
): { readonly overdue: boolean; readonly reason: string | null } {
  if (!state.rotationEnabled) return { overdue: false, reason: null };
  const t = now.getTime();
  if (state.nextRotationDate && t > state.nextRotationDate.getTime() + marginMs) {
    return {
      overdue: true,
      reason: `next rotation was due ${formatDate(state.nextRotationDate)}, ${formatSpan(t - state.nextRotationDate.getTime())} ago`,
    };
  }
  const interval = scheduleIntervalMs(state.rules);
  if (!state.lastRotatedDate && state.createdDate && interval !== undefined) {
    const due = state.createdDate.getTime() + interval;
    if (t > due + marginMs) {
      return {
        overdue: true,
        reason: `never rotated, created ${formatSpan(t - state.createdDate.getTime())} ago with a schedule of ${formatSpan(interval)}`,
      };
    }
  }
  if (!state.nextRotationDate && state.lastRotatedDate && interval !== undefined) {
    const due = state.lastRotatedDate.getTime() + interval;
    if (t > due + marginMs) {
      return {
        overdue: true,
        reason: `last rotated ${formatSpan(t - state.lastRotatedDate.getTime())} ago with a schedule of ${formatSpan(interval)}`,
      };
    }
  }
  return { overdue: false, reason: null };
}

/** The pending rotation of a secret, with its age when the version's creation date is known. */
export function assessPending(
  versionId: string | undefined,
  createdDate: Date | undefined,
  now: Date,
  stuckAfterMs: number,
): PendingJson | null {
  if (!versionId) return null;
  const ageMs = createdDate ? Math.max(0, now.getTime() - createdDate.getTime()) : undefined;
  return {
    versionId,
    createdDate: isoOrNull(createdDate),
    ageSeconds: ageMs !== undefined ? Math.round(ageMs / 1000) : null,
    // Without a date, a pending version is reported, not judged.
    stuck: ageMs !== undefined && ageMs >= stuckAfterMs,
  };
}

function parseFilters(values: readonly string[]): Filter[] {
  const byKey = new Map<FilterNameStringType, string[]>();
  for (const raw of values) {
    const eq = raw.indexOf('=');
    const key = (eq > 0 ? raw.slice(0, eq) : 'all') as FilterNameStringType;
    const value = eq > 0 ? raw.slice(eq + 1) : raw;
    if (!(FILTER_KEYS as readonly string[]).includes(key)) {
      throw new UsageError(`--filter key must be one of ${FILTER_KEYS.join(', ')}, got '${key}'`, 'status');
    }
    if (!value) throw new UsageError(`--filter ${raw}: the value is empty`, 'status');
    byKey.set(key, [...(byKey.get(key) ?? []), value]);
  }
  return [...byKey].map(([Key, Values]) => ({ Key, Values }));
}

/** `status [<secret>...]`. */
export async function runStatus(args: Args, context: CommandContext): Promise<ExitCode> {
  const marginMs = parseDuration('overdue-margin', args.string('overdue-margin') ?? '6h', 'status');
  const stuckAfterMs = parseDuration('stuck-after', args.string('stuck-after') ?? '1h', 'status');
  const filterValues = args.strings('filter');
  if (filterValues.length > 0 && args.positionals.length > 0) {
    throw new UsageError('--filter applies when listing all secrets, not with named secrets', 'status');
  }
  const filters = parseFilters(filterValues);
  const now = context.now();

  const states: SecretState[] = [];
  const errors: { secret: string; message: string }[] = [];
  if (args.positionals.length === 0) {
    try {
      states.push(...(await listSecrets(context.secretsManager, filters)));
    } catch (error) {
      throw describeAwsError(error, undefined, context.target);
    }
  } else {
    for (const secretId of args.positionals) {
      try {
        states.push(await describeSecret(context.secretsManager, secretId));
      } catch (error) {
        errors.push({ secret: secretId, message: describeAwsError(error, secretId, context.target).message });
      }
    }
  }
  states.sort((a, b) => a.name.localeCompare(b.name));

  const functions = context.functions ? cachedFunctionInfo(context.functions) : undefined;
  const rows: StatusSecretJson[] = [];
  for (const state of states) {
    const kind: RotationKind = await resolveKind(state, { ...(functions ? { functions } : {}) });
    const pendingId = pendingRotation(state);
    let createdDate: Date | undefined;
    if (pendingId) {
      try {
        createdDate = (await listVersions(context.secretsManager, state.arn)).find(
          (v) => v.versionId === pendingId,
        )?.createdDate;
      } catch {
        // The age is unknown; the pending label is still reported.
      }
    }
    const overdue = assessOverdue(state, now, marginMs);
    rows.push({
      name: state.name,
      arn: state.arn,
      kind: kind.kind ?? null,
      strategy: kind.strategy ?? null,
      kindSource: kind.kindSource ?? null,
      rotationEnabled: state.rotationEnabled,
      rotationFunction: state.rotationFunctionArn ?? null,
      schedule: state.rules
        ? {
            automaticallyAfterDays: state.rules.automaticallyAfterDays ?? null,
            scheduleExpression: state.rules.scheduleExpression ?? null,
            duration: state.rules.duration ?? null,
          }
        : null,
      lastRotated: isoOrNull(state.lastRotatedDate),
      nextRotation: isoOrNull(state.nextRotationDate),
      overdue: overdue.overdue,
      overdueReason: overdue.reason,
      pending: assessPending(pendingId, createdDate, now, stuckAfterMs),
    });
  }

  const table = trackerTable(args, context);
  if (table) {
    const counts = await readConsumerCounts(context, table, states, (secret, error) =>
      errors.push({ secret, message: error.message }),
    );
    rows.forEach((row, i) => {
      rows[i] = { ...row, consumers: counts.get(row.arn) ?? null };
    });
  }

  const report: StatusJson = {
    generatedAt: now.toISOString(),
    overdueMarginSeconds: Math.round(marginMs / 1000),
    stuckAfterSeconds: Math.round(stuckAfterMs / 1000),
    secrets: rows,
    errors,
  };
  if (context.json) context.stdout.write(toJson(report));
  else {
    const text = renderStatus(report, now, context);
    if (text) println(context, text);
  }
  for (const e of errors) context.stderr.write(`error: ${e.message}\n`);

  const overdueCount = rows.filter((r) => r.overdue).length;
  const stuckCount = rows.filter((r) => r.pending?.stuck).length;
  if (errors.length > 0) return ExitCode.FAILURE;
  if (args.flag('check') && (overdueCount > 0 || stuckCount > 0)) {
    throw new CliError(`${problemSummary(overdueCount, stuckCount)} (status --check)`);
  }
  return ExitCode.OK;
}

function problemSummary(overdue: number, stuck: number): string {
  const parts = [];
  if (overdue > 0) parts.push(`${overdue} secret${overdue === 1 ? '' : 's'} overdue`);
  if (stuck > 0) parts.push(`${stuck} with a stuck AWSPENDING`);
  return parts.join(', ');
}

/** The human table of `status`. */
export function renderStatus(
  report: StatusJson,
  now: Date,
  context: Pick<CommandContext, 'palette'>,
): string {
  if (report.secrets.length === 0) return report.errors.length > 0 ? '' : 'No secrets found.';
  const p = context.palette;
  const when = (iso: string | null, never: string) => {
    if (!iso) return never;
    const date = new Date(iso);
    const delta = date.getTime() - now.getTime();
    return `${iso.slice(0, 16).replace('T', ' ')} (${delta >= 0 ? `in ${formatSpan(delta)}` : `${formatSpan(-delta)} ago`})`;
  };
  const text = table(report.secrets, [
    { header: 'name', value: (r) => r.name },
    {
      header: 'kind',
      value: (r) =>
        kindLabel({
          ...(r.kind ? { kind: r.kind } : {}),
          ...(r.strategy ? { strategy: r.strategy } : {}),
          notes: [],
        }),
    },
    {
      header: 'rotation',
      value: (r) => (r.rotationEnabled ? 'enabled' : 'disabled'),
      style: (cell, r) => (r.rotationEnabled ? cell : p.dim(cell)),
    },
    { header: 'schedule', value: (r) => scheduleText(r.schedule) },
    { header: 'last rotated', value: (r) => when(r.lastRotated, 'never') },
    { header: 'next rotation', value: (r) => when(r.nextRotation, '-') },
    {
      header: 'overdue',
      value: (r) => {
        if (!r.rotationEnabled) return '-';
        if (!r.overdue) return 'no';
        const next = r.nextRotation ? now.getTime() - new Date(r.nextRotation).getTime() : undefined;
        return next !== undefined && next > 0 ? `OVERDUE ${formatSpan(next)}` : 'OVERDUE';
      },
      style: (cell, r) => (r.overdue ? p.bad(cell) : cell),
    },
    {
      header: 'pending',
      value: (r) => {
        if (!r.pending) return '-';
        const age = r.pending.ageSeconds !== null ? ` ${formatSpan(r.pending.ageSeconds * 1000)}` : '';
        return `${r.pending.stuck ? 'STUCK' : 'rotating'}${age} (${r.pending.versionId.slice(0, 8)})`;
      },
      style: (cell, r) => (r.pending?.stuck ? p.bad(cell) : r.pending ? p.warn(cell) : cell),
    },
    ...(report.secrets.some((r) => r.consumers !== undefined)
      ? [
          {
            header: 'consumers',
            value: (r: StatusSecretJson) => consumerCountsText(r.consumers),
            style: (cell: string, r: StatusSecretJson) =>
              (r.consumers?.onOlder ?? 0) > 0 ? p.warn(cell) : cell,
          },
        ]
      : []),
  ]);
  const overdue = report.secrets.filter((r) => r.overdue);
  const stuck = report.secrets.filter((r) => r.pending?.stuck);
  const lines = [text, ''];
  for (const r of overdue) lines.push(`overdue: ${r.name}: ${r.overdueReason}`);
  for (const r of stuck) {
    lines.push(
      `stuck: ${r.name}: AWSPENDING on version ${r.pending?.versionId} for ${formatSpan((r.pending?.ageSeconds ?? 0) * 1000)}; ` +
        'every later rotation fails until it completes or the label is removed',
    );
  }
  const count = report.secrets.length;
  lines.push(
    `${count} secret${count === 1 ? '' : 's'}` +
      (overdue.length + stuck.length > 0
        ? `: ${problemSummary(overdue.length, stuck.length)}`
        : ', none overdue or stuck') +
      '. Times are UTC.',
  );
  return lines.join('\n');
}
