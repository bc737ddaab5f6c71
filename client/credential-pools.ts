import { CredentialsRejectedError, SecretFormatError } from './errors.js';
import { parseSecretJson } from './secret-cache.js';
import type { CachedSecret, SecretValueSource } from './types.js';

/** Username and password of one secret version, plus the rest of the database secret. */
export interface DatabaseCredentials {
  readonly versionId: string;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly dbname?: string;
  /**
   * The secret's `ssl` (AWS's templates and ours: `true`/`"true"` or `false`/`"false"`); absent means true, as
   * the rotation function reads it. A pool uses verified TLS unless this is false.
   */
  readonly ssl: boolean;
}

/** How to make and retire a driver pool, and which driver errors mean "credentials refused". */
export interface PoolDriver<P> {
  create(credentials: DatabaseCredentials): P;
  end(pool: P): Promise<void>;
  /** A cheap round trip that needs a login (e.g. `SELECT 1`). */
  probe(pool: P): Promise<unknown>;
  isAuthError(error: unknown): boolean;
}

/** What a recovery after a refused login did, for a service's metrics. Never holds a credential. */
export interface RecoveryInfo {
  readonly secretId: string;
  /** The version whose login was refused. */
  readonly fromVersionId: string;
  /** `recovered`: another version logs in; `rejected`: none does; `suppressed`: a recent recovery failed, no call made. */
  readonly outcome: 'recovered' | 'rejected' | 'suppressed';
  /** The version that logs in, when one does. */
  readonly toVersionId?: string;
}

/** Options of the credential pools. */
export interface CredentialPoolsOptions {
  /** After a recovery found no working version, the next is not tried for this long, doubling up to `recoveryBackoffMaxMs`. @default 1_000 */
  readonly recoveryBackoffMs?: number;
  /** @default 300_000 */
  readonly recoveryBackoffMaxMs?: number;
  /** Called after each recovery. */
  readonly onRecovery?: (info: RecoveryInfo) => void;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

interface PoolSlot<P> {
  readonly versionId: string;
  readonly pool: P;
  leases: number;
  retired: boolean;
}

interface Recovery {
  readonly from: string;
  readonly result: Promise<CachedSecret>;
  /** Set when it failed: no new recovery from `from` before this time. */
  retryAt?: number;
  readonly attempt: number;
}

/** A pool held by a caller until `release()`; the pool is not ended while leases are out. */
export interface PoolLease<P, C> {
  readonly pool: P;
  readonly value: C;
  readonly versionId: string;
  release(): void;
}

/**
 * One driver pool per credential version. Queries go to the pool of the version that works; when the
 * secret rotates, new work goes to a pool with the new credentials while the old pool finishes what it has
 * and closes (open connections are never cut, and a request waiting for a connection in a retired pool is
 * served before that pool ends). On an authentication failure the pools are re-resolved: AWSCURRENT read
 * anew, then AWSPENDING (which closes single-user rotation's window between setSecret and finishSecret).
 * Recoveries are single-flight, and a failed one is not repeated before a doubling backoff or a change of
 * the secret: a database that refuses every version costs two `GetSecretValue` per backoff step, not two per
 * failing query.
 */
export class CredentialPools<P> {
  readonly #pools = new Map<string, PoolSlot<P>>();
  readonly #retiring = new Set<PoolSlot<P>>();
  /** Set after a recovery, until the secret changes: the version that works when AWSCURRENT did not. */
  #override: CachedSecret | undefined;
  #recovery: Recovery | undefined;
  readonly #unsubscribe: () => void;
  readonly #backoffMs: number;
  readonly #backoffMaxMs: number;
  readonly #onRecovery: ((info: RecoveryInfo) => void) | undefined;
  readonly #now: () => number;
  /** Queries retried with other credentials after an authentication failure. */
  recoveries = 0;

