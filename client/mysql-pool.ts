import { createPool, type Pool, type PoolOptions } from 'mysql2/promise';
import { CredentialPools, type DatabaseCredentials } from './credential-pools.js';
import type { SecretValueSource } from './types.js';

/** Options of a MySQL/MariaDB pool that follows a rotated secret. */
export interface RotatingMySqlPoolOptions {
  readonly source: SecretValueSource;
  /** ARN or name of the database secret. */
  readonly secretId: string;
  /** Any other `mysql2` pool settings (ssl, connectionLimit, ...); host, port, user, password come from the secret. */
  readonly pool?: Omit<PoolOptions, 'host' | 'port' | 'user' | 'password'>;
}

/** MySQL/MariaDB error numbers of refused credentials. */
const AUTH_FAILURES = new Set([1045, 1698]);

/**
 * A `mysql2` pool whose connections always use valid credentials: new connections pick up a rotated
 * password (or the alternate user), open ones keep working, and a refused login is retried with AWSCURRENT
 * fetched anew and then AWSPENDING.
 */
export class RotatingMySqlPool {
  readonly #pools: CredentialPools<Pool>;

  constructor(options: RotatingMySqlPoolOptions) {
    this.#pools = new CredentialPools<Pool>(options.source, options.secretId, {
      create: (credentials: DatabaseCredentials) =>
        createPool({
          ...options.pool,
          host: credentials.host,
          port: credentials.port,
          user: credentials.username,
          password: credentials.password,
          ...(credentials.dbname && !options.pool?.database ? { database: credentials.dbname } : {}),
        }),
      end: (pool) => pool.end(),
      probe: (pool) => pool.query('SELECT 1'),
      isAuthError: (error) => AUTH_FAILURES.has(Number((error as { errno?: unknown })?.errno)),
    });
  }

  /** Runs a query on a connection with valid credentials. */
  async query<T = unknown>(sql: string, values?: unknown[]): Promise<T> {
    return this.#pools.run(async (pool) => (await pool.query(sql, values))[0] as T);
  }

  get recoveries(): number {
    return this.#pools.recoveries;
  }

  end(): Promise<void> {
    return this.#pools.end();
  }
}
