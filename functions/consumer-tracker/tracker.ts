import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DEFAULT_METRICS_NAMESPACE, type Environment, integer, requiredString } from '../rotation';
import { type ConsumerReport, ConsumerStore, type SecretConsumers, type TrackedConsumer } from './store';

/** `source` and `detail-type` of consumer reports (the client's `VersionReporter`). */
export const CONSUMER_REPORT = {
  source: 'secret-rotation.consumers',
  detailType: 'Secret Version In Use',
} as const;

/** Metrics of the tracker (namespace `SecretRotation`, dimension `service` = `consumer-tracker`). */
export const TrackerMetric = {
  /** Per consumer that moved to a rotated version: ms from finishSecret to its first use of the version. */
  UPDATE_LATENCY: 'ConsumerUpdateLatency',
  /** Per sweep: live consumers still on an older version longer than the lag bound after a rotation. */
  ON_OLD_VERSION: 'ConsumersOnOldVersion',
  /** Per sweep: live consumers, all secrets. */
  LIVE: 'ConsumersLive',
  /** Once per rotation, when its window has passed: % of live consumers that moved within the window. */
  UPDATED_WITHIN_WINDOW: 'ConsumersUpdatedWithinWindow',
} as const;

/** The `service` dimension of the tracker's metrics. */
export const TRACKER_SERVICE = 'consumer-tracker';

/** Configuration of the tracker function. */
export interface TrackerConfig {
  /** `TRACKER_TABLE` (required). */
  readonly tableName: string;
  /** `LAG_BOUND_SECONDS`: a consumer on an older version this long after a rotation is lagging. @default 900 */
  readonly lagBoundSeconds: number;
  /** `UPDATE_WINDOW_SECONDS`: the window of "% of consumers updated within the window". @default 60 */
  readonly updateWindowSeconds: number;
}

/** Reads the tracker's configuration, validated at cold start. */
export function loadTrackerConfig(env: Environment = process.env): TrackerConfig {
  return {
    tableName: requiredString(env, 'TRACKER_TABLE'),
    lagBoundSeconds: integer(env, 'LAG_BOUND_SECONDS', { min: 1, max: 30 * 86_400, default: 900 }),
    updateWindowSeconds: integer(env, 'UPDATE_WINDOW_SECONDS', { min: 1, max: 86_400, default: 60 }),
  };
}

/** The part of Powertools' `Metrics` the tracker uses; tests pass a recorder. */
export interface TrackerMetrics {
  addMetric(name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number): void;
  publishStoredMetrics(): void;
  /** When present, nothing is published without metrics (Powertools warns on an empty flush). */
  hasStoredMetrics?(): boolean;
}

/** What the tracker is built from. */
export interface TrackerDependencies {
  readonly dynamo: DynamoDBClient;
  readonly config: TrackerConfig;
  readonly logger?: Pick<Logger, 'info' | 'warn'>;
  readonly metrics?: TrackerMetrics;
  readonly now?: () => number;
}

/** A consumer still on an older version after the lag bound. */
export interface LaggingConsumer extends TrackedConsumer {
  /** The version it should be on. */
  readonly currentVersionId: string;
  /** ms since the rotation it has not followed. */
  readonly lagMs: number;
}

/** What a sweep found. */
export interface SweepResult {
  readonly live: number;
  readonly lagging: readonly LaggingConsumer[];
  readonly forgotten: number;
  /** Rotations whose window was evaluated by this sweep, with their percentage. */
  readonly windows: ReadonlyArray<{ secretArn: string; versionId: string; percent: number; live: number }>;
}

/** What one invocation did. */
export type TrackerOutcome =
  | { readonly kind: 'report'; readonly moved: boolean; readonly stale: boolean; readonly latencyMs?: number }
  | { readonly kind: 'rotation'; readonly versionId: string }
  | { readonly kind: 'sweep'; readonly result: SweepResult }
  | { readonly kind: 'ignored' };

/**
 * The consumer tracker's Lambda handler. Three kinds of events reach it through EventBridge rules:
 * consumer reports (source `secret-rotation.consumers`), our `Secret Rotated` events (when each version
 * became current), and a schedule (the sweep: metrics of lagging consumers and of update windows, and
 * forgetting consumers the TTL has not deleted yet).
 */
