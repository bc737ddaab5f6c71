/** One version of a secret as a consumer sees it. */
export interface CachedSecret {
  readonly secretId: string;
  readonly versionId: string;
  readonly secretString: string;
  readonly stages: readonly string[];
}

/** Called when a secret may have changed (a rotation event, a label update, a fallback refresh). */
export type SecretChangeListener = (secretId: string) => void;

/**
 * Where consumers read secrets from. The client library's cache implements it; adapters (database pools,
 * API key verifiers, JWT signers and verifiers) depend only on this interface, so tests can give them a
 * simple in-memory source.
 */
export interface SecretValueSource {
  /** The AWSCURRENT version, from the cache when it is fresh. Concurrent callers share one fetch. */
  current(secretId: string): Promise<CachedSecret>;
  /** The version holding `stage` (`AWSPENDING`, `AWSPREVIOUS`), or `undefined` when no version holds it. */
  stage(secretId: string, stage: string): Promise<CachedSecret | undefined>;
  /** Drops what is cached for `secretId`: the next read fetches again. Used on rotation events and auth failures. */
  invalidate(secretId: string): void;
  /** Registers a listener for changes of any secret; returns a function that removes it. */
  onChange(listener: SecretChangeListener): () => void;
}
