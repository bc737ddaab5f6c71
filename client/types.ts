/** One version of a secret as a consumer sees it. */
export interface CachedSecret {
  readonly secretId: string;
  readonly versionId: string;
  readonly secretString: string;
  readonly stages: readonly string[];
  /** When this copy was fetched (milliseconds since the epoch), when the source knows. */
  readonly fetchedAt?: number;
}

/** Called when a secret may have changed (a rotation event, a label update, a fallback refresh). */
export type SecretChangeListener = (secretId: string) => void;

/** Per-read bounds a caller may set. */
export interface ReadOptions {
  /**
   * Serve a cached copy only if it was fetched less than this many milliseconds ago, whatever the source's own
   * refresh interval (a verifier that promises a revocation window asks for it). `0` always fetches.
   * A fetch that fails still serves the last good copy within the source's staleness bound.
   */
  readonly maxAgeMs?: number;
}

/**
 * Where consumers read secrets from. The client library's cache implements it; adapters (database pools,
 * API key verifiers, JWT signers and verifiers) depend only on this interface, so tests can give them a
 * simple in-memory source.
 */
export interface SecretValueSource {
  /** The AWSCURRENT version, from the cache when it is fresh. Concurrent callers share one fetch. */
  current(secretId: string, options?: ReadOptions): Promise<CachedSecret>;
  /** The version holding `stage` (`AWSPENDING`, `AWSPREVIOUS`), or `undefined` when no version holds it. */
  stage(secretId: string, stage: string, options?: ReadOptions): Promise<CachedSecret | undefined>;
  /** Marks what is cached for `secretId` as out of date: the next read fetches again. */
  invalidate(secretId: string): void;
  /**
   * Registers a listener for changes; returns a function that removes it. With `secretId`, the listener hears
   * only about that secret (by name, full or partial ARN); without, about every secret.
   */
  onChange(listener: SecretChangeListener, secretId?: string): () => void;
}
