import type { RotationHandler } from '../rotation';
import { withSourceMappedErrors } from '../rotation/source-maps';
import { createDatabaseHandler } from './create-handler';
import { deployedDependencies } from './deployed-dependencies';

/**
 * The Lambda entry of the database rotation function. Clients and configuration are built once per
 * execution environment, at cold start, where a configuration error stops the function with a clear message.
 * Tests, the local mode and the demo build their own handler with `createDatabaseHandler` instead.
 */
export const handler: RotationHandler = withSourceMappedErrors(
  createDatabaseHandler(deployedDependencies()),
  __filename,
);
