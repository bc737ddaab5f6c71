import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SDK_RETRY_CONFIG } from '../rotation';
import { createConsumerTrackerHandler, loadTrackerConfig, type TrackerOutcome } from './tracker';

/**
 * The Lambda entry of the consumer tracker: configuration validated and the client built once, at cold start.
 * Tests and the local mode build their own with `createConsumerTrackerHandler`.
 */
export const handler: (event: unknown) => Promise<TrackerOutcome> = createConsumerTrackerHandler({
  dynamo: new DynamoDBClient(SDK_RETRY_CONFIG),
  config: loadTrackerConfig(),
});
