import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { ConsumerStore, TRACKER_KEYS } from '../functions/consumer-tracker/store';
import {
  CONSUMER_REPORT,
  createConsumerTrackerHandler,
  type TrackerConfig,
  type TrackerMetrics,
  type TrackerOutcome,
} from '../functions/consumer-tracker/tracker';
import type { LocalAws } from './moto';

/** The tracker of the local mode: the same table, rules and handler as the construct deploys, in moto. */
export interface LocalTracker {
  readonly busName: string;
  readonly tableName: string;
  readonly store: ConsumerStore;
  readonly dynamo: DynamoDBClient;
  readonly eventBridge: EventBridgeClient;
  /** Delivers what the rules routed so far to the tracker's handler, as Lambda would; returns the outcomes. */
  pump(): Promise<TrackerOutcome[]>;
  /** Runs the scheduled sweep. */
  sweep(): Promise<TrackerOutcome>;
}

/** Options of the local tracker. */
export interface LocalTrackerOptions {
  /** An existing bus to listen on. @default - a new bus */
  readonly busName?: string;
  readonly config?: Partial<Omit<TrackerConfig, 'tableName'>>;
  readonly metrics?: TrackerMetrics;
  readonly now?: () => number;
}

/**
 * Creates in moto what `ConsumerTracker` deploys: the table (with its TTL attribute), the two rules on the
 * rotation bus (consumer reports, and our `Secret Rotated` events). moto cannot invoke a Lambda, so the rules
 * target a queue and `pump()` hands its messages to the real handler.
 */
export async function startLocalTracker(
  aws: LocalAws,
  options: LocalTrackerOptions = {},
): Promise<LocalTracker> {
  const suffix = randomUUID().slice(0, 8);
  const dynamo = new DynamoDBClient(aws.clientConfig);
  const eventBridge = new EventBridgeClient(aws.clientConfig);
  const sqs = new SQSClient(aws.clientConfig);
  const busName = options.busName ?? `rotation-${suffix}`;
  if (!options.busName) await eventBridge.send(new CreateEventBusCommand({ Name: busName }));
  const tableName = `consumer-tracker-${suffix}`;
  await dynamo.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: TRACKER_KEYS.PARTITION, AttributeType: 'S' },
        { AttributeName: TRACKER_KEYS.SORT, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: TRACKER_KEYS.PARTITION, KeyType: 'HASH' },
        { AttributeName: TRACKER_KEYS.SORT, KeyType: 'RANGE' },
      ],
    }),
  );
  await waitUntilTableExists({ client: dynamo, maxWaitTime: 30 }, { TableName: tableName });
  await dynamo.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TRACKER_KEYS.TTL, Enabled: true },
    }),
  );
  const queueUrl =
    (await sqs.send(new CreateQueueCommand({ QueueName: `tracker-${suffix}` }))).QueueUrl ?? '';
  const queueArn =
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] })))
      .Attributes?.QueueArn ?? '';
  for (const [name, pattern] of Object.entries(trackerEventPatterns())) {
    await eventBridge.send(
      new PutRuleCommand({
        Name: `${name}-${suffix}`,
        EventBusName: busName,
        EventPattern: JSON.stringify(pattern),
      }),
    );
    await eventBridge.send(
      new PutTargetsCommand({
        Rule: `${name}-${suffix}`,
        EventBusName: busName,
        Targets: [{ Id: 'tracker', Arn: queueArn }],
      }),
    );
  }
  const handler = createConsumerTrackerHandler({
    dynamo,
    config: { tableName, lagBoundSeconds: 900, updateWindowSeconds: 60, ...options.config },
    metrics: options.metrics ?? { addMetric: () => {}, publishStoredMetrics: () => {} },
    ...(options.now ? { now: options.now } : {}),
  });
  return {
    busName,
    tableName,
    dynamo,
    eventBridge,
    store: new ConsumerStore(dynamo, tableName),
    pump: async () => {
      const outcomes: TrackerOutcome[] = [];
      for (;;) {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
        );
        const messages = out.Messages ?? [];
        if (messages.length === 0) return outcomes;
        for (const message of messages) outcomes.push(await handler(JSON.parse(message.Body ?? 'null')));
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
      }
    },
    sweep: () => handler({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }),
  };
}

/** The tracker's two event patterns on the rotation bus; the construct deploys the same. */
export function trackerEventPatterns() {
  return {
    'consumer-reports': { source: [CONSUMER_REPORT.source], 'detail-type': [CONSUMER_REPORT.detailType] },
    rotations: { source: ['secret-rotation'], 'detail-type': ['Secret Rotated'] },
  } as const;
}
