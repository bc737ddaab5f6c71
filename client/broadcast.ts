import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type SNSClient, SubscribeCommand, UnsubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  type SQSClient,
  TagQueueCommand,
} from '@aws-sdk/client-sqs';

/** What the subscriber feeds: a `SecretCache`, or anything that takes rotation events the same way. */
export interface RotationEventSink {
  handleEvent(event: unknown): boolean;
  /** Called after a gap in the event stream (a recreated queue, a long freeze): every copy must be re-read. */
  invalidateAll(): void;
}

/** Defaults of the broadcast subscriber. */
export const BROADCAST_DEFAULTS = {
  waitTimeSeconds: 20,
  heartbeatIntervalMs: 300_000,
  staleAfterMs: 900_000,
  minSyncIntervalMs: 1_000,
  /** Messages older than this are dropped by SQS; a replica never lags that long while it lives. */
  messageRetentionSeconds: 86_400,
  /** `stop()` gives its clean-up calls this long; the sweep removes whatever is left. */
  stopDeadlineMs: 800,
} as const;

/** Tags a replica's queue carries; the sweep reads them. */
export const BROADCAST_TAGS = {
  heartbeat: 'rotation-broadcast:heartbeat',
  subscription: 'rotation-broadcast:subscription',
  replica: 'rotation-broadcast:replica',
} as const;

/** Options of a replica's subscription to the rotation broadcast. */
export interface RotationBroadcastSubscriberOptions {
  /** Usually the service's `SecretCache`. */
  readonly cache: RotationEventSink;
  readonly sqs: SQSClient;
  readonly sns: SNSClient;
  /** The broadcast topic (`ConsumerBroadcast.topic.topicArn`, e.g. from an environment variable). */
  readonly topicArn: string;
  /**
   * Prefix of the replicas' queue names (`ConsumerBroadcast.queueNamePrefix`): the consumer's role may
   * create and delete only queues with this prefix.
   */
  readonly queueNamePrefix: string;
  /** This replica's id in its queue name (letters, digits, `-`, `_`). @default hostname and 8 random hex digits */
  readonly replicaId?: string;
  /** Long-poll wait, seconds (1 to 20). @default 20 */
  readonly waitTimeSeconds?: number;
  /** How often the replica tags its queue as alive. @default 300_000 */
  readonly heartbeatIntervalMs?: number;
  /** A queue whose heartbeat is older than this belongs to a replica that died; the sweep deletes it. @default 900_000 */
  readonly staleAfterMs?: number;
  /** `syncIfDue()` (Lambda) receives at most this often. @default 1_000 */
  readonly minSyncIntervalMs?: number;
  /** Whether this replica takes its share of sweeping dead replicas' queues. @default true */
  readonly sweep?: boolean;
  /** Called when a call fails; the subscriber goes on after a pause. Never given a value. */
  readonly onError?: (error: unknown) => void;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  /** A number in [0, 1); injectable for tests. */
  readonly random?: () => number;
}

/**
 * One replica's subscription to the rotation broadcast: an SNS topic (fed by the rotation events rule) fans
 * each event out to one SQS queue per replica, so every replica of every service learns of every rotation.
 *
 * `start()` creates this replica's queue (a policy that lets only the topic send to it, server-side
 * encryption, a heartbeat tag) and subscribes it with raw delivery; a background long poll applies each
 * event to the cache. `stop()` aborts the poll, unsubscribes and deletes the queue, in under a second.
 * Replicas that died without `stop()` are swept: each heartbeat, a replica sweeps with probability
 * 1 / (queues it saw), so the fleet sweeps about once per heartbeat interval whatever its size, and a sweep
 * deletes the queues (and subscriptions) whose heartbeat is older than `staleAfterMs`.
 *
 * At rest a replica costs its long polls (3 a minute) and one heartbeat per interval; idle queues cost
 * nothing. A queue that disappeared (swept while its replica was frozen) is recreated and the cache is
 * invalidated, as after any gap in the stream.
 *
 * In Lambda, call `syncIfDue()` at the start of each invocation instead of `start()`'s background loop:
 * it creates the environment's queue on first use, then receives without waiting, at most once per
 * `minSyncIntervalMs`; events that arrived while the environment was frozen are waiting in its queue.
 */
