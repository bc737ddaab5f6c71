import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { consumerStoreIfConfigured } from '../consumer-tracker/store-if-configured';
import { SDK_RETRY_CONFIG } from '../rotation';
import { eventBridgeIfConfigured } from '../rotation/event-bridge';
import type { DatabaseHandlerDependencies } from './build-handler';

/**
 * The clients every Lambda entry of the database function builds once per execution environment, at cold
 * start: Secrets Manager, and EventBridge and the consumer store only when they are configured.
 */
export function deployedDependencies(): DatabaseHandlerDependencies {
  const eventBridge = eventBridgeIfConfigured();
  const consumers = consumerStoreIfConfigured();
  return {
    secretsManager: new SecretsManagerClient(SDK_RETRY_CONFIG),
    ...(eventBridge ? { eventBridge } : {}),
    ...(consumers ? { consumers } : {}),
  };
}
