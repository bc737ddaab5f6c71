import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { consumerStoreIfConfigured } from '../consumer-tracker/store-if-configured';
import { type RotationHandler, SDK_RETRY_CONFIG } from '../rotation';
import { eventBridgeIfConfigured } from '../rotation/event-bridge';
import { withSourceMappedErrors } from '../rotation/source-maps';
import { createDatabaseHandler } from './create-handler';

const eventBridge = eventBridgeIfConfigured();
const consumers = consumerStoreIfConfigured();

/**
 * The Lambda entry of the database rotation function. Clients and configuration are built once per
 * execution environment, at cold start, where a configuration error stops the function with a clear message.
 * Tests, the local mode and the demo build their own handler with `createDatabaseHandler` instead.
 */
export const handler: RotationHandler = withSourceMappedErrors(
  createDatabaseHandler({
    secretsManager: new SecretsManagerClient(SDK_RETRY_CONFIG),
    ...(eventBridge ? { eventBridge } : {}),
    ...(consumers ? { consumers } : {}),
  }),
  __filename,
);
