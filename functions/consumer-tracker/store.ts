import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';

/**
 * The tracker's table, one partition per secret (`pk` = the secret's ARN):
 * - `consumer#<service>#<instance>`: the version a consumer uses, since when, and its last heartbeat;
 *   `expiresAt` (epoch seconds, the table's TTL attribute) forgets a consumer that stopped reporting;
 * - `version#<versionId>`: when finishSecret made that version current (from our `Secret Rotated` event);
 * - `rotation`: the latest rotation of the secret, and whether its update window was evaluated.
 */
export const TRACKER_KEYS = {
  PARTITION: 'pk',
  SORT: 'sk',
  TTL: 'expiresAt',
  CONSUMER_PREFIX: 'consumer#',
  VERSION_PREFIX: 'version#',
  ROTATION: 'rotation',
} as const;

/** A consumer silent for this many heartbeat intervals is gone (one lost report is not enough). */
export const MISSED_HEARTBEATS = 3;

/** How long the rotation records are kept (for latency of consumers that move late). */
const ROTATION_RECORD_SECONDS = 400 * 86_400;

/** One consumer of one secret, as the tracker holds it. */
export interface TrackedConsumer {
  readonly secretArn: string;
  readonly service: string;
  readonly instance: string;
  readonly versionId: string;
  /** When the consumer first used `versionId` (its clock), ms since the epoch. */
  readonly usedSince: number;
  /** When the tracker last heard from it, ms since the epoch. */
  readonly lastSeenAt: number;
  readonly firstSeenAt: number;
  readonly heartbeatSeconds: number;
  /** After this (ms since the epoch) the consumer counts as gone. */
  readonly expiresAtMs: number;
}

/** The latest rotation of a secret as the tracker saw it. */
export interface TrackedRotation {
  readonly secretArn: string;
  readonly versionId: string;
  readonly previousVersionId?: string;
  /** When finishSecret moved AWSCURRENT, ms since the epoch. */
  readonly rotatedAt: number;
  /** Whether the update window of this rotation has been evaluated (the percentage published). */
  readonly evaluated: boolean;
}

/** A consumer report as the tracker applies it (see the client's `ConsumerReportDetail`). */
export interface ConsumerReport {
  readonly secretArn: string;
  readonly versionId: string;
  readonly service: string;
  readonly instance: string;
  readonly reason: 'start' | 'change' | 'heartbeat' | 'stop';
  readonly usedSince: number;
  readonly reportedAt: number;
  readonly heartbeatSeconds: number;
}

/** What applying a report changed. */
export interface ReportOutcome {
  /** The version the consumer reported before, when it changed (or `undefined` for a new consumer). */
  readonly previousVersionId?: string;
  /** Whether the report moved the consumer to a version it did not report before. */
  readonly moved: boolean;
  /** Whether the report was older than what the table holds, and ignored. */
  readonly stale: boolean;
}

/** Counts live consumers on a version: what rotation functions ask the tracker (`ConsumerStore` implements it). */
export interface ConsumerCounter {
  /** Live consumers of `secretArn` reporting `versionId`, or `undefined` when the tracker cannot tell. */
  liveConsumersOn(secretArn: string, versionId: string): Promise<number | undefined>;
}

/** Reads and writes the tracker's table. The CLI and the rotation functions read through it too. */
export class ConsumerStore implements ConsumerCounter {
  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {}

