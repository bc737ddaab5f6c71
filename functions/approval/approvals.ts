import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { AUDIT_SOURCE, type AuditDetailType } from '../audit/records';

/** Tags the RotationApproval construct puts on a secret, so that the CLI finds its approvals. */
export const ApprovalTag = {
  /** `required` on a secret whose rotation waits for a person's approval. */
  REQUIRED: 'secret-rotation:approval',
  /** The DynamoDB table of its approval requests. */
  TABLE: 'secret-rotation:approval-table',
  /** The EventBridge bus its audit events go to. */
  EVENT_BUS: 'secret-rotation:event-bus',
  /** `true` when the requester may not approve their own request. */
  FOUR_EYES: 'secret-rotation:four-eyes',
  /** The SNS topic approvers are notified on. */
  TOPIC: 'secret-rotation:approval-topic',
  /** Seconds a request waits before it expires. */
  EXPIRES_SECONDS: 'secret-rotation:approval-expires-seconds',
  /** The decider's function URL (AuthType AWS_IAM): approve, deny, bypass and request go there. */
  URL: 'secret-rotation:approval-url',
  /** What four-eyes compares: `person` (role and session name) or `role`. */
  FOUR_EYES_BY: 'secret-rotation:four-eyes-by',
} as const;

/** The states of an approval request. A request leaves `pending` once, and only once. */
export const RequestState = {
  PENDING: 'pending',
  APPROVED: 'approved',
  DENIED: 'denied',
  EXPIRED: 'expired',
  /** An emergency rotation that went ahead without approval, with a recorded reason. */
  BYPASSED: 'bypassed',
} as const;
export type RequestState = (typeof RequestState)[keyof typeof RequestState];

/** One approval request: a rotation of one secret waiting for a person. Never holds a secret value. */
export interface ApprovalRequest {
  readonly secretArn: string;
  /** A UUID; also the rotation's ClientRequestToken, so an approval starts exactly one rotation. */
  readonly requestId: string;
  readonly state: RequestState;
  /** The IAM identity that asked (the schedule's role, or a person's). */
  readonly requestedBy: string;
  readonly requestedAt: Date;
  readonly expiresAt: Date;
  readonly fourEyes: boolean;
  /** What four-eyes compares (`person` for requests made before the option existed). */
  readonly fourEyesBy: FourEyesBy;
  /** Who approved, denied or bypassed; `expiry` for an expired request. */
  readonly decidedBy?: string;
  readonly decidedAt?: Date;
  readonly reason?: string;
  /** When the approved rotation was started (RotateSecret accepted). */
  readonly rotationStartedAt?: Date;
}

/** Why a decision was refused. */
export const RefusalCode = {
  NOT_FOUND: 'not-found',
  ALREADY_DECIDED: 'already-decided',
  EXPIRED: 'expired',
  OWN_REQUEST: 'own-request',
} as const;
export type RefusalCode = (typeof RefusalCode)[keyof typeof RefusalCode];

/** A refused approval or denial. The message names the secret and the request, never a value. */
export class ApprovalRefusedError extends Error {
  constructor(
    message: string,
    readonly code: RefusalCode,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ApprovalRefusedError';
  }
}

/**
 * What four-eyes compares. `person`: an assumed-role session is its role and session name, which holds when
 * the session name is the person's and not the caller's choice (IAM Identity Center names the session after
 * the user; a trust policy can pin `sts:RoleSessionName`). `role`: an assumed-role session is its role only,
 * so the approver must come through another role (or be an IAM user): the rule that holds when whoever calls
 * `sts:AssumeRole` chooses the session name, and so could approve their own request from a second session.
 */
export const FourEyesBy = { PERSON: 'person', ROLE: 'role' } as const;
export type FourEyesBy = (typeof FourEyesBy)[keyof typeof FourEyesBy];

/**
 * The identity that counts for four-eyes. By `person` (the default): an assumed-role session is its role and
 * session name, `arn:aws:sts::1:assumed-role/oncall/alice` is `arn:aws:iam::1:role/oncall#alice`. By `role`:
 * it is `arn:aws:iam::1:role/oncall`, whatever the session. An IAM user is its ARN either way.
 */
