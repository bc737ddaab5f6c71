import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SDK_RETRY_CONFIG } from '../rotation';
import { createDecideHandler } from './decide';
import { loadApprovalRules } from './request';

const config = loadApprovalRules();

/**
 * The Lambda entry of the approval decider, behind a function URL with AuthType AWS_IAM: approve, deny,
 * bypass and request as the identity Lambda authenticated.
 */
export const handler = createDecideHandler({
  dynamodb: new DynamoDBClient(SDK_RETRY_CONFIG),
  secretsManager: new SecretsManagerClient(SDK_RETRY_CONFIG),
  sns: new SNSClient(SDK_RETRY_CONFIG),
  ...(config.eventBusName ? { eventBridge: new EventBridgeClient(SDK_RETRY_CONFIG) } : {}),
  config,
});
