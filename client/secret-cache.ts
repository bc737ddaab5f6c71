import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretFormatError, SecretUnavailableError } from './errors.js';
import type { CachedSecret, ReadOptions, SecretChangeListener, SecretValueSource } from './types.js';

/** Defaults of a secret cache. */
export const SECRET_CACHE_DEFAULTS = {
  /** Fallback refresh when no rotation event arrives (AWS's caching libraries default to one hour). */
  refreshIntervalMs: 900_000,
  /** Each entry's refresh comes up to this fraction of the interval early, so a fleet does not refresh in step. */
  refreshJitter: 0.1,
  /** How long the last good value is served while Secrets Manager is throttled or unreachable. */
  maxStaleMs: 86_400_000,
  /** First pause after a failed fetch; doubles with each failure (full jitter) up to `backoffMaxMs`. */
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  /** How long a `stage()` answer (including "no such stage") is reused. */
  stageMaxAgeMs: 30_000,
} as const;

/** Why the cache fetched a secret. */
export type RefreshReason = 'initial' | 'interval' | 'invalidated' | 'requested';

/** A fetch that found a version, as observers see it. Never holds a value. */
export interface RefreshInfo {
  readonly secretId: string;
  readonly versionId: string;
  /** The version cached before, when there was one. */
  readonly previousVersionId?: string;
  readonly reason: RefreshReason;
}

/** A fetch that failed. */
export interface RefreshFailureInfo {
  readonly secretId: string;
  readonly reason: RefreshReason;
  /** The SDK error's name (e.g. `ThrottlingException`). */
  readonly errorName: string;
  readonly consecutiveFailures: number;
  /** The next fetch is not tried before this many milliseconds. */
  readonly retryInMs: number;
}

/** A read answered with a copy older than its refresh time, because fetching failed. */
export interface StaleInfo {
  readonly secretId: string;
  readonly versionId: string;
  /** Milliseconds since the copy was fetched. */
  readonly ageMs: number;
}

/**
 * Hooks a service feeds to its metrics and logs (and version reporting). Each receives ids and reasons, never
 * a value. A hook that throws is ignored.
 */
export interface SecretCacheObserver {
  /** A fetch of AWSCURRENT succeeded (also when the version did not change). */
  readonly onRefresh?: (info: RefreshInfo) => void;
  /** A fetch of AWSCURRENT failed. */
  readonly onRefreshFailed?: (info: RefreshFailureInfo) => void;
  /** A read was served from a stale copy. */
  readonly onStale?: (info: StaleInfo) => void;
}

/** Options of a secret cache. */
export interface SecretCacheOptions {
  /** The Secrets Manager client (against AWS or the local mode). */
  readonly client: SecretsManagerClient;
  /**
   * Fallback: a cached value older than this is fetched again on the next read, for when no rotation event
   * arrives. @default 900_000 (15 minutes)
   */
  readonly refreshIntervalMs?: number;
  /** Fraction of the interval by which each refresh comes early, at random (0 to 1). @default 0.1 */
  readonly refreshJitter?: number;
  /**
   * While fetches fail (throttled, unreachable), reads are answered with the last good value until it is this
   * old; after that they fail with `SecretUnavailableError`. @default 86_400_000 (one day)
   */
  readonly maxStaleMs?: number;
  /** First pause after a failed fetch; doubled with each failure, with full jitter. @default 1_000 */
  readonly backoffBaseMs?: number;
  /** Longest pause between failed fetches. @default 60_000 */
  readonly backoffMaxMs?: number;
  /** How long a `stage()` answer is reused, unless the read asks for less. @default 30_000 */
  readonly stageMaxAgeMs?: number;
  /** Hooks for refreshes, failures and staleness. */
  readonly observer?: SecretCacheObserver;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  /**
   * Called with the secret's ARN and version id after each fetch of AWSCURRENT, e.g.
   * `(arn, versionId) => reporter.observe(arn, versionId)` with a `VersionReporter`. @default - none
   */
  readonly onVersion?: (secretArn: string, versionId: string) => void;
  /** A number in [0, 1); injectable for tests. @default Math.random */
  readonly random?: () => number;
}

interface Entry {
  secret: CachedSecret;
  fetchedAt: number;
  refreshAt: number;
  arn: string;
  name: string;
  /** An event or an invalidation said the copy may be out of date. */
  invalidated: boolean;
}

interface Failure {
  count: number;
  retryAt: number;
  error: unknown;
}

