import { EventEmitter } from 'node:events';
import {
  Pool,
  type PoolClient,
  type PoolConfig,
  type QueryConfig,
  type QueryConfigValues,
  type QueryResult,
  type QueryResultRow,
} from 'pg';
import {
  CredentialPools,
  type CredentialPoolsOptions,
  type DatabaseCredentials,
  type RecoveryInfo,
} from './credential-pools.js';
import type { SecretValueSource } from './types.js';

/** Options of a PostgreSQL pool that follows a rotated secret. */
export interface RotatingPgPoolOptions {
  readonly source: SecretValueSource;
  /** ARN or name of the database secret. */
  readonly secretId: string;
  /**
   * Any other `pg` pool settings (max, idle timeout, `ssl` with a CA, ...); host, port, user and password
   * come from the secret. TLS: unless the secret says `ssl: false`, connections use TLS with the server's
   * certificate verified (`ssl` here gives the CA or servername; `ssl: false` here does not turn TLS off
   * while the secret asks for it, as the rotation function reads the same field).
   */
  readonly pool?: Omit<PoolConfig, 'host' | 'port' | 'user' | 'password'>;
  /** Called after each recovery from a refused login (for metrics). */
  readonly onRecovery?: (info: RecoveryInfo) => void;
  /** Backoff of failed recoveries. */
  readonly recovery?: Omit<CredentialPoolsOptions, 'onRecovery'>;
}

/** SQLSTATEs of refused credentials. */
const AUTH_FAILURES = new Set(['28P01', '28000']);

/** Events of `pg.Pool` that are forwarded from every underlying pool. */
const FORWARDED_EVENTS = ['connect', 'acquire', 'release', 'remove'] as const;

type Callback<R> = (error: Error | undefined, result: R) => void;

/**
 * A drop-in `pg.Pool` whose connections always use valid credentials: new connections pick up a rotated
 * password (or the alternate user), open ones keep working, and a refused login is retried with AWSCURRENT
 * read anew and then AWSPENDING. `query` (text and values, or a query config object), `connect()` with
 * `release()` for transactions, the pool's events and `totalCount`/`idleCount`/`waitingCount` (summed over
 * the versions' pools) behave as `pg.Pool`'s do.
 */
export class RotatingPgPool extends EventEmitter {
  readonly #pools: CredentialPools<Pool>;
  #ended = false;

  constructor(options: RotatingPgPoolOptions) {
    super();
    this.#pools = new CredentialPools<Pool>(
      options.source,
      options.secretId,
      {
        create: (credentials: DatabaseCredentials) => {
          const pool = new Pool({
            ...options.pool,
            host: credentials.host,
            port: credentials.port,
            user: credentials.username,
            password: credentials.password,
            ssl: pgTls(credentials.ssl, options.pool?.ssl),
            ...(credentials.dbname && !options.pool?.database ? { database: credentials.dbname } : {}),
          });
          for (const event of FORWARDED_EVENTS) {
            pool.on(event, (client: PoolClient) => this.emit(event, client));
          }
          // An idle connection dropped by the server must not crash the service; the pool replaces it.
          pool.on('error', (error: Error, client: PoolClient) => {
            if (this.listenerCount('error') > 0) this.emit('error', error, client);
          });
          return pool;
        },
        end: (pool) => pool.end(),
        probe: (pool) => pool.query('SELECT 1'),
        isAuthError: (error) => AUTH_FAILURES.has(String((error as { code?: unknown })?.code)),
      },
      { ...options.recovery, ...(options.onRecovery ? { onRecovery: options.onRecovery } : {}) },
    );
  }

  /** Runs a query (text and values, or a query config object) on a connection with valid credentials. */
  query<R extends QueryResultRow = QueryResultRow, I = unknown[]>(
    queryTextOrConfig: string | QueryConfig<I>,
    values?: QueryConfigValues<I>,
  ): Promise<QueryResult<R>>;
  query<R extends QueryResultRow = QueryResultRow, I = unknown[]>(
    queryTextOrConfig: string | QueryConfig<I>,
    callback: Callback<QueryResult<R>>,
  ): void;
  query<R extends QueryResultRow = QueryResultRow, I = unknown[]>(
    queryTextOrConfig: string | QueryConfig<I>,
    values: QueryConfigValues<I>,
    callback: Callback<QueryResult<R>>,
  ): void;
  query<R extends QueryResultRow = QueryResultRow, I = unknown[]>(
    queryTextOrConfig: string | QueryConfig<I>,
    valuesOrCallback?: QueryConfigValues<I> | Callback<QueryResult<R>>,
    callback?: Callback<QueryResult<R>>,
  ): Promise<QueryResult<R>> | undefined {
    const cb = typeof valuesOrCallback === 'function' ? valuesOrCallback : callback;
    const values = typeof valuesOrCallback === 'function' ? undefined : valuesOrCallback;
    const result = this.#pools.run((pool) =>
      values === undefined
        ? pool.query<R, I>(queryTextOrConfig as QueryConfig<I>)
        : pool.query<R, I>(queryTextOrConfig as QueryConfig<I>, values),
    );
    if (!cb) return result;
    result.then(
      (r) => cb(undefined, r),
      (e: Error) => cb(e, undefined as unknown as QueryResult<R>),
    );
    return undefined;
  }

  /**
   * Checks out a client with valid credentials, for transactions; give it back with `client.release()`. The
   * client's pool stays open (even after a rotation retires it) until it is released.
   */
  async connect(): Promise<PoolClient> {
    const lease = await this.#pools.acquire((pool) => pool.connect());
    const client = lease.value;
    const release = client.release.bind(client);
    // pg sets `release` on every checkout, so wrapping this checkout's function is safe.
    client.release = (error?: Error | boolean) => {
      lease.release();
      return release(error);
    };
    return client;
  }

  /** Connections open, over every credential version's pool. */
  get totalCount(): number {
    return this.#sum((p) => p.totalCount);
  }

  /** Idle connections, over every credential version's pool. */
  get idleCount(): number {
    return this.#sum((p) => p.idleCount);
  }

  /** Requests waiting for a connection, over every credential version's pool. */
  get waitingCount(): number {
    return this.#sum((p) => p.waitingCount);
  }

  /** Whether `end()` was called. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Queries retried with other credentials after a refused login. */
  get recoveries(): number {
    return this.#pools.recoveries;
  }

  /** Ends every pool. */
  async end(): Promise<void> {
    this.#ended = true;
    await this.#pools.end();
  }

  #sum(count: (pool: Pool) => number): number {
    return this.#pools.pools.reduce((total, pool) => total + count(pool), 0);
  }
}

/** The TLS settings of a connection: the secret decides whether, the pool's `ssl` how. */
export function pgTls(secretSsl: boolean, configured: PoolConfig['ssl']): PoolConfig['ssl'] {
  if (!secretSsl) return configured ?? false;
  if (configured && typeof configured === 'object') return configured;
  return { rejectUnauthorized: true };
}