export class RotationBroadcastSubscriber {
  readonly #options: RotationBroadcastSubscriberOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #replicaId: string;
  #queueUrl: string | undefined;
  #subscriptionArn: string | undefined;
  #setUp: Promise<void> | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #lastHeartbeatAt = Number.NEGATIVE_INFINITY;
  #lastReceiveAt: number | undefined;
  #lastSyncAt = Number.NEGATIVE_INFINITY;
  #knownQueues = 1;
  #syncing: Promise<number> | undefined;
  /** Events applied, for tests and benchmarks. */
  received = 0;
  /** Queues of dead replicas deleted by this replica's sweeps. */
  swept = 0;

  constructor(options: RotationBroadcastSubscriberOptions) {
    const replicaId = options.replicaId ?? defaultReplicaId();
    if (!/^[A-Za-z0-9_-]+$/.test(replicaId)) {
      throw new RangeError(
        `RotationBroadcastSubscriber: replicaId may hold letters, digits, - and _; got '${replicaId}'`,
      );
    }
    if (!/^[A-Za-z0-9_-]{1,40}$/.test(options.queueNamePrefix)) {
      throw new RangeError(
        `RotationBroadcastSubscriber: queueNamePrefix must be 1 to 40 letters, digits, - or _; got '${options.queueNamePrefix}'`,
      );
    }
    const wait = options.waitTimeSeconds ?? BROADCAST_DEFAULTS.waitTimeSeconds;
    if (!(wait >= 1 && wait <= 20)) {
      throw new RangeError(`RotationBroadcastSubscriber: waitTimeSeconds must be 1 to 20, got ${wait}`);
    }
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#replicaId = replicaId.slice(0, 80 - options.queueNamePrefix.length);
  }

  /** This replica's queue, once created. */
  get queueUrl(): string | undefined {
    return this.#queueUrl;
  }

  /** The queue's name: the prefix and the replica id. */
  get queueName(): string {
    return `${this.#options.queueNamePrefix}${this.#replicaId}`;
  }

