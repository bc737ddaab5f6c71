import { hostname } from 'node:os';
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';

/**
 * `source` of consumer reports. Deliberately not `secret-rotation`: every rotation subscription matches that
 * source, and a heartbeat must never wake a fleet of consumers.
 */
export const CONSUMER_REPORT_SOURCE = 'secret-rotation.consumers';

/** `detail-type` of a consumer report. */
export const CONSUMER_REPORT_DETAIL_TYPE = 'Secret Version In Use';

/** Why a consumer reports. */
export const ReportReason = {
  /** The first version of a secret this consumer used. */
  START: 'start',
  /** The consumer moved to another version. */
  CHANGE: 'change',
  /** Still alive, still on the same version. */
  HEARTBEAT: 'heartbeat',
  /** The consumer shuts down: the tracker forgets it at once. */
  STOP: 'stop',
} as const;
export type ReportReason = (typeof ReportReason)[keyof typeof ReportReason];

/** Detail of a consumer report. Names a version, never holds a value. */
export interface ConsumerReportDetail {
  /** The secret's ARN as Secrets Manager returned it with the value. */
  readonly secretArn: string;
  readonly versionId: string;
  readonly service: string;
  readonly instance: string;
  readonly reason: ReportReason;
  /** When this consumer first used `versionId`, ms since the epoch (its clock). */
  readonly usedSince: number;
  /** When the report was made, ms since the epoch; orders reports of one consumer. */
  readonly reportedAt: number;
  /** The heartbeat interval, so the tracker knows when a silent consumer is gone. */
  readonly heartbeatSeconds: number;
}

/** Options of a version reporter. */
export interface VersionReporterOptions {
  readonly eventBridge: EventBridgeClient;
  /** The rotation bus (name or ARN), where the tracker's rule listens. */
  readonly eventBusName: string;
  /** The consumer's service name, e.g. `billing-api`. */
  readonly service: string;
  /**
   * This replica. @default - the Lambda log stream name in Lambda (one per execution environment), else
   * `<hostname>:<pid>`
   */
  readonly instance?: string;
  /** Interval of heartbeats, from 60 s. @default 300_000 (5 minutes) */
  readonly heartbeatIntervalMs?: number;
  /** Called when a report could not be sent; reporting never fails the consumer. */
  readonly onError?: (error: unknown) => void;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

/** Bad reporter options. */
export class VersionReporterConfigurationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'VersionReporterConfigurationError';
  }
}

interface InUse {
  versionId: string;
  usedSince: number;
}

/** EventBridge takes at most ten entries a call. */
const MAX_ENTRIES = 10;

/**
 * Announces which version of which secret this consumer uses, as events on the rotation bus: once when it
 * starts using a secret, once per change of version, and a heartbeat per interval for all of them (batched,
 * ten secrets a call). Feed it with `observe(secretId, versionId)` whenever the consumer fetched a value (the
 * secret cache does with its `onVersion` option); repeated observations of the same version cost nothing.
 *
 * At rest a consumer costs one event per secret per heartbeat interval (with the default five minutes,
 * 8,640 events a month, under one cent). Reports never carry a value, and never fail the consumer.
 */
export class VersionReporter {
  readonly #options: VersionReporterOptions;
  readonly #instance: string;
  readonly #heartbeatMs: number;
  readonly #now: () => number;
  readonly #inUse = new Map<string, InUse>();
  readonly #queue: ConsumerReportDetail[] = [];
  #sending: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Reports sent, for benchmarks and tests. */
  sent = 0;

  constructor(options: VersionReporterOptions) {
    if (!options.service.trim()) {
      throw new VersionReporterConfigurationError('VersionReporter: service must be a non-empty name');
    }
    if (!options.eventBusName.trim()) {
      throw new VersionReporterConfigurationError('VersionReporter: eventBusName must be a bus name or ARN');
    }
    const heartbeatMs = options.heartbeatIntervalMs ?? 300_000;
    if (!Number.isInteger(heartbeatMs) || heartbeatMs < 60_000) {
      throw new VersionReporterConfigurationError(
        `VersionReporter: heartbeatIntervalMs must be an integer of at least 60000, got ${heartbeatMs}`,
      );
    }
    this.#options = options;
    this.#heartbeatMs = heartbeatMs;
    this.#now = options.now ?? Date.now;
    this.#instance = options.instance ?? defaultInstance();
  }

