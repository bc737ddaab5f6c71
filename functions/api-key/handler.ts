import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { consumerStoreIfConfigured } from '../consumer-tracker/store-if-configured';
import { SDK_RETRY_CONFIG } from '../rotation';
import { eventBridgeIfConfigured } from '../rotation/event-bridge';
import { withSourceMappedErrors } from '../rotation/source-maps';
import { ApiKeyProviderName } from './constants';
import { type ApiKeyHandler, createApiKeyHandler } from './create-handler';

const eventBridge = eventBridgeIfConfigured();
const consumers = consumerStoreIfConfigured();

/**
 * The Lambda entry of the API key rotation function: Secrets Manager's rotation steps and the scheduled
 * sweep. Clients and configuration are built once per execution environment, at cold start, where a
 * configuration error stops the function with a message naming the variable. Tests and the local mode build
 * their own handler with `createApiKeyHandler` instead.
 */
export const handler: ApiKeyHandler = withSourceMappedErrors(
  createApiKeyHandler({
    secretsManager: new SecretsManagerClient(SDK_RETRY_CONFIG),
    ...(eventBridge ? { eventBridge } : {}),
    ...(process.env.ROTATION_STRATEGY === ApiKeyProviderName.API_GATEWAY
      ? { apiGateway: new APIGatewayClient(SDK_RETRY_CONFIG) }
      : {}),
    ...(consumers ? { consumers } : {}),
  }),
  __filename,
);
