import type { DatabaseBundle } from './build-handler';

/**
 * The bundle of mysql-handler.ts: MySQL and MariaDB only. Neither pg nor the RDS SDK is referenced, so esbuild leaves
 * them out (test/infra/engine-bundles.test.ts checks the bundle's inputs).
 */
export const MYSQL_DATABASE_BUNDLE: DatabaseBundle = {
  name: 'database/mysql-handler',
  engines: { mysql: async (settings) => new (await import('./engines/mysql')).MySqlEngine(settings) },
};
