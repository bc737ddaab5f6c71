import type { RotationHandler } from '../rotation';
import { withSourceMappedErrors } from '../rotation/source-maps';
import { buildDatabaseHandler } from './build-handler';
import { deployedDependencies } from './deployed-dependencies';
import { MYSQL_DATABASE_BUNDLE } from './mysql-bundle';

/**
 * The Lambda entry of the database rotation function for a MySQL or MariaDB secret (single-user, alternating
 * users). A secret of another engine is refused before anything changes; rds-master is refused at cold start.
 */
export const handler: RotationHandler = withSourceMappedErrors(
  buildDatabaseHandler(deployedDependencies(), MYSQL_DATABASE_BUNDLE),
  __filename,
);
