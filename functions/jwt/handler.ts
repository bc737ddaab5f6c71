import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type RotationHandler, SDK_RETRY_CONFIG } from '../rotation';
import { eventBridgeIfConfigured } from '../rotation/event-bridge';
import { withSourceMappedErrors } from '../rotation/source-maps';
import { createJwtHandler } from './create-handler';

const eventBridge = eventBridgeIfConfigured();

/**
 * The Lambda entry of the JWT signing key rotation function. Clients and configuration are built once per
 * execution environment, at cold start, where a configuration error stops the function with a message naming
 * the variable. Tests and the local mode build their own handler with `createJwtHandler`.
 */
export const handler: RotationHandler = withSourceMappedErrors(
  createJwtHandler({
    secretsManager: new SecretsManagerClient(SDK_RETRY_CONFIG),
    s3: new S3Client(SDK_RETRY_CONFIG),
    ...(eventBridge ? { eventBridge } : {}),
  }),
  __filename,
);
