import type { RotationHandler } from '../rotation';
import { withSourceMappedErrors } from '../rotation/source-maps';
import { buildDatabaseHandler } from './build-handler';
import { deployedDependencies } from './deployed-dependencies';
import { POSTGRES_DATABASE_BUNDLE } from './postgres-bundle';

/**
 * The Lambda entry of the database rotation function for a PostgreSQL secret (single-user, alternating
 * users). A secret of another engine is refused before anything changes; rds-master is refused at cold start.
 */
export const handler: RotationHandler = withSourceMappedErrors(
  buildDatabaseHandler(deployedDependencies(), POSTGRES_DATABASE_BUNDLE),
  __filename,
);