interface StageEntry {
  readonly secret: CachedSecret | undefined;
  readonly fetchedAt: number;
  readonly generation: number;
}

interface Flight<T> {
  readonly generation: number;
  readonly promise: Promise<T>;
}

/** What a rotation event says, as far as the cache cares. */
export interface RotationNotice {
  /** ARN or name of the secret. */
  readonly secretId: string;
  /** The version that became current, when the event says so. */
  readonly versionId?: string;
}

/**
 * A cache of AWSCURRENT for consumers, resilient the way AWS's own caching libraries are:
 * - at most one `GetSecretValue` per secret per rotation: concurrent readers share one in-flight fetch, a
 *   rotation event invalidates only when it names a version not seen as current yet, and an event that
 *   arrives while a fetch is under way makes that fetch's answer count as out of date unless it is the
 *   version the event names;
 * - the refresh interval is jittered per entry, so a fleet does not refresh in step;
 * - when a fetch fails, reads get the last good value (up to `maxStaleMs`) and the next fetch waits an
 *   exponential, fully jittered backoff: however many requests arrive, a throttled or unreachable Secrets
 *   Manager sees at most one call per backoff step per secret;
 * - an invalidation keeps the copy (for stale-on-error); it only forces the next read to fetch.
 */
export class SecretCache implements SecretValueSource {
  readonly #client: SecretsManagerClient;
  readonly #refreshIntervalMs: number;
  readonly #jitter: number;
  readonly #maxStaleMs: number;
  readonly #backoffBaseMs: number;
  readonly #backoffMaxMs: number;
  readonly #stageMaxAgeMs: number;
  readonly #observer: SecretCacheObserver;
  readonly #now: () => number;
  readonly #onVersion: ((secretArn: string, versionId: string) => void) | undefined;
  readonly #random: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #failures = new Map<string, Failure>();
  readonly #generations = new Map<string, number>();
  readonly #inFlight = new Map<string, Flight<CachedSecret>>();
  readonly #stages = new Map<string, StageEntry>();
  readonly #stageFlights = new Map<string, Flight<CachedSecret | undefined>>();
  readonly #seenVersions = new Map<string, Set<string>>();
  /** Versions rotation events named that no fetch has returned yet, per secret. */
  readonly #awaited = new Map<string, Set<string>>();
  /** The generation of the last notice that named no version, per secret. */
  readonly #unnamedAt = new Map<string, number>();
  readonly #listeners = new Set<{ readonly listener: SecretChangeListener; readonly secretId?: string }>();
  readonly #json = new WeakMap<CachedSecret, unknown>();
  /** Number of `GetSecretValue` calls made, for benchmarks and tests. */
  fetches = 0;