  constructor(
    private readonly source: SecretValueSource,
    private readonly secretId: string,
    private readonly driver: PoolDriver<P>,
    options: CredentialPoolsOptions = {},
  ) {
    this.#backoffMs = options.recoveryBackoffMs ?? 1_000;
    this.#backoffMaxMs = options.recoveryBackoffMaxMs ?? 300_000;
    this.#onRecovery = options.onRecovery;
    this.#now = options.now ?? Date.now;
    this.#unsubscribe = source.onChange(() => {
      this.#override = undefined;
      this.#recovery = undefined;
    }, secretId);
  }

  /** Runs `work` with a pool whose credentials are valid; the pool stays open until `work` settles. */
  async run<T>(work: (pool: P) => Promise<T>): Promise<T> {
    const lease = await this.acquire(work);
    lease.release();
    return lease.value;
  }

  /**
   * Like `run`, but the pool stays leased after `get` resolves, until `release()` (a checked-out client
   * that the caller returns later). `get` is retried with other credentials when it fails to log in.
   */
  async acquire<C>(get: (pool: P) => Promise<C>): Promise<PoolLease<P, C>> {
    const secret = this.#override ?? (await this.source.current(this.secretId));
    try {
      return await this.#leaseOn(secret, get);
    } catch (error) {
      if (!this.driver.isAuthError(error)) throw error;
      const working = await this.#recover(secret.versionId, error);
      this.recoveries++;
      return this.#leaseOn(working, get);
    }
  }

  /** Every live pool (current and retiring), e.g. to sum their counts. */
  get pools(): readonly P[] {
    return [...[...this.#pools.values()].map((s) => s.pool), ...[...this.#retiring].map((s) => s.pool)];
  }

  /** Ends every pool. */
  async end(): Promise<void> {
    this.#unsubscribe();
    const slots = [...this.#pools.values(), ...this.#retiring];
    this.#pools.clear();
    this.#retiring.clear();
    await Promise.all(slots.map((slot) => this.driver.end(slot.pool)));
  }

  async #leaseOn<C>(secret: CachedSecret, get: (pool: P) => Promise<C>): Promise<PoolLease<P, C>> {
    const slot = this.#slotFor(secret);
    slot.leases++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      slot.leases--;
      if (slot.retired && slot.leases === 0) this.#endRetired(slot);
    };
    try {
      const value = await get(slot.pool);
      return { pool: slot.pool, value, versionId: slot.versionId, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  async #recover(failedVersion: string, error: unknown): Promise<CachedSecret> {
    const now = this.#now();
    const recovery = this.#recovery;
    if (recovery?.from === failedVersion && (recovery.retryAt === undefined || now < recovery.retryAt)) {
      if (recovery.retryAt !== undefined) {
        this.#onRecovery?.({ secretId: this.secretId, fromVersionId: failedVersion, outcome: 'suppressed' });
        throw new CredentialsRejectedError(this.secretId, [failedVersion], { cause: error });
      }
      return recovery.result;
    }
    const attempt = recovery?.from === failedVersion ? recovery.attempt + 1 : 1;
    const result = this.#findWorking(failedVersion, error);
    const created: Recovery = { from: failedVersion, result, attempt };
    this.#recovery = created;
    result.then(
      (found) =>
        this.#onRecovery?.({
          secretId: this.secretId,
          fromVersionId: failedVersion,
          outcome: 'recovered',
          toVersionId: found.versionId,
        }),
      () => {
        created.retryAt =
          this.#now() + Math.min(this.#backoffMaxMs, this.#backoffMs * 2 ** (created.attempt - 1));
        this.#onRecovery?.({ secretId: this.secretId, fromVersionId: failedVersion, outcome: 'rejected' });
      },
    );
    return result;
  }

  /** AWSCURRENT read anew, then AWSPENDING: the first whose login works. */
  async #findWorking(failedVersion: string, firstError: unknown): Promise<CachedSecret> {
    const tried = [failedVersion];
    const candidates: Array<() => Promise<CachedSecret | undefined>> = [
      () => this.source.current(this.secretId, { maxAgeMs: 0 }),
      () => this.source.stage(this.secretId, 'AWSPENDING', { maxAgeMs: 0 }),
    ];
    let lastError = firstError;
    for (const candidate of candidates) {
      const secret = await candidate();
      if (!secret || tried.includes(secret.versionId)) continue;
      tried.push(secret.versionId);
      try {
        await this.driver.probe(this.#slotFor(secret).pool);
        this.#override = secret;
        return secret;
      } catch (error) {
        if (!this.driver.isAuthError(error)) throw error;
        lastError = error;
      }
    }
    throw new CredentialsRejectedError(this.secretId, tried, { cause: lastError });
  }

  #slotFor(secret: CachedSecret): PoolSlot<P> {
    const existing = this.#pools.get(secret.versionId);
    if (existing) return existing;
    const slot: PoolSlot<P> = {
      versionId: secret.versionId,
      pool: this.driver.create(parseCredentials(secret)),
      leases: 0,
      retired: false,
    };
    this.#pools.set(secret.versionId, slot);
    // Keep the newest two versions (current and the one before, which alternating users keep valid);
    // older pools serve what they have (waiting requests included) and end when their last lease returns.
    for (const [versionId, old] of this.#pools) {
      if (this.#pools.size <= 2) break;
      if (versionId === secret.versionId) continue;
      this.#pools.delete(versionId);
      old.retired = true;
      if (old.leases === 0) this.#endRetired(old);
      else this.#retiring.add(old);
    }
    return slot;
  }

  #endRetired(slot: PoolSlot<P>): void {
    this.#retiring.delete(slot);
    this.driver.end(slot.pool).catch(() => undefined);
  }
}

/**
 * The connection fields of a database secret version. Errors name the secret, the version and the field,
 * never the value.
 */
export function parseCredentials(secret: CachedSecret): DatabaseCredentials {
  const value = parseSecretJson(secret);
  const fail = (field: string, problem: string): never => {
    throw new SecretFormatError(secret.secretId, secret.versionId, `field '${field}' ${problem}`);
  };
  const text = (field: string): string => {
    const v = value[field];
    if (typeof v !== 'string' || v === '') return fail(field, 'must be a non-empty string');
    return v;
  };
  const port = typeof value.port === 'string' ? Number(value.port) : value.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) {
    fail('port', 'must be a port number');
  }
  let ssl = true;
  if (value.ssl === false || value.ssl === 'false') ssl = false;
  else if (!(value.ssl === undefined || value.ssl === null || value.ssl === true || value.ssl === 'true')) {
    fail('ssl', 'must be true or false');
  }
  return {
    versionId: secret.versionId,
    host: text('host'),
    port: port as number,
    username: text('username'),
    password: text('password'),
    ssl,
    ...(typeof value.dbname === 'string' && value.dbname !== '' ? { dbname: value.dbname } : {}),
  };
}
