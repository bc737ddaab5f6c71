import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE, type EventDetailType } from './constants';
import { RotationError } from './errors';
import type { RotationEventDetail } from './types';

/** EventBridge rejected the event. */
export class EventPublishError extends RotationError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EventPublishError';
  }
}

/**
 * Publishes our rotation events to the configured bus. Without a bus it does nothing, so that a function
 * deployed without events works the same.
 */
export class RotationEventPublisher {
  constructor(
    private readonly client: EventBridgeClient | undefined,
    private readonly busName: string | undefined,
  ) {}

  get enabled(): boolean {
    return this.client !== undefined && this.busName !== undefined;
  }

  async publish(detailType: EventDetailType, detail: RotationEventDetail): Promise<void> {
    if (!this.client || !this.busName) return;
    // Loaded with the first event rather than at cold start (the client's module was loaded by the entry).
    const { PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
    const out = await this.client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.busName,
            Source: EVENT_SOURCE,
            DetailType: detailType,
            Resources: [detail.secretArn],
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
    if ((out.FailedEntryCount ?? 0) > 0) {
      const entry = out.Entries?.[0];
      throw new EventPublishError(
        `EventBridge rejected '${detailType}' for ${detail.secretArn}: ${entry?.ErrorCode ?? 'unknown error'}`,
      );
    }
  }
}
