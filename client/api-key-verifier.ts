import { createHash, timingSafeEqual } from 'node:crypto';
import { readApiKey } from './api-key-secret.js';
import { SecretClientError } from './errors.js';
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
   * Current and previous keys are read again at least this often, even without a change notification; this
   * bounds how long a revoked previous key is still accepted when no event arrives. @default 60_000
   */
  readonly refreshIntervalMs?: number;
  /**
   * An unknown key makes the verifier read the secret again, bypassing the cache, at most this often (a
   * caller may learn of a new key before this service does). Unknown keys wait for that read instead of
   * being refused at once, so garbage keys cost at most one read per interval. @default 1_000
   */
  readonly missRefreshIntervalMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  /** Sleeps until the next refresh on a miss; injectable for tests. */
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
  /** The change notifications seen when the read started: a later one makes the set stale. */
  readonly generation: number;
}

/** Longest key considered: a longer one is refused without hashing. */
const MAX_KEY_LENGTH = 4096;
const INVALID: ApiKeyVerification = { valid: false };
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
  readonly #sleep: (ms: number) => Promise<void>;
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
    this.#sleep = options.sleep ?? defaultSleep;
    this.#unsubscribe = this.#source.onChange(() => {
      if (!this.#ownInvalidation) this.#generation++;
    });
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
    if (keys && keys.generation === this.#generation && now - keys.loadedAt < this.#refreshIntervalMs)
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

  /** After a miss: one read that bypasses the cache, at most once per interval, shared by all misses. */
  async #refreshAfterMiss(seen: KeySet): Promise<KeySet | undefined> {
    if (this.#keys && this.#keys !== seen) return this.#keys;
    if (!this.#missRefresh) {
      const wait = Math.max(0, this.#lastMissRefreshAt + this.#missRefreshIntervalMs - this.#now());
      const refresh = (async () => {
        if (wait > 0) await this.#sleep(wait);
        this.#lastMissRefreshAt = this.#now();
        return this.#load(true);
      })();
      this.#missRefresh = refresh
        .catch(() => undefined)
        .finally(() => {
          this.#missRefresh = undefined;
        });
    }
    return this.#missRefresh;
  }

  #load(bypassCache: boolean): Promise<KeySet> {
    // A read under way serves requests only if no change was notified since it started.
    if (this.#loading && !bypassCache && this.#loading.generation === this.#generation) {
      return this.#loading.promise;
    }
    const generation = this.#generation;
    const promise = (async () => {
      if (bypassCache) {
        this.#ownInvalidation = true;
        try {
          this.#source.invalidate(this.#secretId);
        } finally {
          this.#ownInvalidation = false;
        }
      }
      this.loads++;
      const [current, previous] = await Promise.all([
        this.#source.current(this.#secretId),
        this.#source.stage(this.#secretId, 'AWSPREVIOUS'),
      ]);
      const keys = [this.#accepted(current, 'AWSCURRENT')];
      if (previous && previous.versionId !== current.versionId) {
        const accepted = this.#acceptedOrUndefined(previous, 'AWSPREVIOUS');
        if (accepted) keys.push(accepted);
      }
      const set: KeySet = { keys, loadedAt: this.#now(), generation };
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
