import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CachedSecret, SecretChangeListener, SecretValueSource } from './types.js';

/** Options of a secret cache. */
export interface SecretCacheOptions {
  /** The Secrets Manager client (against AWS or the local mode). */
  readonly client: SecretsManagerClient;
  /**
   * Fallback: a cached value older than this is fetched again on the next read, for when no rotation event
   * arrives. @default 900_000 (15 minutes)
   */
  readonly refreshIntervalMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  /**
   * Called with the secret's ARN and version id after each fetch of AWSCURRENT, e.g.
   * `(arn, versionId) => reporter.observe(arn, versionId)` with a `VersionReporter`. @default - none
   */
  readonly onVersion?: (secretArn: string, versionId: string) => void;
}

interface Entry {
  readonly secret: CachedSecret;
  readonly fetchedAt: number;
  readonly arn: string;
  readonly name: string;
}

/** What a rotation event says, as far as the cache cares. */
export interface RotationNotice {
  /** ARN or name of the secret. */
  readonly secretId: string;
  /** The version that became current, when the event says so. */
  readonly versionId?: string;
}

/**
 * A cache of AWSCURRENT for consumers. At most one `GetSecretValue` per secret per rotation: concurrent
 * readers share one in-flight fetch, a rotation event invalidates only when it names a version not seen
 * as current yet, and events that arrive late, twice or out of order never cause a step back (the cache
 * always fetches AWSCURRENT, never the version an event names).
 */
export class SecretCache implements SecretValueSource {
  readonly #client: SecretsManagerClient;
  readonly #refreshIntervalMs: number;
  readonly #now: () => number;
  readonly #onVersion: ((secretArn: string, versionId: string) => void) | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<CachedSecret>>();
  readonly #seenVersions = new Map<string, Set<string>>();
  readonly #listeners = new Set<SecretChangeListener>();
  /** Number of `GetSecretValue` calls made, for benchmarks and tests. */
  fetches = 0;

  constructor(options: SecretCacheOptions) {
    this.#client = options.client;
    this.#refreshIntervalMs = options.refreshIntervalMs ?? 900_000;
    this.#now = options.now ?? Date.now;
    this.#onVersion = options.onVersion;
  }

  async current(secretId: string): Promise<CachedSecret> {
    const entry = this.#entries.get(secretId);
    if (entry && this.#now() - entry.fetchedAt < this.#refreshIntervalMs) return entry.secret;
    let pending = this.#inFlight.get(secretId);
    if (!pending) {
      pending = this.#fetchCurrent(secretId).finally(() => this.#inFlight.delete(secretId));
      this.#inFlight.set(secretId, pending);
    }
    return pending;
  }

  async stage(secretId: string, stage: string): Promise<CachedSecret | undefined> {
    try {
      this.fetches++;
      const out = await this.#client.send(
        new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }),
      );
      if (out.SecretString === undefined || out.VersionId === undefined) return undefined;
      return {
        secretId,
        versionId: out.VersionId,
        secretString: out.SecretString,
        stages: out.VersionStages ?? [],
      };
    } catch (error) {
      if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }

  invalidate(secretId: string): void {
    for (const [key, entry] of this.#entries) {
      if (key === secretId || entry.arn === secretId || entry.name === secretId) this.#entries.delete(key);
    }
    for (const listener of this.#listeners) listener(secretId);
  }

  onChange(listener: SecretChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Applies a rotation notice. Returns whether the cache was invalidated: not when the notice names a
   * version this cache has already seen as current (a duplicate or late event).
   */
  notify(notice: RotationNotice): boolean {
    const seen = this.#seenFor(notice.secretId);
    if (notice.versionId && seen?.has(notice.versionId)) return false;
    this.invalidate(notice.secretId);
    return true;
  }

  /**
   * Handles an EventBridge event as delivered to a Lambda consumer or read from an SQS queue: our
   * `Secret Rotated` and the `api-key-revoked` follow-up (source `secret-rotation`), and Secrets Manager's own events (source
   * `aws.secretsmanager`, e.g. `Secret Label Updated`, or CloudTrail API calls that move labels). Anything
   * else is ignored. Returns whether the cache was invalidated.
   */
  handleEvent(event: unknown): boolean {
    const notice = noticeFromEvent(event);
    return notice ? this.notify(notice) : false;
  }

  #seenFor(secretId: string): Set<string> | undefined {
    for (const [key, entry] of this.#entries) {
      if (key === secretId || entry.arn === secretId || entry.name === secretId)
        return this.#seenVersions.get(entry.arn);
    }
    return this.#seenVersions.get(secretId);
  }

  async #fetchCurrent(secretId: string): Promise<CachedSecret> {
    this.fetches++;
    // Always name the stage: without it some emulators answer with a stale version.
    const out = await this.#client.send(
      new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }),
    );
    if (out.SecretString === undefined || out.VersionId === undefined) {
      throw new Error(`Secret ${secretId} has no string value at AWSCURRENT`);
    }
    const secret: CachedSecret = {
      secretId,
      versionId: out.VersionId,
      secretString: out.SecretString,
      stages: out.VersionStages ?? ['AWSCURRENT'],
    };
    const arn = out.ARN ?? secretId;
    const seen = this.#seenVersions.get(arn) ?? new Set<string>();
    seen.add(out.VersionId);
    this.#seenVersions.set(arn, seen);
    this.#entries.set(secretId, { secret, fetchedAt: this.#now(), arn, name: out.Name ?? secretId });
    this.#onVersion?.(arn, out.VersionId);
    return secret;
  }
}

/** The secret and version an EventBridge event is about, if it is a rotation event. */
export function noticeFromEvent(event: unknown): RotationNotice | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const e = event as {
    source?: unknown;
    'detail-type'?: unknown;
    detail?: Record<string, unknown>;
    resources?: unknown;
  };
  const detail = e.detail ?? {};
  if (e.source === 'secret-rotation' && e['detail-type'] === 'Secret Rotated') {
    const secretId = typeof detail.secretArn === 'string' ? detail.secretArn : undefined;
    if (!secretId) return undefined;
    return { secretId, ...(typeof detail.versionId === 'string' ? { versionId: detail.versionId } : {}) };
  }
  // A revoked API key left AWSPREVIOUS: verifiers that accept the previous key must read again. The current
  // version did not change, so the notice names none.
  if (
    e.source === 'secret-rotation' &&
    e['detail-type'] === 'Secret Rotation Follow-up' &&
    detail.action === 'api-key-revoked' &&
    typeof detail.secretArn === 'string'
  ) {
    return { secretId: detail.secretArn };
  }
  if (e.source === 'aws.secretsmanager') {
    const request = (detail.requestParameters ?? {}) as Record<string, unknown>;
    const candidates = [
      detail.secretArn,
      detail.secretId,
      request.secretId,
      Array.isArray(e.resources) ? e.resources[0] : undefined,
    ];
    const secretId = candidates.find((c): c is string => typeof c === 'string' && c.length > 0);
    return secretId ? { secretId } : undefined;
  }
  return undefined;
}
