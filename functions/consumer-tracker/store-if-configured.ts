import { SDK_RETRY_CONFIG } from '../rotation/sdk-config';
import { countThrottles } from '../rotation/throttles';
import type { ConsumerStore } from './store';

/**
 * The consumer tracker's store of a function entry when `CONSUMER_TRACKER_TABLE` is set, else `undefined`.
 * The store and the DynamoDB SDK are loaded only then: a function deployed without the tracker never pays for
 * them at cold start (as `eventBridgeIfConfigured` does for EventBridge).
 */
export function consumerStoreIfConfigured(env: NodeJS.ProcessEnv = process.env): ConsumerStore | undefined {
  const table = env.CONSUMER_TRACKER_TABLE?.trim();
  if (!table) return undefined;
  const sdk = require('@aws-sdk/client-dynamodb') as typeof import('@aws-sdk/client-dynamodb');
  const store = require('./store') as typeof import('./store');
  return new store.ConsumerStore(countThrottles(new sdk.DynamoDBClient(SDK_RETRY_CONFIG)), table);
}
