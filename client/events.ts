import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SecretCache } from './secret-cache.js';

/**
 * A Lambda handler for consumers subscribed to rotation events (EventBridge target): refreshes the cache of
 * the function's execution environment. Wire it as its own function, or call `cache.handleEvent` from yours.
 */
export function rotationEventHandler(cache: SecretCache): (event: unknown) => Promise<void> {
  return async (event) => {
    cache.handleEvent(event);
  };
}

/** Options of the SQS poller for long-running services. */
export interface RotationQueuePollerOptions {
  readonly cache: SecretCache;
  readonly sqs: SQSClient;
  /** The queue the events construct subscribed to rotation events. */
  readonly queueUrl: string;
  /** Long-poll wait per request, seconds (0 to 20). @default 20 */
  readonly waitTimeSeconds?: number;
  /** Called when a poll fails; polling goes on after a pause. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Polls an SQS queue that receives rotation events and refreshes the cache as they arrive. Each message is
 * deleted after it was applied; a message that cannot be parsed is deleted too (it can never apply).
 *
 * One queue read this way is a work queue: with several replicas, each event reaches one of them. For a
 * service with more than one replica, use `RotationBroadcastSubscriber` (a queue per replica).
 */
export class RotationQueuePoller {
  #running = false;
  #loop: Promise<void> | undefined;
  #abort: AbortController | undefined;

  constructor(private readonly options: RotationQueuePollerOptions) {}

  /** Starts polling in the background. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops at once: the long poll under way is aborted. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#abort?.abort();
    await this.#loop;
  }

  /** Receives once and applies what arrived; returns the number of messages. */
  async pollOnce(waitTimeSeconds = this.options.waitTimeSeconds ?? 20): Promise<number> {
    const { sqs, queueUrl, cache } = this.options;
    this.#abort = new AbortController();
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: waitTimeSeconds,
      }),
      { abortSignal: this.#abort.signal },
    );
    const messages = out.Messages ?? [];
    for (const message of messages) {
      try {
        cache.handleEvent(JSON.parse(message.Body ?? 'null'));
      } catch {
        // not JSON: nothing to apply
      }
    }
    if (messages.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
    return messages.length;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        await this.pollOnce(Math.min(this.options.waitTimeSeconds ?? 20, 20));
      } catch (error) {
        if (!this.#running) break;
        this.options.onError?.(error);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000);
          this.#abort?.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    }
  }
}
