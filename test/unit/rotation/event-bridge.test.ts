import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { eventBridgeIfConfigured } from '../../../functions/rotation/event-bridge';

describe('the EventBridge client of a function entry', () => {
  it('is not built when no event bus is configured', () => {
    expect(eventBridgeIfConfigured({})).toBeUndefined();
  });

  it('is built with the SDK retry settings when EVENT_BUS_NAME is set', async () => {
    const client = eventBridgeIfConfigured({ EVENT_BUS_NAME: 'rotation-events' });

    expect(client).toBeInstanceOf(EventBridgeClient);
    expect(await client?.config.maxAttempts()).toBe(6);
  });
});