  /** This consumer's instance name, as reported. */
  get instance(): string {
    return this.#instance;
  }

  /**
   * Notes that the consumer uses `versionId` of `secretId` (an ARN, as `GetSecretValue` returns it). Reports
   * `start` or `change` in the background; the same version again reports nothing.
   */
  observe(secretId: string, versionId: string): void {
    const known = this.#inUse.get(secretId);
    if (known?.versionId === versionId) return;
    const usedSince = this.#now();
    this.#inUse.set(secretId, { versionId, usedSince });
    this.#enqueue(secretId, known ? ReportReason.CHANGE : ReportReason.START);
  }

  /** Starts the heartbeats. The first one comes at a random point of the interval, so a fleet spreads out. */
  start(): void {
    if (this.#timer) return;
    this.#schedule(Math.floor(Math.random() * this.#heartbeatMs));
  }

  /** One heartbeat for every secret in use now (the timer calls it; tests and benchmarks may). */
  heartbeat(): Promise<void> {
    for (const secretId of this.#inUse.keys()) this.#enqueue(secretId, ReportReason.HEARTBEAT);
    return this.flush();
  }

  /** Sends what is queued; resolves when nothing is left. */
  async flush(): Promise<void> {
    while (this.#sending) await this.#sending;
  }

  /** Stops the heartbeats and tells the tracker this consumer is gone (`stop`), so it is forgotten at once. */
  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const secretId of this.#inUse.keys()) this.#enqueue(secretId, ReportReason.STOP);
    await this.flush();
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      void this.heartbeat();
      this.#schedule(this.#heartbeatMs);
    }, delayMs);
    this.#timer.unref?.();
  }

  #enqueue(secretId: string, reason: ReportReason): void {
    const inUse = this.#inUse.get(secretId);
    if (!inUse) return;
    this.#queue.push({
      secretArn: secretId,
      versionId: inUse.versionId,
      service: this.#options.service,
      instance: this.#instance,
      reason,
      usedSince: inUse.usedSince,
      reportedAt: this.#now(),
      heartbeatSeconds: Math.round(this.#heartbeatMs / 1000),
    });
    // One call in flight at a time; whatever queues meanwhile goes in the next batch.
    this.#sending ??= this.#drain().finally(() => {
      this.#sending = undefined;
    });
  }

  async #drain(): Promise<void> {
    // Let the reports queued in the same tick (a heartbeat of every secret) join one batch.
    await Promise.resolve();
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_ENTRIES);
      try {
        const out = await this.#options.eventBridge.send(
          new PutEventsCommand({ Entries: batch.map((detail) => this.#entry(detail)) }),
        );
        this.sent += batch.length - (out.FailedEntryCount ?? 0);
        if ((out.FailedEntryCount ?? 0) > 0) {
          const codes = [...new Set((out.Entries ?? []).flatMap((e) => (e.ErrorCode ? [e.ErrorCode] : [])))];
          this.#options.onError?.(
            new Error(`EventBridge rejected ${out.FailedEntryCount} consumer report(s): ${codes.join(', ')}`),
          );
        }
      } catch (error) {
        // Dropped, not retried: the next change or heartbeat says the same, and a retry loop across a fleet
        // would pile onto an EventBridge that is already failing.
        this.#options.onError?.(error);
      }
    }
  }

  #entry(detail: ConsumerReportDetail): PutEventsRequestEntry {
    return {
      EventBusName: this.#options.eventBusName,
      Source: CONSUMER_REPORT_SOURCE,
      DetailType: CONSUMER_REPORT_DETAIL_TYPE,
      Resources: detail.secretArn.startsWith('arn:') ? [detail.secretArn] : [],
      Detail: JSON.stringify(detail),
    };
  }
}

function defaultInstance(): string {
  return process.env.AWS_LAMBDA_LOG_STREAM_NAME ?? `${hostname()}:${process.pid}`;
}
