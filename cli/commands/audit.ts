import {
  type AuditRecord,
  type CompletenessReport,
  checkCompleteness,
  DEFAULT_AUDIT_LOG_GROUP,
  parseAuditEvent,
  recordsOf,
  secretNameOf,
} from '../../functions/audit/records';
import type { Args, CommandSpec } from '../args';
import { type CommandContext, println } from '../context';
import { parseDuration } from '../duration';
import { CliError, describeAwsError, ExitCode, isNamed, UsageError } from '../errors';
import { formatDate, shortId, table, toJson } from '../format';
import { describeSecret } from '../secrets';

export const auditSpec: CommandSpec = {
  name: 'audit',
  summary: "a secret's audit trail: every rotation, step failure, approval, denial, rollback, and who did it",
  description: [
    'Prints the audit trail of a secret from the audit log group (the RotationAudit construct sends every',
    "event of this project's functions and operators there, with Secrets Manager's CloudTrail events):",
    'rotations started, rotated and failed (with the step and error class), follow-up work such as a',
    'revoked key, approval requests, approvals, denials, expiries and bypasses with their reasons,',
    'rollbacks, and the Secrets Manager API calls CloudTrail recorded, each with who or what did it.',
    '',
    "--check compares Secrets Manager's RotationSucceeded/RotationFailed events with our records, both",
    'ways, and exits 1 when one side has something the other does not (events up to --tolerance apart',
    'match). Reads logs:FilterLogEvents; never a secret value.',
  ].join('\n'),
  positionals: [{ name: 'secret', required: true }],
  options: {
    since: {
      type: 'string',
      value: '<duration>',
      description: 'Only records this recent (ISO 8601 date, or a duration: 90m, 7d)',
      default: '30d',
    },
    'log-group': {
      type: 'string',
      value: '<name>',
      description: 'The audit log group',
      default: DEFAULT_AUDIT_LOG_GROUP,
    },
    check: {
      type: 'boolean',
      description: "Check that our records and Secrets Manager's rotation events match, both ways",
    },
    tolerance: {
      type: 'string',
      value: '<duration>',
      description: 'With --check: how far apart a service event and our record may be',
      default: '15m',
    },
  },
  examples: [
    'secret-rotation audit prod/orders-app',
    'secret-rotation audit prod/orders-app --since 2026-11-01 --json',
    'secret-rotation audit prod/orders-app --check',
  ],
};

/** One record in `audit --json`. */
export interface AuditRecordJson {
  readonly time: string;
  readonly action: string;
  readonly actor: string;
  readonly versionId: string | null;
  readonly step: string | null;
  readonly detail: string | null;
  readonly reason: string | null;
  readonly requestId: string | null;
}

/** What `audit --json` prints. */
export interface AuditJson {
  readonly secret: string;
  readonly logGroup: string;
  readonly since: string;
  readonly records: readonly AuditRecordJson[];
  /** With --check. */
  readonly completeness: {
    readonly complete: boolean;
    readonly ratio: number;
    readonly serviceEvents: number;
    readonly ourRecords: number;
    readonly missingOurs: readonly AuditRecordJson[];
    readonly missingService: readonly AuditRecordJson[];
  } | null;
}

function parseSince(raw: string, now: Date): Date {
  if (/^\d{4}-\d{2}-\d{2}/.test(raw)) {
    const date = new Date(raw);
    if (Number.isNaN(date.getTime()))
      throw new UsageError(`--since must be a date or a duration, got '${raw}'`, 'audit');
    return date;
  }
  return new Date(now.getTime() - parseDuration('since', raw, 'audit'));
}

const toJsonRecord = (r: AuditRecord): AuditRecordJson => ({
  time: r.time.toISOString(),
  action: r.action,
  actor: r.actor,
  versionId: r.versionId ?? null,
  step: r.step ?? null,
  detail: r.detail ?? null,
  reason: r.reason ?? null,
  requestId: r.requestId ?? null,
});

