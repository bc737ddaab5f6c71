import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SNSClient } from '@aws-sdk/client-sns';
import { SDK_RETRY_CONFIG } from '../rotation';
import { createApprovalHandler, loadApprovalConfig } from './request';

const config = loadApprovalConfig();

/** The Lambda entry of the approval function: `{ "action": "request" }` on the schedule, `"sweep"` hourly. */
export const handler = createApprovalHandler({
  dynamodb: new DynamoDBClient(SDK_RETRY_CONFIG),
  sns: new SNSClient(SDK_RETRY_CONFIG),
  ...(config.eventBusName ? { eventBridge: new EventBridgeClient(SDK_RETRY_CONFIG) } : {}),
  config,
});
