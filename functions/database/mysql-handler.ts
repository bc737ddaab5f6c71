import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { consumerStoreIfConfigured } from '../consumer-tracker/store-if-configured';
import { type RotationHandler, SDK_RETRY_CONFIG } from '../rotation';
import { eventBridgeIfConfigured } from '../rotation/event-bridge';
import { withSourceMappedErrors } from '../rotation/source-maps';
import { buildDatabaseHandler } from './build-handler';
import { MYSQL_DATABASE_BUNDLE } from './mysql-bundle';

const eventBridge = eventBridgeIfConfigured();
const consumers = consumerStoreIfConfigured();

/**
 * The Lambda entry of the database rotation function for a MySQL or MariaDB secret (single-user, alternating
 * users). A secret of another engine is refused before anything changes; rds-master is refused at cold start.
 */
export const handler: RotationHandler = withSourceMappedErrors(
  buildDatabaseHandler(
    {
      secretsManager: new SecretsManagerClient(SDK_RETRY_CONFIG),
      ...(eventBridge ? { eventBridge } : {}),
      ...(consumers ? { consumers } : {}),
    },
    MYSQL_DATABASE_BUNDLE,
  ),
  __filename,
);