  constructor(options: SecretCacheOptions) {
    this.#client = options.client;
    this.#refreshIntervalMs = nonNegative('refreshIntervalMs', options.refreshIntervalMs, 900_000);
    this.#jitter = nonNegative('refreshJitter', options.refreshJitter, SECRET_CACHE_DEFAULTS.refreshJitter);
    if (this.#jitter > 1)
      throw new RangeError(`SecretCache: refreshJitter must be 0 to 1, got ${this.#jitter}`);
    this.#maxStaleMs = nonNegative('maxStaleMs', options.maxStaleMs, SECRET_CACHE_DEFAULTS.maxStaleMs);
    this.#backoffBaseMs = nonNegative(
      'backoffBaseMs',
      options.backoffBaseMs,
      SECRET_CACHE_DEFAULTS.backoffBaseMs,
    );
    this.#backoffMaxMs = nonNegative(
      'backoffMaxMs',
      options.backoffMaxMs,
      SECRET_CACHE_DEFAULTS.backoffMaxMs,
    );
    this.#stageMaxAgeMs = nonNegative(
      'stageMaxAgeMs',
      options.stageMaxAgeMs,
      SECRET_CACHE_DEFAULTS.stageMaxAgeMs,
    );
    this.#observer = options.observer ?? {};
    this.#now = options.now ?? Date.now;
    this.#onVersion = options.onVersion;
    this.#random = options.random ?? Math.random;
  }

  /**
   * AWSCURRENT: the cached copy while it is fresh, else one shared fetch. When the fetch fails, the last good
   * copy (up to `maxStaleMs` old) answers.
   *
   * @throws SecretUnavailableError when nothing usable is cached and the fetch fails (or waits out a backoff).
   */
  async current(secretId: string, options: ReadOptions = {}): Promise<CachedSecret> {
    const key = this.#keyFor(secretId);
    const entry = this.#entries.get(key);
    const now = this.#now();
    const maxAge = options.maxAgeMs;
    if (
      entry &&
      !entry.invalidated &&
      now < entry.refreshAt &&
      (maxAge === undefined || now - entry.fetchedAt < maxAge)
    ) {
      return entry.secret;
    }
    const failure = this.#failures.get(key);
    if (failure && now < failure.retryAt) return this.#staleOr(key, entry, failure.error);
    const reason: RefreshReason = !entry
      ? 'initial'
      : entry.invalidated
        ? 'invalidated'
        : now >= entry.refreshAt
          ? 'interval'
          : 'requested';
    const generation = this.#generation(key);
    // Known from now on, so that a notice naming the secret otherwise (ARN or name) during the fetch finds it.
    this.#generations.set(key, generation);
    let flight = this.#inFlight.get(key);
    if (!flight || flight.generation !== generation) {
      const promise = this.#fetchCurrent(key, secretId, generation, reason);
      const created: Flight<CachedSecret> = { generation, promise };
      flight = created;
      this.#inFlight.set(key, created);
      promise.then(
        () => this.#endFlight(key, created),
        () => this.#endFlight(key, created),
      );
    }
    try {
      return await flight.promise;
    } catch (error) {
      return this.#staleOr(key, this.#entries.get(key), error);
    }
  }

  /**
   * AWSCURRENT parsed as JSON, typed by the caller (parsed once per version). An optional `validate` checks the
   * shape and returns the typed value.
   *
   * @throws SecretFormatError naming the secret and version (never the value) when it is not a JSON object.
   */
  async json<T = Record<string, unknown>>(
    secretId: string,
    validate?: (value: Record<string, unknown>) => T,
  ): Promise<T> {
    const secret = await this.current(secretId);
    if (!validate && this.#json.has(secret)) return this.#json.get(secret) as T;
    const value = parseSecretJson(secret);
    const typed = validate ? validate(value) : (value as T);
    if (!validate) this.#json.set(secret, typed);
    return typed;
  }

  /**
   * The version holding `stage`, or `undefined` when none does. Answers are reused for `stageMaxAgeMs` (or
   * the read's `maxAgeMs`) and shared by concurrent readers; a change notification drops them.
   */
  async stage(secretId: string, stage: string, options: ReadOptions = {}): Promise<CachedSecret | undefined> {
    const key = this.#keyFor(secretId);
    const slot = `${key}\u0000${stage}`;
    const generation = this.#generation(key);
    this.#generations.set(key, generation);
    const cached = this.#stages.get(slot);
    const maxAge = Math.min(options.maxAgeMs ?? this.#stageMaxAgeMs, this.#stageMaxAgeMs);
    if (cached && cached.generation === generation && this.#now() - cached.fetchedAt < maxAge) {
      return cached.secret;
    }
    let flight = this.#stageFlights.get(slot);
    if (!flight || flight.generation !== generation) {
      const promise = this.#fetchStage(secretId, stage).then((secret) => {
        if (this.#generation(key) === generation) {
          this.#stages.set(slot, { secret, fetchedAt: this.#now(), generation });
        }
        return secret;
      });
      const created = { generation, promise };
      flight = created;
      this.#stageFlights.set(slot, created);
      promise.then(
        () => this.#stageFlights.get(slot) === created && this.#stageFlights.delete(slot),
        () => this.#stageFlights.get(slot) === created && this.#stageFlights.delete(slot),
      );
    }
    return flight.promise;
  }

  /** Marks `secretId` (name, full or partial ARN) out of date; the copy is kept for stale-on-error. */
  invalidate(secretId: string): void {
    this.#invalidate(secretId, undefined);
  }

  onChange(listener: SecretChangeListener, secretId?: string): () => void {
    const registration = { listener, ...(secretId !== undefined ? { secretId } : {}) };
    this.#listeners.add(registration);
    return () => this.#listeners.delete(registration);
  }

  /**
   * Applies a rotation notice. Returns whether the cache was invalidated: not when the notice names a
   * version this cache has already seen as current (a duplicate or late event).
   */
  notify(notice: RotationNotice): boolean {
    const seen = this.#seenFor(notice.secretId);
    if (notice.versionId && seen?.has(notice.versionId)) return false;
    this.#invalidate(notice.secretId, notice.versionId);
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

  /** Drops every cached copy's freshness (after a gap in the event stream, e.g. a recreated queue). */
  invalidateAll(): void {
    for (const entry of this.#entries.values()) this.#invalidate(entry.arn, undefined);
  }

  /** The ids (as first read) of the secrets this cache holds. */
  get secretIds(): readonly string[] {
    return [...this.#entries.keys()];
  }

  #invalidate(secretId: string, versionId: string | undefined): void {
    const keys = new Set<string>();
    for (const [key, entry] of this.#entries) {
      if (sameSecret(secretId, key) || sameSecret(secretId, entry.arn) || sameSecret(secretId, entry.name)) {
        keys.add(key);
      }
    }
    for (const key of this.#generations.keys()) if (sameSecret(secretId, key)) keys.add(key);
    for (const key of keys) {
      const next = this.#generation(key) + 1;
      this.#generations.set(key, next);
      const entry = this.#entries.get(key);
      if (entry) entry.invalidated = true;
      if (versionId) {
        const awaited = this.#awaited.get(key) ?? new Set<string>();
        awaited.add(versionId);
        this.#awaited.set(key, awaited);
      } else {
        this.#unnamedAt.set(key, next);
      }
      // A change is news: the next read may fetch at once, whatever backoff a failure set.
      this.#failures.delete(key);
    }
    const ids = new Set([secretId, ...keys]);
    for (const { listener, secretId: wanted } of this.#listeners) {
      if (
        wanted !== undefined &&
        !ids.has(this.#keyFor(wanted)) &&
        ![...ids].some((id) => sameSecret(wanted, id))
      )
        continue;
      try {
        listener(secretId);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  #keyFor(secretId: string): string {
    if (this.#entries.has(secretId)) return secretId;
    for (const [key, entry] of this.#entries) {
      if (entry.arn === secretId || entry.name === secretId) return key;
    }
    return secretId;
  }

  #generation(key: string): number {
    return this.#generations.get(key) ?? 0;
  }

  #endFlight(key: string, flight: Flight<CachedSecret>): void {
    if (this.#inFlight.get(key) === flight) this.#inFlight.delete(key);
  }

  #staleOr(key: string, entry: Entry | undefined, error: unknown): CachedSecret {
    const now = this.#now();
    if (entry && now - entry.fetchedAt <= this.#maxStaleMs) {
      this.#emit('onStale', {
        secretId: key,
        versionId: entry.secret.versionId,
        ageMs: now - entry.fetchedAt,
      });
      return entry.secret;
    }
    if (error instanceof SecretUnavailableError) throw error;
    throw new SecretUnavailableError(
      key,
      `Secret ${key} could not be read (${errorName(error)})${entry ? ` and the cached copy is older than maxStaleMs (${this.#maxStaleMs} ms)` : ''}`,
      { cause: error },
    );
  }

  #seenFor(secretId: string): Set<string> | undefined {
    for (const [key, entry] of this.#entries) {
      if (sameSecret(secretId, key) || sameSecret(secretId, entry.arn) || sameSecret(secretId, entry.name))
        return this.#seenVersions.get(entry.arn);
    }
    return this.#seenVersions.get(secretId);
  }

  async #fetchCurrent(
    key: string,
    secretId: string,
    generation: number,
    reason: RefreshReason,
  ): Promise<CachedSecret> {
    this.fetches++;
    let out: Awaited<ReturnType<typeof this.getValue>>;
    try {
      // Always name the stage: without it some emulators answer with a stale version.
      out = await this.getValue(secretId, 'AWSCURRENT');
    } catch (error) {
      const failures = (this.#failures.get(key)?.count ?? 0) + 1;
      const ceiling = Math.min(this.#backoffMaxMs, this.#backoffBaseMs * 2 ** (failures - 1));
      const retryInMs = Math.round(ceiling * (0.5 + this.#random() / 2));
      this.#failures.set(key, { count: failures, retryAt: this.#now() + retryInMs, error });
      this.#emit('onRefreshFailed', {
        secretId: key,
        reason,
        errorName: errorName(error),
        consecutiveFailures: failures,
        retryInMs,
      });
      throw error;
    }
    this.#failures.delete(key);
    if (out.SecretString === undefined || out.VersionId === undefined) {
      throw new SecretUnavailableError(key, `Secret ${key} has no string value at AWSCURRENT`);
    }
    const previous = this.#entries.get(key);
    const secret: CachedSecret = {
      secretId,
      versionId: out.VersionId,
      secretString: out.SecretString,
      stages: out.VersionStages ?? ['AWSCURRENT'],
      fetchedAt: this.#now(),
    };
    const arn = out.ARN ?? secretId;
    const seen = this.#seenVersions.get(arn) ?? new Set<string>();
    seen.add(out.VersionId);
    this.#seenVersions.set(arn, seen);
    const now = this.#now();
    const awaited = this.#awaited.get(key);
    awaited?.delete(out.VersionId);
    // A notice that arrived while this fetch was under way: the answer may predate it, unless it is the very
    // version the notice named (and no notice without a version came).
    const outdated =
      this.#generation(key) !== generation &&
      ((awaited?.size ?? 0) > 0 || (this.#unnamedAt.get(key) ?? -1) > generation);
    if (!outdated) this.#awaited.delete(key);
    this.#entries.set(key, {
      secret,
      fetchedAt: now,
      refreshAt: now + this.#refreshIntervalMs * (1 - this.#jitter * this.#random()),
      arn,
      name: out.Name ?? secretId,
      invalidated: outdated,
    });
    this.#emit('onRefresh', {
      secretId: key,
      versionId: out.VersionId,
      ...(previous ? { previousVersionId: previous.secret.versionId } : {}),
      reason,
    });
    this.#onVersion?.(arn, out.VersionId);
    return secret;
  }

  async #fetchStage(secretId: string, stage: string): Promise<CachedSecret | undefined> {
    try {
      this.fetches++;
      const out = await this.getValue(secretId, stage);
      if (out.SecretString === undefined || out.VersionId === undefined) return undefined;
      return {
        secretId,
        versionId: out.VersionId,
        secretString: out.SecretString,
        stages: out.VersionStages ?? [],
        fetchedAt: this.#now(),
      };
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }

  /** One `GetSecretValue`; protected so that tests and benchmarks can count or delay calls. */
  protected getValue(secretId: string, stage: string) {
    return this.#client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
  }

  #emit<K extends keyof SecretCacheObserver>(
    hook: K,
    info: Parameters<NonNullable<SecretCacheObserver[K]>>[0],
  ): void {
    try {
      (this.#observer[hook] as ((i: typeof info) => void) | undefined)?.(info);
    } catch {
      // an observer's failure must not fail a read
    }
  }
}

/**
 * Parses a secret version's JSON object. On failure, the error names the secret and version only: `JSON.parse`
 * quotes the start of its input in its message, so its error is not kept.
 */
export function parseSecretJson(secret: CachedSecret): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(secret.secretString);
  } catch {
    throw new SecretFormatError(secret.secretId, secret.versionId, 'is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SecretFormatError(secret.secretId, secret.versionId, 'is not a JSON object');
  }
  return value as Record<string, unknown>;
}

/**
 * Whether two ids name the same secret: equal, or a name and an ARN of it (full, with Secrets Manager's
 * six-character suffix, or partial, without).
 */
export function sameSecret(a: string, b: string): boolean {
  if (a === b) return true;
  const nameA = nameOf(a);
  const nameB = nameOf(b);
  if (a.startsWith('arn:') && b.startsWith('arn:')) {
    // a full and a partial ARN of one secret
    return a.startsWith(`${b}-`) || b.startsWith(`${a}-`);
  }
  return nameA.some((n) => nameB.includes(n));
}

/** The names an id may stand for: an ARN's resource with and without the random suffix, or the id itself. */
function nameOf(id: string): string[] {
  const match = /^arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:(.+)$/.exec(id);
  if (!match?.[1]) return [id];
  const resource = match[1];
  const suffixed = /^(.+)-[A-Za-z0-9]{6}$/.exec(resource);
  return suffixed?.[1] ? [resource, suffixed[1]] : [resource];
}

function errorName(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : 'Error';
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value >= 0)) throw new RangeError(`SecretCache: ${name} must be zero or more, got ${value}`);
  return value;
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
    const additional = (detail.additionalEventData ?? {}) as Record<string, unknown>;
    const candidates = [
      detail.secretArn,
      detail.secretId,
      request.secretId,
      additional.SecretId,
      Array.isArray(e.resources) ? e.resources[0] : undefined,
    ];
    const secretId = candidates.find((c): c is string => typeof c === 'string' && c.length > 0);
    return secretId ? { secretId } : undefined;
  }
  return undefined;
}