  /** Creates and subscribes this replica's queue, then long-polls it in the background until `stop()`. */
  async start(): Promise<void> {
    if (this.#running) return;
    await this.#ensureQueue();
    this.#running = true;
    if (this.#options.sweep ?? true) void this.sweep().catch((error) => this.#options.onError?.(error));
    this.#loop = this.#run();
  }

  /**
   * Stops polling at once (the long poll is aborted), then unsubscribes and deletes the queue within
   * `BROADCAST_DEFAULTS.stopDeadlineMs`; whatever a slow network leaves, the sweep removes.
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#abort?.abort();
    await this.#loop;
    const cleanUp = this.#tearDown().catch((error) => this.#options.onError?.(error));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      cleanUp,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, BROADCAST_DEFAULTS.stopDeadlineMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * For Lambda: applies what arrived since the last call, without waiting, at most once per
   * `minSyncIntervalMs` (concurrent calls share one receive). Creates the queue on first use. Returns the
   * number of events applied; a failure goes to `onError` and never rejects, so an invocation does not fail
   * because the broadcast is unavailable.
   */
  async syncIfDue(): Promise<number> {
    if (this.#syncing) return this.#syncing;
    const minInterval = this.#options.minSyncIntervalMs ?? BROADCAST_DEFAULTS.minSyncIntervalMs;
    if (this.#now() - this.#lastSyncAt < minInterval) return 0;
    this.#lastSyncAt = this.#now();
    this.#syncing = (async () => {
      try {
        await this.#ensureQueue();
        const applied = await this.pollOnce(0);
        await this.#heartbeatIfDue();
        return applied;
      } catch (error) {
        // An invocation never fails because the broadcast is away: the cache's refresh and the pools'
        // recovery still hold. The next due call tries again.
        this.#options.onError?.(error);
        return 0;
      } finally {
        this.#syncing = undefined;
      }
    })();
    return this.#syncing;
  }

  /** Receives once (waiting up to `waitTimeSeconds`) and applies what arrived; returns the number of events. */
  async pollOnce(
    waitTimeSeconds = this.#options.waitTimeSeconds ?? BROADCAST_DEFAULTS.waitTimeSeconds,
  ): Promise<number> {
    await this.#ensureQueue();
    const { sqs, cache } = this.#options;
    const staleAfter = this.#options.staleAfterMs ?? BROADCAST_DEFAULTS.staleAfterMs;
    // A gap longer than the sweep's threshold (a frozen Lambda environment, a stalled process): the queue
    // may have been swept and recreated, and events lost. Re-read everything once.
    if (this.#lastReceiveAt !== undefined && this.#now() - this.#lastReceiveAt > staleAfter)
      cache.invalidateAll();
    this.#abort = new AbortController();
    let messages: Array<{ Body?: string; ReceiptHandle?: string }>;
    try {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.#queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: waitTimeSeconds,
        }),
        { abortSignal: this.#abort.signal },
      );
      messages = out.Messages ?? [];
    } catch (error) {
      if (isQueueGone(error)) {
        await this.#recreate();
        return 0;
      }
      throw error;
    }
    this.#lastReceiveAt = this.#now();
    for (const message of messages) {
      const event = eventOf(message.Body);
      if (event !== undefined) {
        this.received++;
        cache.handleEvent(event);
      }
    }
    if (messages.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.#queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
    return messages.length;
  }

  /**
   * Deletes the queues (and their subscriptions) of replicas whose heartbeat is older than `staleAfterMs`.
   * Returns the number deleted.
   */
  async sweep(): Promise<number> {
    const { sqs, sns, queueNamePrefix } = this.#options;
    const staleAfter = this.#options.staleAfterMs ?? BROADCAST_DEFAULTS.staleAfterMs;
    const urls: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await sqs.send(
        new ListQueuesCommand({ QueueNamePrefix: queueNamePrefix, MaxResults: 1000, NextToken: nextToken }),
      );
      urls.push(...(page.QueueUrls ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    this.#knownQueues = Math.max(1, urls.length);
    let deleted = 0;
    for (const url of urls) {
      if (url === this.#queueUrl) continue;
      const tags = (await sqs.send(new ListQueueTagsCommand({ QueueUrl: url })).catch(() => undefined))?.Tags;
      if (!tags) continue;
      const heartbeat = Date.parse(tags[BROADCAST_TAGS.heartbeat] ?? '');
      if (Number.isFinite(heartbeat) && this.#now() - heartbeat <= staleAfter) continue;
      if (!Number.isFinite(heartbeat) && tags[BROADCAST_TAGS.replica] === undefined) continue; // not ours
      const subscription = tags[BROADCAST_TAGS.subscription];
      if (subscription)
        await sns.send(new UnsubscribeCommand({ SubscriptionArn: subscription })).catch(() => undefined);
      await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
      deleted++;
    }
    this.swept += deleted;
    return deleted;
  }

  async #run(): Promise<void> {
    let pause = 500;
    while (this.#running) {
      try {
        await this.pollOnce();
        await this.#heartbeatIfDue();
        pause = 500;
      } catch (error) {
        if (!this.#running) break;
        this.#options.onError?.(error);
        await this.#sleep(pause * (0.5 + this.#random() / 2));
        pause = Math.min(pause * 2, 30_000);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#abort?.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async #heartbeatIfDue(): Promise<void> {
    const interval = this.#options.heartbeatIntervalMs ?? BROADCAST_DEFAULTS.heartbeatIntervalMs;
    if (this.#now() - this.#lastHeartbeatAt < interval || !this.#queueUrl) return;
    this.#lastHeartbeatAt = this.#now();
    await this.#options.sqs.send(
      new TagQueueCommand({
        QueueUrl: this.#queueUrl,
        Tags: { [BROADCAST_TAGS.heartbeat]: new Date(this.#now()).toISOString() },
      }),
    );
    // The fleet's share of sweeping: about one sweep per heartbeat interval, whatever the fleet's size.
    if ((this.#options.sweep ?? true) && this.#random() < 1 / this.#knownQueues) {
      await this.sweep().catch((error) => this.#options.onError?.(error));
    }
  }

  #ensureQueue(): Promise<void> {
    this.#setUp ??= this.#createAndSubscribe().catch((error) => {
      this.#setUp = undefined;
      throw error;
    });
    return this.#setUp;
  }

  async #recreate(): Promise<void> {
    this.#setUp = undefined;
    this.#queueUrl = undefined;
    await this.#ensureQueue();
    this.#options.cache.invalidateAll();
  }

  async #createAndSubscribe(): Promise<void> {
    const { sqs, sns, topicArn } = this.#options;
    const now = new Date(this.#now()).toISOString();
    const created = await sqs.send(
      new CreateQueueCommand({
        QueueName: this.queueName,
        Attributes: {
          MessageRetentionPeriod: String(BROADCAST_DEFAULTS.messageRetentionSeconds),
          SqsManagedSseEnabled: 'true',
        },
        tags: { [BROADCAST_TAGS.replica]: this.#replicaId, [BROADCAST_TAGS.heartbeat]: now },
      }),
    );
    const queueUrl = created.QueueUrl;
    if (!queueUrl) throw new Error(`CreateQueue answered no URL for ${this.queueName}`);
    const attributes = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    const queueArn = attributes.Attributes?.QueueArn;
    if (!queueArn) throw new Error(`GetQueueAttributes answered no QueueArn for ${this.queueName}`);
    // Only the broadcast topic may send to this queue.
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queueUrl,
        Attributes: { Policy: JSON.stringify(queuePolicy(queueArn, topicArn)) },
      }),
    );
    const subscription = await sns.send(
      new SubscribeCommand({
        TopicArn: topicArn,
        Protocol: 'sqs',
        Endpoint: queueArn,
        Attributes: { RawMessageDelivery: 'true' },
        ReturnSubscriptionArn: true,
      }),
    );
    this.#queueUrl = queueUrl;
    this.#subscriptionArn = subscription.SubscriptionArn;
    this.#lastHeartbeatAt = this.#now();
    if (this.#subscriptionArn) {
      await sqs.send(
        new TagQueueCommand({
          QueueUrl: queueUrl,
          Tags: { [BROADCAST_TAGS.subscription]: this.#subscriptionArn },
        }),
      );
    }
  }

  async #tearDown(): Promise<void> {
    const { sqs, sns } = this.#options;
    const subscription = this.#subscriptionArn;
    const queueUrl = this.#queueUrl;
    this.#subscriptionArn = undefined;
    this.#queueUrl = undefined;
    this.#setUp = undefined;
    if (subscription) await sns.send(new UnsubscribeCommand({ SubscriptionArn: subscription }));
    if (queueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
  }
}

/** The policy of a replica's queue: the broadcast topic may send to it (the account's own principals act through IAM). */
export function queuePolicy(queueArn: string, topicArn: string): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'BroadcastTopicSends',
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
      },
    ],
  };
}

/** The EventBridge event a message carries: raw delivery's body, or an SNS envelope's `Message`. */
function eventOf(body: string | undefined): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body ?? 'null');
  } catch {
    return undefined;
  }
  const envelope = parsed as { Type?: unknown; Message?: unknown } | null;
  if (envelope?.Type === 'Notification' && typeof envelope.Message === 'string') {
    try {
      return JSON.parse(envelope.Message);
    } catch {
      return undefined;
    }
  }
  return parsed ?? undefined;
}

function isQueueGone(error: unknown): boolean {
  const name = String((error as { name?: unknown; Code?: unknown } | null)?.name ?? '');
  return /QueueDoesNotExist|NonExistentQueue/.test(name);
}

function defaultReplicaId(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .slice(0, 30);
  return `${host}-${randomBytes(4).toString('hex')}`;
}
