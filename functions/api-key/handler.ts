import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConsumerStore } from '../consumer-tracker/store';
import { SDK_RETRY_CONFIG } from '../rotation';
import { eventBridgeIfConfigured } from '../rotation/event-bridge';
import { withSourceMappedErrors } from '../rotation/source-maps';
import { ApiKeyProviderName } from './constants';
import { type ApiKeyHandler, createApiKeyHandler } from './create-handler';

const eventBridge = eventBridgeIfConfigured();

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
    ...(process.env.CONSUMER_TRACKER_TABLE
      ? {
          consumers: new ConsumerStore(
            new DynamoDBClient(SDK_RETRY_CONFIG),
            process.env.CONSUMER_TRACKER_TABLE.trim(),
          ),
        }
      : {}),
  }),
  __filename,
);