export function createConsumerTrackerHandler(
  deps: TrackerDependencies,
): (event: unknown) => Promise<TrackerOutcome> {
  const store = new ConsumerStore(deps.dynamo, deps.config.tableName);
  const metrics =
    deps.metrics ??
    new Metrics({
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_METRICS_NAMESPACE,
      serviceName: TRACKER_SERVICE,
    });
  const now = deps.now ?? Date.now;
  return async (event) => {
    try {
      return await handle(event);
    } finally {
      if (metrics.hasStoredMetrics?.() ?? true) metrics.publishStoredMetrics();
    }
  };

  async function handle(raw: unknown): Promise<TrackerOutcome> {
    const event = (raw ?? {}) as {
      source?: unknown;
      'detail-type'?: unknown;
      time?: unknown;
      detail?: unknown;
    };
    const detail = (typeof event.detail === 'object' && event.detail !== null ? event.detail : {}) as Record<
      string,
      unknown
    >;
    if (event.source === CONSUMER_REPORT.source && event['detail-type'] === CONSUMER_REPORT.detailType) {
      const report = parseReport(detail);
      if (!report) {
        deps.logger?.warn('Ignoring a malformed consumer report');
        return { kind: 'ignored' };
      }
      return applyReport(report);
    }
    if (event.source === 'secret-rotation' && event['detail-type'] === 'Secret Rotated') {
      const secretArn = stringField(detail, 'secretArn');
      const versionId = stringField(detail, 'versionId');
      if (!secretArn || !versionId || detail.replay === true) return { kind: 'ignored' };
      const finishedAt = typeof detail.finishedAt === 'number' ? detail.finishedAt : undefined;
      const eventTime = typeof event.time === 'string' ? Date.parse(event.time) : Number.NaN;
      const previousVersionId = stringField(detail, 'previousVersionId');
      await store.recordRotation({
        secretArn,
        versionId,
        rotatedAt: finishedAt ?? (Number.isNaN(eventTime) ? now() : eventTime),
        ...(previousVersionId ? { previousVersionId } : {}),
      });
      return { kind: 'rotation', versionId };
    }
    if (event.source === 'aws.events' && event['detail-type'] === 'Scheduled Event') {
      return { kind: 'sweep', result: await sweep() };
    }
    return { kind: 'ignored' };
  }

  async function applyReport(report: ConsumerReport): Promise<TrackerOutcome> {
    const outcome = await store.applyReport(report, now());
    if (!outcome.moved || outcome.stale) return { kind: 'report', ...outcome };
    const rotatedAt = await store.rotatedAt(report.secretArn, report.versionId);
    if (rotatedAt === undefined) return { kind: 'report', ...outcome };
    const latencyMs = Math.max(0, report.usedSince - rotatedAt);
    metrics.addMetric(TrackerMetric.UPDATE_LATENCY, MetricUnit.Milliseconds, latencyMs);
    return { kind: 'report', ...outcome, latencyMs };
  }

  async function sweep(): Promise<SweepResult> {
    const at = now();
    const secrets = await store.all(at);
    const lagging: LaggingConsumer[] = [];
    const windows: Array<{ secretArn: string; versionId: string; percent: number; live: number }> = [];
    let live = 0;
    let forgotten = 0;
    for (const secret of secrets.values()) {
      live += secret.consumers.length;
      for (const gone of secret.expired) {
        await store.forget(gone);
        forgotten++;
      }
      lagging.push(...laggingOf(secret, at, deps.config.lagBoundSeconds * 1000));
      const window = await evaluateWindow(secret, at);
      if (window) windows.push(window);
    }
    metrics.addMetric(TrackerMetric.LIVE, MetricUnit.Count, live);
    metrics.addMetric(TrackerMetric.ON_OLD_VERSION, MetricUnit.Count, lagging.length);
    for (const window of windows) {
      metrics.addMetric(TrackerMetric.UPDATED_WITHIN_WINDOW, MetricUnit.Percent, window.percent);
    }
    if (lagging.length > 0) {
      deps.logger?.warn('Consumers are still on an older version', {
        lagging: lagging.map((c) => ({
          secretArn: c.secretArn,
          service: c.service,
          instance: c.instance,
          versionId: c.versionId,
          lagMs: c.lagMs,
        })),
      });
    }
    return { live, lagging, forgotten, windows };
  }

  async function evaluateWindow(secret: SecretConsumers, at: number) {
    const rotation = secret.rotation;
    const windowMs = deps.config.updateWindowSeconds * 1000;
    if (!rotation || rotation.evaluated || at - rotation.rotatedAt < windowMs) return undefined;
    if (!(await store.markEvaluated(secret.secretArn, rotation.versionId))) return undefined;
    if (secret.consumers.length === 0) return undefined;
    const inTime = secret.consumers.filter(
      (c) => c.versionId === rotation.versionId && c.usedSince - rotation.rotatedAt <= windowMs,
    ).length;
    return {
      secretArn: secret.secretArn,
      versionId: rotation.versionId,
      percent: (100 * inTime) / secret.consumers.length,
      live: secret.consumers.length,
    };
  }
}

/** Live consumers of a secret that are not on its latest rotated version, the lag bound after that rotation. */
export function laggingOf(secret: SecretConsumers, at: number, boundMs: number): LaggingConsumer[] {
  const rotation = secret.rotation;
  if (!rotation || at - rotation.rotatedAt <= boundMs) return [];
  return secret.consumers
    .filter((c) => c.versionId !== rotation.versionId)
    .map((c) => ({ ...c, currentVersionId: rotation.versionId, lagMs: at - rotation.rotatedAt }));
}

const REASONS = new Set(['start', 'change', 'heartbeat', 'stop']);

/** A consumer report, validated; anything else is ignored rather than stored. */
export function parseReport(detail: Record<string, unknown>): ConsumerReport | undefined {
  const secretArn = stringField(detail, 'secretArn');
  const versionId = stringField(detail, 'versionId');
  const service = stringField(detail, 'service');
  const instance = stringField(detail, 'instance');
  const reason = stringField(detail, 'reason');
  const { usedSince, reportedAt, heartbeatSeconds } = detail;
  if (!secretArn || !versionId || !service || !instance || !reason || !REASONS.has(reason)) return undefined;
  if (![usedSince, reportedAt, heartbeatSeconds].every((v) => typeof v === 'number' && Number.isFinite(v))) {
    return undefined;
  }
  if ((heartbeatSeconds as number) < 1 || (heartbeatSeconds as number) > 86_400) return undefined;
  return {
    secretArn,
    versionId,
    service,
    instance,
    reason: reason as ConsumerReport['reason'],
    usedSince: usedSince as number,
    reportedAt: reportedAt as number,
    heartbeatSeconds: heartbeatSeconds as number,
  };
}

function stringField(detail: Record<string, unknown>, field: string): string | undefined {
  const value = detail[field];
  return typeof value === 'string' && value.length > 0 && value.length <= 2048 ? value : undefined;
}
