import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { type CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DEFAULT_METRICS_NAMESPACE, type Environment, integer, optionalString } from '../rotation';
import {
  type AuditRecord,
  type CompletenessReport,
  checkCompleteness,
  DEFAULT_AUDIT_LOG_GROUP,
  parseAuditEvent,
} from './records';

/** Percentage of rotation events matched on both sides in the last window (100: complete). */
export const AUDIT_COMPLETENESS_METRIC = 'AuditCompleteness';
/** Events on one side with none on the other, in the last window. */
export const AUDIT_MISSING_METRIC = 'AuditRecordsMissing';

/**
 * Configuration: `AUDIT_LOG_GROUP` (default `/secret-rotation/audit`), `AUDIT_WINDOW_SECONDS` (the span
 * each run checks, default 3600, the schedule's period) and `AUDIT_LAG_SECONDS` (how far behind now the
 * window ends and how far apart matching events may be, default 900: CloudTrail-based events arrive minutes
 * late).
 */
export interface AuditCheckConfig {
  readonly logGroup: string;
  readonly windowSeconds: number;
  readonly lagSeconds: number;
}

export function loadAuditCheckConfig(env: Environment = process.env): AuditCheckConfig {
  return {
    logGroup: optionalString(env, 'AUDIT_LOG_GROUP') ?? DEFAULT_AUDIT_LOG_GROUP,
    windowSeconds: integer(env, 'AUDIT_WINDOW_SECONDS', { min: 60, max: 7 * 86400, default: 3600 }),
    lagSeconds: integer(env, 'AUDIT_LAG_SECONDS', { min: 0, max: 86400, default: 900 }),
  };
}

/** Powertools metrics of the check, in our namespace, one series for the account (no secret dimension). */
export function auditMetrics(): Metrics {
  return new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_METRICS_NAMESPACE,
    serviceName: 'secret-rotation',
  });
}

/** Every audit record of the log group from `start` on, all pages. */
export async function readAuditRecords(
  logs: CloudWatchLogsClient,
  logGroupName: string,
  start: Date,
  end: Date,
): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  let nextToken: string | undefined;
  do {
    const out = await logs.send(
      new FilterLogEventsCommand({
        logGroupName,
        startTime: start.getTime(),
        endTime: end.getTime(),
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    for (const e of out.events ?? []) {
      const record = e.message ? parseAuditEvent(e.message) : undefined;
      if (record) records.push(record);
    }
    nextToken = out.nextToken;
  } while (nextToken);
  return records;
}

/**
 * The audit completeness check, run on a schedule: reads the window `[now - lag - window, now - lag]` of the
 * audit log group (and `lag` either side, so a late or early event still matches), compares Secrets
 * Manager's RotationSucceeded/RotationFailed with our records both ways, publishes `AuditCompleteness` and
 * `AuditRecordsMissing`, and logs each unmatched record (metadata only: secret, action, time, version).
 */
export async function runAuditCheck(
  logs: CloudWatchLogsClient,
  config: AuditCheckConfig,
  metrics: Metrics,
  logger: Logger = new Logger({ serviceName: 'secret-rotation' }),
  now: Date = new Date(),
): Promise<CompletenessReport> {
  const lagMs = config.lagSeconds * 1000;
  const to = new Date(now.getTime() - lagMs);
  const from = new Date(to.getTime() - config.windowSeconds * 1000);
  const records = await readAuditRecords(logs, config.logGroup, new Date(from.getTime() - lagMs), now);
  const report = checkCompleteness(records, lagMs, { from, to });
  const missing = [...report.missingOurs, ...report.missingService];
  metrics.addMetric(
    AUDIT_COMPLETENESS_METRIC,
    MetricUnit.Percent,
    Math.round(report.completeness * 10_000) / 100,
  );
  metrics.addMetric(AUDIT_MISSING_METRIC, MetricUnit.Count, missing.length);
  metrics.publishStoredMetrics();
  for (const r of missing) {
    logger.warn('Audit record without its counterpart', {
      secret: r.secret,
      action: r.action,
      time: r.time.toISOString(),
      ...(r.versionId ? { versionId: r.versionId } : {}),
      side: report.missingOurs.includes(r) ? 'no record of ours' : 'no Secrets Manager event',
    });
  }
  return report;
}
