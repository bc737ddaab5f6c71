import { EventEmitter } from 'node:events';
import {
  createPool,
  type FieldPacket,
  type Pool,
  type PoolConnection,
  type PoolOptions,
  type QueryOptions,
  type QueryResult,
  type SslOptions,
} from 'mysql2/promise';
import {
  CredentialPools,
  type CredentialPoolsOptions,
  type DatabaseCredentials,
  type RecoveryInfo,
} from './credential-pools.js';
import type { SecretValueSource } from './types.js';

/** Options of a MySQL/MariaDB pool that follows a rotated secret. */
export interface RotatingMySqlPoolOptions {
  readonly source: SecretValueSource;
  /** ARN or name of the database secret. */
  readonly secretId: string;
  /**
   * Any other `mysql2` pool settings (connectionLimit, `ssl` with a CA or a profile name such as
   * `'Amazon RDS'`, ...); host, port, user and password come from the secret. Unless the secret says
   * `ssl: false`, connections use TLS with the server's certificate verified.
   */
  readonly pool?: Omit<PoolOptions, 'host' | 'port' | 'user' | 'password'>;
  /** Called after each recovery from a refused login (for metrics). */
  readonly onRecovery?: (info: RecoveryInfo) => void;
  /** Backoff of failed recoveries. */
  readonly recovery?: Omit<CredentialPoolsOptions, 'onRecovery'>;
}

/** MySQL/MariaDB error numbers of refused credentials. */
const AUTH_FAILURES = new Set([1045, 1698]);

/** Events of a `mysql2` pool that are forwarded from every underlying pool. */
const FORWARDED_EVENTS = ['acquire', 'connection', 'enqueue', 'release'] as const;

/**
 * A drop-in `mysql2/promise` pool whose connections always use valid credentials: new connections pick up a
 * rotated password (or the alternate user), open ones keep working, and a refused login is retried with
 * AWSCURRENT read anew and then AWSPENDING. `query` and `execute` (SQL and values, or an options object)
 * answer `[rows, fields]` as mysql2's do; `getConnection()` with `release()` serves transactions; the pool's
 * events are forwarded.
 */
export class RotatingMySqlPool extends EventEmitter {
  readonly #pools: CredentialPools<Pool>;

  constructor(options: RotatingMySqlPoolOptions) {
    super();
    this.#pools = new CredentialPools<Pool>(
      options.source,
      options.secretId,
      {
        create: (credentials: DatabaseCredentials) => {
          const tls = mysqlTls(credentials.ssl, options.pool?.ssl);
          const pool = createPool({
            ...options.pool,
            host: credentials.host,
            port: credentials.port,
            user: credentials.username,
            password: credentials.password,
            ...(tls !== undefined ? { ssl: tls } : {}),
            ...(credentials.dbname && !options.pool?.database ? { database: credentials.dbname } : {}),
          });
          for (const event of FORWARDED_EVENTS) {
            pool.pool.on(event, (connection: unknown) => this.emit(event, connection));
          }
          return pool;
        },
        end: (pool) => pool.end(),
        probe: (pool) => pool.query('SELECT 1'),
        isAuthError: (error) => AUTH_FAILURES.has(Number((error as { errno?: unknown })?.errno)),
      },
      { ...options.recovery, ...(options.onRecovery ? { onRecovery: options.onRecovery } : {}) },
    );
  }

  /** `pool.query`: `[rows, fields]`, on a connection with valid credentials. */
  query<T extends QueryResult = QueryResult>(
    sql: string | QueryOptions,
    values?: unknown,
  ): Promise<[T, FieldPacket[]]> {
    return this.#pools.run(
      (pool) =>
        (values === undefined
          ? pool.query<T>(sql as QueryOptions)
          : pool.query<T>(sql as QueryOptions, values as never)) as Promise<[T, FieldPacket[]]>,
    );
  }

  /** `pool.execute` (a prepared statement): `[rows, fields]`, on a connection with valid credentials. */
  execute<T extends QueryResult = QueryResult>(
    sql: string | QueryOptions,
    values?: unknown,
  ): Promise<[T, FieldPacket[]]> {
    return this.#pools.run(
      (pool) =>
        (values === undefined
          ? pool.execute<T>(sql as QueryOptions)
          : pool.execute<T>(sql as QueryOptions, values as never)) as Promise<[T, FieldPacket[]]>,
    );
  }

  /**
   * Checks out a connection with valid credentials, for transactions; give it back with `release()`. Its pool
   * stays open (even after a rotation retires it) until it is released.
   */
  async getConnection(): Promise<PoolConnection> {
    const lease = await this.#pools.acquire((pool) => pool.getConnection());
    const connection = lease.value;
    const release = connection.release.bind(connection);
    let released = false;
    connection.release = () => {
      if (!released) {
        released = true;
        lease.release();
      }
      release();
    };
    return connection;
  }

  /** Queries retried with other credentials after a refused login. */
  get recoveries(): number {
    return this.#pools.recoveries;
  }

  /** Ends every pool. */
  end(): Promise<void> {
    return this.#pools.end();
  }
}

/** The TLS settings of a connection: the secret decides whether, the pool's `ssl` how. */
export function mysqlTls(
  secretSsl: boolean,
  configured: PoolOptions['ssl'],
): string | SslOptions | undefined {
  if (!secretSsl) return configured;
  if (configured) return configured;
  return { rejectUnauthorized: true };
}
