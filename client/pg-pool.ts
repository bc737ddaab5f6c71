import { Pool, type PoolConfig, type QueryResult, type QueryResultRow } from 'pg';
import { CredentialPools, type DatabaseCredentials } from './credential-pools.js';
import type { SecretValueSource } from './types.js';

/** Options of a PostgreSQL pool that follows a rotated secret. */
export interface RotatingPgPoolOptions {
  readonly source: SecretValueSource;
  /** ARN or name of the database secret. */
  readonly secretId: string;
  /** Any other `pg` pool settings (ssl, max, idle timeout, ...); host, port, user, password come from the secret. */
  readonly pool?: Omit<PoolConfig, 'host' | 'port' | 'user' | 'password'>;
}

/** SQLSTATEs of refused credentials. */
const AUTH_FAILURES = new Set(['28P01', '28000']);

/**
 * A `pg` pool whose connections always use valid credentials: new connections pick up a rotated password
 * (or the alternate user), open ones keep working, and a refused login is retried with AWSCURRENT fetched
 * anew and then AWSPENDING.
 */
export class RotatingPgPool {
  readonly #pools: CredentialPools<Pool>;

  constructor(options: RotatingPgPoolOptions) {
    this.#pools = new CredentialPools<Pool>(options.source, options.secretId, {
      create: (credentials: DatabaseCredentials) => {
        const pool = new Pool({
          ...options.pool,
          host: credentials.host,
          port: credentials.port,
          user: credentials.username,
          password: credentials.password,
          ...(credentials.dbname && !options.pool?.database ? { database: credentials.dbname } : {}),
        });
        // An idle connection dropped by the server must not crash the service; the pool replaces it.
        pool.on('error', () => {});
        return pool;
      },
      end: (pool) => pool.end(),
      probe: (pool) => pool.query('SELECT 1'),
      isAuthError: (error) => AUTH_FAILURES.has(String((error as { code?: unknown })?.code)),
    });
  }

  /** Runs a query on a connection with valid credentials. */
  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<QueryResult<R>> {
    return this.#pools.run((pool) => pool.query<R>(text, values));
  }

  /** Queries retried with other credentials after a refused login. */
  get recoveries(): number {
    return this.#pools.recoveries;
  }

  end(): Promise<void> {
    return this.#pools.end();
  }
}