export function principalOf(callerArn: string, by: FourEyesBy = FourEyesBy.PERSON): string {
  const assumed = /^arn:(aws[\w-]*):sts::(\d+):assumed-role\/([^/]+)\/(.+)$/.exec(callerArn);
  if (!assumed) return callerArn;
  const role = `arn:${assumed[1]}:iam::${assumed[2]}:role/${assumed[3]}`;
  return by === FourEyesBy.ROLE ? role : `${role}#${assumed[4]}`;
}

type Item = Record<string, AttributeValue>;

function isConditionFailure(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === 'ConditionalCheckFailedException';
}
const S = (value: string): AttributeValue => ({ S: value });
const text = (item: Item, name: string): string | undefined => item[name]?.S;
const date = (item: Item, name: string): Date | undefined => {
  const raw = text(item, name);
  return raw ? new Date(raw) : undefined;
};

function fromItem(item: Item): ApprovalRequest {
  const decidedAt = date(item, 'decidedAt');
  const rotationStartedAt = date(item, 'rotationStartedAt');
  return {
    secretArn: text(item, 'secretArn') ?? '',
    requestId: text(item, 'requestId') ?? '',
    state: (text(item, 'state') ?? RequestState.PENDING) as RequestState,
    requestedBy: text(item, 'requestedBy') ?? 'unknown',
    requestedAt: date(item, 'requestedAt') ?? new Date(0),
    expiresAt: date(item, 'expiresAt') ?? new Date(0),
    fourEyes: item.fourEyes?.BOOL === true,
    fourEyesBy: text(item, 'fourEyesBy') === FourEyesBy.ROLE ? FourEyesBy.ROLE : FourEyesBy.PERSON,
    ...(text(item, 'decidedBy') ? { decidedBy: text(item, 'decidedBy') as string } : {}),
    ...(decidedAt ? { decidedAt } : {}),
    ...(text(item, 'reason') ? { reason: text(item, 'reason') as string } : {}),
    ...(rotationStartedAt ? { rotationStartedAt } : {}),
  };
}

/**
 * Approval requests in a DynamoDB table (partition key `secretArn`, sort key `requestId`). Every change of
 * state is one conditional write from `pending`, so two approvers racing, a replayed approval, an approval
 * after expiry or the requester approving their own request under four-eyes all fail in DynamoDB itself,
 * not in a check that a concurrent writer could slip past.
 */
export class ApprovalStore {
  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {}

