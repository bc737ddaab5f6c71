import { CredentialsRejectedError } from './errors.js';
import type { CachedSecret, SecretValueSource } from './types.js';

/** Username and password of one secret version, plus the rest of the database secret. */
export interface DatabaseCredentials {
  readonly versionId: string;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly dbname?: string;
}

/** How to make and retire a driver pool, and which driver errors mean "credentials refused". */
export interface PoolDriver<P> {
  create(credentials: DatabaseCredentials): P;
  end(pool: P): Promise<void>;
  /** A cheap round trip that needs a login (e.g. `SELECT 1`). */
  probe(pool: P): Promise<unknown>;
  isAuthError(error: unknown): boolean;
}

/**
 * One driver pool per credential version. Queries go to the pool of the version that works; when the
 * secret rotates, new work goes to a pool with the new credentials while the old pool finishes what it has
 * and closes (open connections are never cut). On an authentication failure the pools are re-resolved:
 * AWSCURRENT fetched anew, then AWSPENDING (which closes single-user rotation's window between setSecret
 * and finishSecret), before giving up.
 */
export class CredentialPools<P> {
  readonly #pools = new Map<string, P>();
  /** Set after a recovery, until the secret changes: the version that works when AWSCURRENT did not. */
  #override: CachedSecret | undefined;
  /** The recovery under way after a refusal of `from`: concurrent failures share it. */
  #recovery: { readonly from: string; readonly result: Promise<CachedSecret> } | undefined;
  readonly #unsubscribe: () => void;
  /** Queries retried with other credentials after an authentication failure. */
  recoveries = 0;

  constructor(
    private readonly source: SecretValueSource,
    private readonly secretId: string,
    private readonly driver: PoolDriver<P>,
  ) {
    this.#unsubscribe = source.onChange(() => {
      this.#override = undefined;
      this.#recovery = undefined;
    });
  }

  /** Runs `work` with a pool whose credentials are valid. */
  async run<T>(work: (pool: P) => Promise<T>): Promise<T> {
    const secret = this.#override ?? (await this.source.current(this.secretId));
    try {
      return await work(this.#poolFor(secret));
    } catch (error) {
      if (!this.driver.isAuthError(error)) throw error;
      return this.#recover(work, secret.versionId, error);
    }
  }

  /** Ends every pool. */
  async end(): Promise<void> {
    this.#unsubscribe();
    await Promise.all([...this.#pools.values()].map((pool) => this.driver.end(pool)));
    this.#pools.clear();
  }

  async #recover<T>(work: (pool: P) => Promise<T>, failedVersion: string, firstError: unknown): Promise<T> {
    this.recoveries++;
    if (this.#recovery?.from !== failedVersion) {
      const result = this.#findWorking(failedVersion, firstError);
      this.#recovery = { from: failedVersion, result };
      result.catch(() => {
        if (this.#recovery?.result === result) this.#recovery = undefined;
      });
    }
    const secret = await this.#recovery.result;
    return work(this.#poolFor(secret));
  }

  /** AWSCURRENT fetched anew, then AWSPENDING: the first whose login works. */
  async #findWorking(failedVersion: string, firstError: unknown): Promise<CachedSecret> {
    const tried = [failedVersion];
    this.source.invalidate(this.secretId);
    const candidates: Array<() => Promise<CachedSecret | undefined>> = [
      () => this.source.current(this.secretId),
      () => this.source.stage(this.secretId, 'AWSPENDING'),
    ];
    let lastError = firstError;
    for (const candidate of candidates) {
      const secret = await candidate();
      if (!secret || tried.includes(secret.versionId)) continue;
      tried.push(secret.versionId);
      try {
        await this.driver.probe(this.#poolFor(secret));
        this.#override = secret;
        return secret;
      } catch (error) {
        if (!this.driver.isAuthError(error)) throw error;
        lastError = error;
      }
    }
    throw new CredentialsRejectedError(this.secretId, tried, { cause: lastError });
  }

  #poolFor(secret: CachedSecret): P {
    const existing = this.#pools.get(secret.versionId);
    if (existing) return existing;
    const pool = this.driver.create(parseCredentials(secret));
    this.#pools.set(secret.versionId, pool);
    // Keep the newest two versions (current and the one before, which alternating users keep valid);
    // older pools finish their work and close their connections.
    for (const [versionId, old] of this.#pools) {
      if (this.#pools.size <= 2) break;
      if (versionId === secret.versionId) continue;
      this.#pools.delete(versionId);
      void this.driver.end(old);
    }
    return pool;
  }
}

function parseCredentials(secret: CachedSecret): DatabaseCredentials {
  const value = JSON.parse(secret.secretString) as Record<string, unknown>;
  return {
    versionId: secret.versionId,
    host: String(value.host),
    port: Number(value.port),
    username: String(value.username),
    password: String(value.password),
    ...(typeof value.dbname === 'string' ? { dbname: value.dbname } : {}),
  };
}
