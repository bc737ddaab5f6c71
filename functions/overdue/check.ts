import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  ConfigurationError,
  DEFAULT_METRICS_NAMESPACE,
  type Environment,
  integer,
  requiredString,
} from '../rotation';

/** Name of the metric the overdue check publishes: 1 when a secret's rotation is overdue, else 0. */
export const OVERDUE_METRIC = 'RotationOverdue';
/** Seconds since the secret last rotated, for the dashboard. */
export const SINCE_LAST_METRIC = 'SecondsSinceLastRotation';

/** One secret's state as the check sees it. */
export interface OverdueResult {
  readonly secret: string;
  readonly overdue: boolean;
  readonly rotationEnabled: boolean;
  readonly lastRotated?: Date;
  readonly nextRotation?: Date;
}

/** Configuration: `SECRET_IDS` (comma-separated ARNs or names) and `OVERDUE_MARGIN_SECONDS` (default 3600). */
export interface OverdueConfig {
  readonly secretIds: readonly string[];
  readonly marginSeconds: number;
}

/**
 * Reads the configuration. The secrets come from `SECRET_IDS`, or (with `secretIdsFromEvent`) from the
 * scheduled event, which has no 4 KB limit: `RotationAlarms` sends them there.
 */
export function loadOverdueConfig(
  env: Environment = process.env,
  options: { readonly secretIdsFromEvent?: boolean } = {},
): OverdueConfig {
  const raw = options.secretIdsFromEvent ? (env.SECRET_IDS ?? '') : requiredString(env, 'SECRET_IDS');
  const secretIds = raw
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  if (secretIds.length === 0 && !options.secretIdsFromEvent) {
    throw new ConfigurationError('Environment variable SECRET_IDS names no secret');
  }
  return {
    secretIds,
    marginSeconds: integer(env, 'OVERDUE_MARGIN_SECONDS', { min: 0, max: 30 * 86400, default: 3600 }),
  };
}

/** The event `RotationAlarms`' schedule sends the check: the secrets to check. */
export interface OverdueCheckEvent {
  readonly SecretIds?: readonly string[];
}

/** The secrets to check: the event's, else the configured ones; an error when neither names one. */
export function secretIdsToCheck(
  config: OverdueConfig,
  event: OverdueCheckEvent | undefined,
): readonly string[] {
  const fromEvent = Array.isArray(event?.SecretIds)
    ? event.SecretIds.filter((id): id is string => typeof id === 'string' && id.length > 0)
    : [];
  const ids = fromEvent.length > 0 ? fromEvent : config.secretIds;
  if (ids.length === 0) {
    throw new ConfigurationError(
      'The overdue check names no secret: neither the event SecretIds nor SECRET_IDS',
    );
  }
  return ids;
}

/**
 * Secrets Manager has no metric for a rotation that did not happen. This check, run on a schedule, reads
 * each secret's next rotation date and publishes `RotationOverdue` (1 or 0) per secret, so an alarm can fire
 * on a rotation that is late however long the schedule is. A secret with rotation disabled counts as overdue:
 * someone turned it off.
 */
export async function checkOverdue(
  client: SecretsManagerClient,
  config: OverdueConfig,
  metrics: Metrics,
  now: Date = new Date(),
): Promise<OverdueResult[]> {
  const results: OverdueResult[] = [];
  for (const secretId of config.secretIds) {
    const out = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
    const rotationEnabled = out.RotationEnabled === true;
    const next = out.NextRotationDate;
    const overdue =
      !rotationEnabled ||
      (next !== undefined && now.getTime() > next.getTime() + config.marginSeconds * 1000);
    const name = out.Name ?? secretId;
    const single = metrics.singleMetric();
    single.addDimension('SecretName', name);
    single.addMetric(OVERDUE_METRIC, MetricUnit.Count, overdue ? 1 : 0);
    if (out.LastRotatedDate) {
      const since = metrics.singleMetric();
      since.addDimension('SecretName', name);
      since.addMetric(
        SINCE_LAST_METRIC,
        MetricUnit.Seconds,
        Math.round((now.getTime() - out.LastRotatedDate.getTime()) / 1000),
      );
    }
    results.push({
      secret: name,
      overdue,
      rotationEnabled,
      ...(out.LastRotatedDate ? { lastRotated: out.LastRotatedDate } : {}),
      ...(next ? { nextRotation: next } : {}),
    });
  }
  return results;
}

/** The check's metrics: namespace `SecretRotation`, dimension `SecretName` (a name, never a value). */
export function overdueMetrics(): Metrics {
  return new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_METRICS_NAMESPACE,
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'secret-rotation',
  });
}
