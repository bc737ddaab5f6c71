import type { RotationHandler, RotationStrategy } from '../rotation';
import {
  buildDatabaseHandler,
  buildDatabaseStrategy,
  type DatabaseBundle,
  type DatabaseHandlerDependencies,
} from './build-handler';
import type { DatabaseConfig } from './config';
import { RdsMasterStrategy } from './strategies/rds-master';

export type { DatabaseBundle, DatabaseHandlerDependencies } from './build-handler';

/**
 * The generic bundle (functions/database/handler.ts): both engines and the rds-master strategy (with the RDS
 * SDK it loads on first use). The construct deploys it for rds-master and when it does not know the engine
 * at synth; postgres-handler.ts and mysql-handler.ts ship one engine each and no RDS SDK.
 */
export const GENERIC_DATABASE_BUNDLE: DatabaseBundle = {
  name: 'database/handler',
  engines: {
    postgres: async (settings) => new (await import('./engines/postgres')).PostgresEngine(settings),
    mysql: async (settings) => new (await import('./engines/mysql')).MySqlEngine(settings),
  },
  rdsMaster: (options) => new RdsMasterStrategy(options),
};

/** Builds the database rotation handler with every engine and strategy: the strategy comes from `ROTATION_STRATEGY`. */
export function createDatabaseHandler(deps: DatabaseHandlerDependencies): RotationHandler {
  return buildDatabaseHandler(deps, GENERIC_DATABASE_BUNDLE);
}

/** The strategy the configuration names, with every engine. */
export function createDatabaseStrategy(
  config: DatabaseConfig,
  deps: DatabaseHandlerDependencies,
): RotationStrategy {
  return buildDatabaseStrategy(config, deps, GENERIC_DATABASE_BUNDLE);
}
