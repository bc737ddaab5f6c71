import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SDK_RETRY_CONFIG } from './sdk-config';
import { countThrottles } from './throttles';

/**
 * The EventBridge client of a function entry when `EVENT_BUS_NAME` is set, else `undefined`. The EventBridge
 * SDK is loaded only then: a function deployed without events never pays for it at cold start (a static
 * import would run the SDK's module whether or not a client is built).
 */
export function eventBridgeIfConfigured(env: NodeJS.ProcessEnv = process.env): EventBridgeClient | undefined {
  if (!env.EVENT_BUS_NAME) return undefined;
  const sdk = require('@aws-sdk/client-eventbridge') as typeof import('@aws-sdk/client-eventbridge');
  return countThrottles(new sdk.EventBridgeClient(SDK_RETRY_CONFIG));
}
