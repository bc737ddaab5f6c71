import type { DatabaseBundle } from './build-handler';

/**
 * The bundle of postgres-handler.ts: PostgreSQL only. Neither mysql2 nor the RDS SDK is referenced, so esbuild leaves
 * them out (test/infra/engine-bundles.test.ts checks the bundle's inputs).
 */
export const POSTGRES_DATABASE_BUNDLE: DatabaseBundle = {
  name: 'database/postgres-handler',
  engines: {
    postgres: async (settings) => new (await import('./engines/postgres')).PostgresEngine(settings),
  },
};
