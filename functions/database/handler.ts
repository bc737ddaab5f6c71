import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type RotationHandler, SDK_RETRY_CONFIG } from '../rotation';
import { withSourceMappedErrors } from '../rotation/source-maps';
import { createDatabaseHandler } from './create-handler';

/**
 * The Lambda entry of the database rotation function. Clients and configuration are built once per
 * execution environment, at cold start, where a configuration error stops the function with a clear message.
 * Tests, the local mode and the demo build their own handler with `createDatabaseHandler` instead.
 */
export const handler: RotationHandler = withSourceMappedErrors(
  createDatabaseHandler({
    secretsManager: new SecretsManagerClient(SDK_RETRY_CONFIG),
    ...(process.env.EVENT_BUS_NAME ? { eventBridge: new EventBridgeClient(SDK_RETRY_CONFIG) } : {}),
  }),
  __filename,
);