  /** Creates a pending request. */
  async create(input: {
    readonly secretArn: string;
    readonly requestedBy: string;
    readonly now: Date;
    readonly expiresAfterMs: number;
    readonly fourEyes: boolean;
    /** What four-eyes compares. @default 'person' */
    readonly fourEyesBy?: FourEyesBy;
    /** Days to keep the record after it expires (DynamoDB TTL on `ttl`). */
    readonly retentionDays: number;
  }): Promise<ApprovalRequest> {
    const requestId = randomUUID();
    const fourEyesBy = input.fourEyesBy ?? FourEyesBy.PERSON;
    const expiresAt = new Date(input.now.getTime() + input.expiresAfterMs);
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          secretArn: S(input.secretArn),
          requestId: S(requestId),
          state: S(RequestState.PENDING),
          requestedBy: S(input.requestedBy),
          requestedPrincipal: S(principalOf(input.requestedBy, fourEyesBy)),
          requestedAt: S(input.now.toISOString()),
          expiresAt: S(expiresAt.toISOString()),
          fourEyes: { BOOL: input.fourEyes },
          fourEyesBy: S(fourEyesBy),
          ttl: { N: String(Math.floor(expiresAt.getTime() / 1000) + input.retentionDays * 86400) },
        },
        ConditionExpression: 'attribute_not_exists(requestId)',
      }),
    );
    return {
      secretArn: input.secretArn,
      requestId,
      state: RequestState.PENDING,
      requestedBy: input.requestedBy,
      requestedAt: input.now,
      expiresAt,
      fourEyes: input.fourEyes,
      fourEyesBy,
    };
  }

  async get(secretArn: string, requestId: string): Promise<ApprovalRequest | undefined> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { secretArn: S(secretArn), requestId: S(requestId) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? fromItem(out.Item) : undefined;
  }

  /** Every request of a secret, oldest first, all pages. */
  async list(secretArn: string): Promise<ApprovalRequest[]> {
    const requests: ApprovalRequest[] = [];
    let start: Item | undefined;
    do {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'secretArn = :s',
          ExpressionAttributeValues: { ':s': S(secretArn) },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of out.Items ?? []) requests.push(fromItem(item));
      start = out.LastEvaluatedKey;
    } while (start);
    return requests.sort((a, b) => a.requestedAt.getTime() - b.requestedAt.getTime());
  }

  /**
   * Approves or denies a pending request, once. The condition holds the rules: still pending, not expired,
   * and under four-eyes not the requester's own identity.
   * @throws ApprovalRefusedError naming why, read back after the refused write.
   */
  async decide(input: {
    readonly secretArn: string;
    readonly requestId: string;
    readonly decision: typeof RequestState.APPROVED | typeof RequestState.DENIED;
    readonly actor: string;
    readonly reason: string;
    readonly now: Date;
  }): Promise<ApprovalRequest> {
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { secretArn: S(input.secretArn), requestId: S(input.requestId) },
          UpdateExpression: 'SET #state = :decision, decidedBy = :actor, decidedAt = :now, reason = :reason',
          ConditionExpression:
            'attribute_exists(requestId) AND #state = :pending AND expiresAt > :now AND ' +
            // the request's own rule: compared by role, or (requests made before the option too) by person
            '(fourEyes = :false OR (fourEyesBy = :byRole AND requestedPrincipal <> :role) OR ' +
            '((attribute_not_exists(fourEyesBy) OR fourEyesBy = :byPerson) AND requestedPrincipal <> :principal))',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':decision': S(input.decision),
            ':actor': S(input.actor),
            ':principal': S(principalOf(input.actor, FourEyesBy.PERSON)),
            ':role': S(principalOf(input.actor, FourEyesBy.ROLE)),
            ':byRole': S(FourEyesBy.ROLE),
            ':byPerson': S(FourEyesBy.PERSON),
            ':now': S(input.now.toISOString()),
            ':reason': S(input.reason),
            ':pending': S(RequestState.PENDING),
            ':false': { BOOL: false },
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return fromItem(out.Attributes ?? {});
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException || isConditionFailure(error))) throw error;
      throw await this.#refusal(input.secretArn, input.requestId, input.actor, input.now, error);
    }
  }

  /** Records that the approved rotation started. Idempotent. */
  async markRotationStarted(secretArn: string, requestId: string, now: Date): Promise<void> {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { secretArn: S(secretArn), requestId: S(requestId) },
        UpdateExpression: 'SET rotationStartedAt = if_not_exists(rotationStartedAt, :now)',
        ConditionExpression: '#state IN (:approved, :bypassed)',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':now': S(now.toISOString()),
          ':approved': S(RequestState.APPROVED),
          ':bypassed': S(RequestState.BYPASSED),
        },
      }),
    );
  }

  /** Marks a pending request past its expiry as expired. Returns it when this call expired it. */
  async expire(secretArn: string, requestId: string, now: Date): Promise<ApprovalRequest | undefined> {
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { secretArn: S(secretArn), requestId: S(requestId) },
          UpdateExpression: 'SET #state = :expired, decidedBy = :expiry, decidedAt = :now',
          ConditionExpression: '#state = :pending AND expiresAt <= :now',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':expired': S(RequestState.EXPIRED),
            ':expiry': S('expiry'),
            ':now': S(now.toISOString()),
            ':pending': S(RequestState.PENDING),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return fromItem(out.Attributes ?? {});
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  /** Records an emergency rotation that goes ahead without approval: who, when, why. */
  async bypass(input: {
    readonly secretArn: string;
    readonly actor: string;
    readonly reason: string;
    readonly now: Date;
    readonly retentionDays: number;
  }): Promise<ApprovalRequest> {
    const requestId = randomUUID();
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          secretArn: S(input.secretArn),
          requestId: S(requestId),
          state: S(RequestState.BYPASSED),
          requestedBy: S(input.actor),
          requestedAt: S(input.now.toISOString()),
          expiresAt: S(input.now.toISOString()),
          fourEyes: { BOOL: false },
          decidedBy: S(input.actor),
          decidedAt: S(input.now.toISOString()),
          reason: S(input.reason),
          ttl: { N: String(Math.floor(input.now.getTime() / 1000) + input.retentionDays * 86400) },
        },
        ConditionExpression: 'attribute_not_exists(requestId)',
      }),
    );
    return {
      secretArn: input.secretArn,
      requestId,
      state: RequestState.BYPASSED,
      requestedBy: input.actor,
      requestedAt: input.now,
      expiresAt: input.now,
      fourEyes: false,
      fourEyesBy: FourEyesBy.PERSON,
      decidedBy: input.actor,
      decidedAt: input.now,
      reason: input.reason,
    };
  }

  async #refusal(
    secretArn: string,
    requestId: string,
    actor: string,
    now: Date,
    cause: unknown,
  ): Promise<ApprovalRefusedError> {
    const current = await this.get(secretArn, requestId);
    const about = `approval request ${requestId} of ${secretArn}`;
    if (!current)
      return new ApprovalRefusedError(`${about} does not exist`, RefusalCode.NOT_FOUND, { cause });
    if (current.state !== RequestState.PENDING) {
      return new ApprovalRefusedError(
        `${about} was already ${current.state}${current.decidedBy ? ` by ${current.decidedBy}` : ''}${current.decidedAt ? ` at ${current.decidedAt.toISOString()}` : ''}: an approval is for one request and cannot be given twice`,
        RefusalCode.ALREADY_DECIDED,
        { cause },
      );
    }
    if (current.expiresAt.getTime() <= now.getTime()) {
      return new ApprovalRefusedError(
        `${about} expired at ${current.expiresAt.toISOString()}; request a new one`,
        RefusalCode.EXPIRED,
        { cause },
      );
    }
    return new ApprovalRefusedError(
      current.fourEyesBy === FourEyesBy.ROLE
        ? `${about} was made by ${current.requestedBy}, through the caller's role (${principalOf(actor, FourEyesBy.ROLE)}): four-eyes by role requires an approver from another role`
        : `${about} was made by ${current.requestedBy}, who is also the caller (${principalOf(actor)}): four-eyes requires another person to approve`,
      RefusalCode.OWN_REQUEST,
      { cause },
    );
  }
}

/** Publishes an operator audit event (approval requested, approved, denied, expired, bypassed). */
export async function publishAuditEvent(
  eventBridge: EventBridgeClient | undefined,
  busName: string | undefined,
  detailType: AuditDetailType,
  request: ApprovalRequest,
  extra: Record<string, string> = {},
): Promise<void> {
  if (!eventBridge || !busName) return;
  const detail = {
    secretArn: request.secretArn,
    requestId: request.requestId,
    state: request.state,
    actor: request.decidedBy ?? request.requestedBy,
    requestedBy: request.requestedBy,
    expiresAt: request.expiresAt.toISOString(),
    ...(request.reason ? { reason: request.reason } : {}),
    ...extra,
  };
  const out = await eventBridge.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: busName,
          Source: AUDIT_SOURCE,
          DetailType: detailType,
          Resources: [request.secretArn],
          Detail: JSON.stringify(detail),
        },
      ],
    }),
  );
  if ((out.FailedEntryCount ?? 0) > 0) {
    throw new Error(
      `EventBridge rejected '${detailType}' for ${request.secretArn}: ${out.Entries?.[0]?.ErrorCode ?? 'unknown error'}`,
    );
  }
}
