import { createHash, timingSafeEqual } from 'node:crypto';
import { readApiKey } from './api-key-secret.js';
import { SecretClientError } from './errors.js';
import { SecretCache } from './secret-cache.js';
import type { CachedSecret, SecretValueSource } from './types.js';

/** Options of an API key verifier. */
export interface ApiKeyVerifierOptions {
  /** Where secrets are read from (a `SecretCache`, refreshed by rotation events). */
  readonly source: SecretValueSource;
  /** ARN or name of the API key secret (a self-issued key). */
  readonly secretId: string;
  /** Field of the secret's JSON holding the key. @default 'apiKey' */
  readonly field?: string;
  /**
   * Current and previous keys are read again at least this often, even without a change notification,
   * whatever the source's own cache settings: this bounds how long a revoked key is still accepted when no
   * event arrives (emergency revocation included). Costs two `GetSecretValue` per interval. @default 60_000
   */
  readonly refreshIntervalMs?: number;
  /**
   * An unknown key makes the verifier read AWSCURRENT anew at most this often (a caller may learn of a new key
   * before this service does), without flushing the cache other consumers share. An unknown key that arrives
   * within this interval after such a read is refused at once, so a flood of garbage keys costs at most one
   * read per interval and holds no request. @default 1_000
   */
  readonly missRefreshIntervalMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  /**
   * @deprecated Unused: an unknown key no longer waits for the next allowed read, it is refused at once.
   * Accepted so that existing callers compile.
   */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The stage a key was accepted as. */
export type AcceptedStage = 'AWSCURRENT' | 'AWSPREVIOUS';

/** The outcome of a verification. Never holds the key. */
export interface ApiKeyVerification {
  readonly valid: boolean;
  readonly stage?: AcceptedStage;
  readonly versionId?: string;
  readonly keyId?: string;
}

interface AcceptedKey {
  readonly digest: Buffer;
  readonly stage: AcceptedStage;
  readonly versionId: string;
  readonly keyId?: string;
}

interface KeySet {
  readonly keys: readonly AcceptedKey[];
  readonly loadedAt: number;
  /** When the oldest copy it was built from was fetched: the set is stale `refreshIntervalMs` after. */
  readonly readAt: number;
  /** The change notifications seen when the read started: a later one makes the set stale. */
  readonly generation: number;
}

/** Longest key considered: a longer one is refused without hashing. */
const MAX_KEY_LENGTH = 4096;
const INVALID: ApiKeyVerification = { valid: false };

/**
 * Verifies self-issued API keys in the service that accepts them. Accepts the AWSCURRENT key and, during its
 * grace period, the AWSPREVIOUS key: the rotation function revokes a previous key by removing its AWSPREVIOUS
 * label, and the verifier stops accepting it at its next read (a change notification from the source, e.g. a
 * rotation event through `SecretCache.handleEvent`, or `refreshIntervalMs`). The pending key is not accepted.
 *
 * Keys are compared as SHA-256 digests with `timingSafeEqual`, against every accepted key, so the time taken
 * tells nothing about how much of a key matched or which one did.
 */
export class ApiKeyVerifier {
  readonly #source: SecretValueSource;
  readonly #secretId: string;
  readonly #field: string;
  readonly #refreshIntervalMs: number;
  readonly #missRefreshIntervalMs: number;
  readonly #now: () => number;
  readonly #unsubscribe: () => void;
  #keys: KeySet | undefined;
  /** Change notifications received; a key set read before the latest one is stale. */
  #generation = 0;
  #loading: { readonly generation: number; readonly promise: Promise<KeySet> } | undefined;
  /** When the last read failed: reads are not retried on every request while Secrets Manager is away. */
  #failedAt = Number.NEGATIVE_INFINITY;
  #missRefresh: Promise<KeySet | undefined> | undefined;
  #lastMissRefreshAt = Number.NEGATIVE_INFINITY;
  #ownInvalidation = false;
  /** Reads of the secret made, for tests and benchmarks. */
  loads = 0;

  constructor(options: ApiKeyVerifierOptions) {
    this.#source = options.source;
    this.#secretId = options.secretId;
    this.#field = options.field ?? 'apiKey';
    this.#refreshIntervalMs = options.refreshIntervalMs ?? 60_000;
    this.#missRefreshIntervalMs = options.missRefreshIntervalMs ?? 1_000;
    this.#now = options.now ?? Date.now;
    this.#unsubscribe = this.#source.onChange(() => {
      if (!this.#ownInvalidation) this.#generation++;
    }, this.#secretId);
  }

  /** Whether `presented` is the current key or the previous key still in its grace period. */
  async verify(presented: string | null | undefined): Promise<ApiKeyVerification> {
    if (typeof presented !== 'string' || presented === '' || presented.length > MAX_KEY_LENGTH)
      return INVALID;
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    const keys = await this.#fresh();
    const match = findMatch(keys, digest);
    if (match) return match;
    const refreshed = await this.#refreshAfterMiss(keys);
    return (refreshed && findMatch(refreshed, digest)) ?? INVALID;
  }