/** `audit <secret>`. */
export async function runAudit(args: Args, context: CommandContext): Promise<ExitCode> {
  const secretId = args.positionals[0] as string;
  const since = parseSince(args.string('since') ?? '30d', context.now());
  const toleranceMs = parseDuration('tolerance', args.string('tolerance') ?? '15m', 'audit');
  const logGroup = args.string('log-group') ?? DEFAULT_AUDIT_LOG_GROUP;
  if (!context.logs)
    throw new CliError('audit reads the audit log group, and no CloudWatch Logs reader is configured');
  // A deleted secret still has its trail: without DescribeSecret, the name given is what we look for.
  let secret = secretId;
  try {
    secret = (await describeSecret(context.secretsManager, secretId)).arn;
  } catch (error) {
    if (!isNamed(error, 'ResourceNotFoundException')) throw describeAwsError(error, secretId, context.target);
  }
  let records: AuditRecord[];
  try {
    // The name is in every shape of record (our events carry the ARN, CloudTrail what the caller passed).
    const events = await context.logs.filter(logGroup, `"${secretNameOf(secret)}"`, since.getTime());
    records = recordsOf(
      events.map((e) => parseAuditEvent(e.message)).filter((r): r is AuditRecord => r !== undefined),
      secret,
    );
  } catch (error) {
    throw describeAwsError(error, secretId, context.target);
  }
  const check: CompletenessReport | undefined = args.flag('check')
    ? checkCompleteness(records, toleranceMs)
    : undefined;
  const complete = check ? check.missingOurs.length + check.missingService.length === 0 : true;
  const report: AuditJson = {
    secret,
    logGroup,
    since: since.toISOString(),
    records: records.map(toJsonRecord),
    completeness: check
      ? {
          complete,
          ratio: Math.round(check.completeness * 10_000) / 10_000,
          serviceEvents: check.serviceEvents,
          ourRecords: check.ourRecords,
          missingOurs: check.missingOurs.map(toJsonRecord),
          missingService: check.missingService.map(toJsonRecord),
        }
      : null,
  };
  if (context.json) context.stdout.write(toJson(report));
  else printAudit(report, context);
  if (!complete) {
    throw new CliError(
      `secret ${secretNameOf(secret)}: the audit trail is incomplete: ${check?.missingOurs.length} Secrets Manager event(s) without our record, ${check?.missingService.length} record(s) of ours without a Secrets Manager event`,
    );
  }
  return ExitCode.OK;
}

function printAudit(report: AuditJson, context: CommandContext): void {
  println(
    context,
    `Audit trail of ${context.palette.bold(report.secret)} since ${formatDate(new Date(report.since))} (${report.logGroup})`,
  );
  println(context);
  if (report.records.length === 0) println(context, 'No records.');
  else
    println(
      context,
      table(report.records, [
        { header: 'time', value: (r) => r.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z') },
        {
          header: 'action',
          value: (r) => r.action,
          style: (cell, r) =>
            /failed|denied|expired|abandoned/.test(r.action) ? context.palette.bad(cell) : cell,
        },
        { header: 'by', value: (r) => r.actor },
        { header: 'version', value: (r) => shortId(r.versionId ?? undefined) },
        {
          header: 'detail',
          value: (r) =>
            [
              r.requestId ? `request ${shortId(r.requestId)}` : null,
              r.step,
              r.detail,
              r.reason ? `reason: ${r.reason}` : null,
            ]
              .filter(Boolean)
              .join(' '),
        },
      ]),
    );
  const c = report.completeness;
  if (c) {
    println(context);
    println(
      context,
      `Completeness: ${c.complete ? context.palette.ok('complete') : context.palette.bad('INCOMPLETE')} ` +
        `(${c.serviceEvents} Secrets Manager rotation event(s), ${c.ourRecords} record(s) of ours, ratio ${c.ratio})`,
    );
    for (const r of c.missingOurs)
      println(context, `  no record of ours for Secrets Manager's ${r.action} at ${r.time}`);
    for (const r of c.missingService)
      println(
        context,
        `  no Secrets Manager event for our ${r.action} at ${r.time}${r.versionId ? ` (version ${r.versionId})` : ''}`,
      );
  }
}