  /**
   * Applies a report: one conditional write, which ignores a report older than the one stored (events can
   * arrive out of order). `stop` deletes the consumer at once.
   */
  async applyReport(report: ConsumerReport, receivedAt: number): Promise<ReportOutcome> {
    const key = consumerKey(report.secretArn, report.service, report.instance);
    if (report.reason === 'stop') {
      await this.#conditional(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: key,
          ConditionExpression: 'attribute_not_exists(reportedAt) OR reportedAt <= :r',
          ExpressionAttributeValues: { ':r': n(report.reportedAt) },
        }),
      );
      return { moved: false, stale: false };
    }
    const expiresAtMs = receivedAt + MISSED_HEARTBEATS * report.heartbeatSeconds * 1000;
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression:
            'SET service = :s, #instance = :i, versionId = :v, usedSince = :u, reportedAt = :r, lastSeenAt = :now, ' +
            'heartbeatSeconds = :h, #ttl = :ttl, firstSeenAt = if_not_exists(firstSeenAt, :now)',
          ConditionExpression: 'attribute_not_exists(reportedAt) OR reportedAt <= :r',
          ExpressionAttributeNames: { '#instance': 'instance', '#ttl': TRACKER_KEYS.TTL },
          ExpressionAttributeValues: {
            ':s': s(report.service),
            ':i': s(report.instance),
            ':v': s(report.versionId),
            ':u': n(report.usedSince),
            ':r': n(report.reportedAt),
            ':now': n(receivedAt),
            ':h': n(report.heartbeatSeconds),
            ':ttl': n(Math.ceil(expiresAtMs / 1000)),
          },
          ReturnValues: 'ALL_OLD',
        }),
      );
      const before = out.Attributes?.versionId?.S;
      return {
        ...(before !== undefined && before !== report.versionId ? { previousVersionId: before } : {}),
        moved: before !== report.versionId,
        stale: false,
      };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { moved: false, stale: true };
      throw error;
    }
  }

  /** Records that finishSecret made `versionId` current at `rotatedAt` (idempotent: the first record wins). */
  async recordRotation(rotation: Omit<TrackedRotation, 'evaluated'>): Promise<void> {
    const expiresAt = n(Math.ceil(rotation.rotatedAt / 1000) + ROTATION_RECORD_SECONDS);
    const attributes: Record<string, AttributeValue> = {
      versionId: s(rotation.versionId),
      rotatedAt: n(rotation.rotatedAt),
      ...(rotation.previousVersionId ? { previousVersionId: s(rotation.previousVersionId) } : {}),
      [TRACKER_KEYS.TTL]: expiresAt,
    };
    await this.#conditional(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          ...key(rotation.secretArn, `${TRACKER_KEYS.VERSION_PREFIX}${rotation.versionId}`),
          ...attributes,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    // The latest rotation: a replayed or late event for an older rotation never moves it back.
    await this.#conditional(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          ...key(rotation.secretArn, TRACKER_KEYS.ROTATION),
          ...attributes,
          evaluated: { BOOL: false },
        },
        ConditionExpression: 'attribute_not_exists(pk) OR (rotatedAt < :at AND versionId <> :v)',
        ExpressionAttributeValues: { ':at': n(rotation.rotatedAt), ':v': s(rotation.versionId) },
      }),
    );
  }

  /** When finishSecret made `versionId` current, if the tracker saw it. */
  async rotatedAt(secretArn: string, versionId: string): Promise<number | undefined> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: key(secretArn, `${TRACKER_KEYS.VERSION_PREFIX}${versionId}`),
        ConsistentRead: true,
      }),
    );
    const at = out.Item?.rotatedAt?.N;
    return at === undefined ? undefined : Number(at);
  }

  /** Marks the latest rotation's window as evaluated, once: returns false when another sweep did it. */
  async markEvaluated(secretArn: string, versionId: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(secretArn, TRACKER_KEYS.ROTATION),
          UpdateExpression: 'SET evaluated = :t',
          ConditionExpression: 'versionId = :v AND evaluated = :f',
          ExpressionAttributeValues: { ':t': { BOOL: true }, ':f': { BOOL: false }, ':v': s(versionId) },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** The live consumers of one secret and its latest rotation (consumers past their expiry are left out). */
  async secret(secretArn: string, now: number): Promise<SecretConsumers> {
    const items: Array<Record<string, AttributeValue>> = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': s(secretArn) },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return group(items, now).get(secretArn) ?? { secretArn, consumers: [], expired: [] };
  }

  /** Every secret the table knows, with live consumers and latest rotation (the sweep reads this). */
  async all(now: number): Promise<Map<string, SecretConsumers>> {
    const items: Array<Record<string, AttributeValue>> = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.client.send(
        new ScanCommand({ TableName: this.tableName, ...(start ? { ExclusiveStartKey: start } : {}) }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return group(items, now);
  }

  /** Deletes a consumer the TTL has not removed yet (DynamoDB's TTL deletes within days, not at once). */
  async forget(consumer: TrackedConsumer): Promise<void> {
    await this.#conditional(
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: consumerKey(consumer.secretArn, consumer.service, consumer.instance),
        ConditionExpression: 'lastSeenAt = :seen',
        ExpressionAttributeValues: { ':seen': n(consumer.lastSeenAt) },
      }),
    );
  }

  /** Live consumers of `secretArn` that report `versionId`. */
  async liveConsumersOn(secretArn: string, versionId: string, now = Date.now()): Promise<number> {
    return (await this.secret(secretArn, now)).consumers.filter((c) => c.versionId === versionId).length;
  }

  async #conditional(command: PutItemCommand | DeleteItemCommand): Promise<void> {
    try {
      await this.client.send(command as PutItemCommand);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

/** What the table holds about one secret. */
export interface SecretConsumers {
  readonly secretArn: string;
  readonly rotation?: TrackedRotation;
  /** Live consumers, sorted by service and instance. */
  readonly consumers: readonly TrackedConsumer[];
  /** Consumers past their expiry that the TTL has not deleted yet. */
  readonly expired: readonly TrackedConsumer[];
}

function group(items: Array<Record<string, AttributeValue>>, now: number): Map<string, SecretConsumers> {
  const bySecret = new Map<
    string,
    { rotation?: TrackedRotation; consumers: TrackedConsumer[]; expired: TrackedConsumer[] }
  >();
  for (const item of items) {
    const secretArn = item.pk?.S;
    const sort = item.sk?.S;
    if (!secretArn || !sort) continue;
    const entry = bySecret.get(secretArn) ?? { consumers: [], expired: [] };
    bySecret.set(secretArn, entry);
    if (sort === TRACKER_KEYS.ROTATION) {
      const previous = item.previousVersionId?.S;
      entry.rotation = {
        secretArn,
        versionId: item.versionId?.S ?? '',
        rotatedAt: Number(item.rotatedAt?.N ?? 0),
        evaluated: item.evaluated?.BOOL ?? false,
        ...(previous ? { previousVersionId: previous } : {}),
      };
    } else if (sort.startsWith(TRACKER_KEYS.CONSUMER_PREFIX)) {
      const heartbeatSeconds = Number(item.heartbeatSeconds?.N ?? 0);
      const lastSeenAt = Number(item.lastSeenAt?.N ?? 0);
      const consumer: TrackedConsumer = {
        secretArn,
        service: item.service?.S ?? '',
        instance: item.instance?.S ?? '',
        versionId: item.versionId?.S ?? '',
        usedSince: Number(item.usedSince?.N ?? 0),
        lastSeenAt,
        firstSeenAt: Number(item.firstSeenAt?.N ?? lastSeenAt),
        heartbeatSeconds,
        expiresAtMs: lastSeenAt + MISSED_HEARTBEATS * heartbeatSeconds * 1000,
      };
      (consumer.expiresAtMs > now ? entry.consumers : entry.expired).push(consumer);
    }
  }
  const result = new Map<string, SecretConsumers>();
  for (const [secretArn, entry] of bySecret) {
    const order = (a: TrackedConsumer, b: TrackedConsumer) =>
      a.service.localeCompare(b.service) || a.instance.localeCompare(b.instance);
    result.set(secretArn, {
      secretArn,
      consumers: entry.consumers.sort(order),
      expired: entry.expired,
      ...(entry.rotation ? { rotation: entry.rotation } : {}),
    });
  }
  return result;
}

function consumerKey(secretArn: string, service: string, instance: string): Record<string, AttributeValue> {
  return key(secretArn, `${TRACKER_KEYS.CONSUMER_PREFIX}${service}#${instance}`);
}

function key(secretArn: string, sort: string): Record<string, AttributeValue> {
  return { [TRACKER_KEYS.PARTITION]: s(secretArn), [TRACKER_KEYS.SORT]: s(sort) };
}

function s(value: string): AttributeValue {
  return { S: value };
}

function n(value: number): AttributeValue {
  return { N: String(value) };
}