  /** `verify(presented).valid`. */
  async isValid(presented: string | null | undefined): Promise<boolean> {
    return (await this.verify(presented)).valid;
  }

  /** Stops listening to the source. */
  close(): void {
    this.#unsubscribe();
  }

  async #fresh(): Promise<KeySet> {
    const keys = this.#keys;
    const now = this.#now();
    if (keys && keys.generation === this.#generation && now - keys.readAt < this.#refreshIntervalMs)
      return keys;
    if (keys && now - this.#failedAt < this.#missRefreshIntervalMs) return keys;
    try {
      return await this.#load(false);
    } catch (error) {
      // Keep verifying with what we know rather than refusing every caller while Secrets Manager is away.
      this.#failedAt = this.#now();
      if (keys) return keys;
      throw error;
    }
  }

  /**
   * After a miss: one read of AWSCURRENT anew, shared by concurrent misses. A miss within
   * `missRefreshIntervalMs` of the last such read is refused at once (no waiting, no read).
   */
  async #refreshAfterMiss(seen: KeySet): Promise<KeySet | undefined> {
    if (this.#keys && this.#keys !== seen) return this.#keys;
    if (this.#missRefresh) return this.#missRefresh;
    if (this.#now() - this.#lastMissRefreshAt < this.#missRefreshIntervalMs) return undefined;
    this.#lastMissRefreshAt = this.#now();
    this.#missRefresh = this.#load(true)
      .catch(() => undefined)
      .finally(() => {
        this.#missRefresh = undefined;
      });
    return this.#missRefresh;
  }

  #load(bypassCache: boolean): Promise<KeySet> {
    // A read under way serves requests only if no change was notified since it started.
    if (this.#loading && !bypassCache && this.#loading.generation === this.#generation) {
      return this.#loading.promise;
    }
    const generation = this.#generation;
    const promise = (async () => {
      const isCache = this.#source instanceof SecretCache;
      if (bypassCache && !isCache) {
        // A source that may not honour maxAgeMs: invalidate it (without counting our own notification).
        this.#ownInvalidation = true;
        try {
          this.#source.invalidate(this.#secretId);
        } finally {
          this.#ownInvalidation = false;
        }
      }
      this.loads++;
      const maxAgeMs = bypassCache ? 0 : this.#refreshIntervalMs;
      const [current, previous] = await Promise.all([
        this.#source.current(this.#secretId, { maxAgeMs }),
        this.#source.stage(this.#secretId, 'AWSPREVIOUS', { maxAgeMs: this.#refreshIntervalMs }),
      ]);
      const keys = [this.#accepted(current, 'AWSCURRENT')];
      if (previous && previous.versionId !== current.versionId) {
        const accepted = this.#acceptedOrUndefined(previous, 'AWSPREVIOUS');
        if (accepted) keys.push(accepted);
      }
      const loadedAt = this.#now();
      const readAt = Math.min(current.fetchedAt ?? loadedAt, previous?.fetchedAt ?? loadedAt);
      const set: KeySet = { keys, loadedAt, readAt, generation };
      // A slower read that started earlier must not replace a newer one.
      if (!this.#keys || this.#keys.generation <= generation) this.#keys = set;
      return set;
    })();
    const loading = { generation, promise };
    this.#loading = loading;
    promise
      .finally(() => {
        if (this.#loading === loading) this.#loading = undefined;
      })
      .catch(() => undefined);
    return promise;
  }

  #accepted(secret: CachedSecret, stage: AcceptedStage): AcceptedKey {
    const key = this.#acceptedOrUndefined(secret, stage);
    if (!key) {
      throw new SecretClientError(
        `Secret ${this.#secretId} (${stage}, version ${secret.versionId}) has no string field '${this.#field}'`,
      );
    }
    return key;
  }

  #acceptedOrUndefined(secret: CachedSecret, stage: AcceptedStage): AcceptedKey | undefined {
    const key = readApiKey(secret.secretString, this.#field);
    if (!key) return undefined;
    return {
      digest: createHash('sha256').update(key.value, 'utf8').digest(),
      stage,
      versionId: secret.versionId,
      ...(key.keyId !== undefined ? { keyId: key.keyId } : {}),
    };
  }
}

function findMatch(keys: KeySet, digest: Buffer): ApiKeyVerification | undefined {
  let match: AcceptedKey | undefined;
  // Every key is compared, whatever matched first.
  for (const key of keys.keys) {
    if (timingSafeEqual(key.digest, digest) && !match) match = key;
  }
  if (!match) return undefined;
  return {
    valid: true,
    stage: match.stage,
    versionId: match.versionId,
    ...(match.keyId ? { keyId: match.keyId } : {}),
  };
}
