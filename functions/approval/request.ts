import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { AuditDetailType } from '../audit/records';
import {
  ConfigurationError,
  DEFAULT_METRICS_NAMESPACE,
  type Environment,
  integer,
  optionalString,
  requiredString,
} from '../rotation';
import {
  type ApprovalRequest,
  ApprovalStore,
  FourEyesBy,
  publishAuditEvent,
  RequestState,
} from './approvals';

/**
 * The dimension of the approval metrics besides `service`: the secret's ARN as the function is configured with
 * it (`SECRET_ARN`), which RotationApproval's alarm and widget use too.
 */
export const APPROVAL_METRIC_DIMENSION = 'secretArn';
/** Pending requests of the secret (a gauge, for the dashboard). */
export const APPROVALS_WAITING_METRIC = 'ApprovalsWaiting';
/** 1 when a run expired a request: the rotation did not happen. */
export const APPROVAL_EXPIRED_METRIC = 'ApprovalExpired';
/**
 * 1 while the secret's latest request ended expired or denied and nothing since approved or bypassed it: the
 * rotation is overdue because of its approval. The RotationApproval construct alarms on it.
 */
export const APPROVAL_OVERDUE_METRIC = 'ApprovalOverdue';

/** Configuration of the approval function, from its environment. */
export interface ApprovalConfig {
  readonly secretArn: string;
  readonly tableName: string;
  readonly topicArn: string;
  readonly eventBusName?: string;
  readonly expiresAfterSeconds: number;
  readonly fourEyes: boolean;
  /** `FOUR_EYES_BY`: what four-eyes compares, `person` (default) or `role`. */
  readonly fourEyesBy: FourEyesBy;
  readonly retentionDays: number;
  /** Who asks, in the record: the schedule, through this function. */
  readonly requester: string;
}

export function loadApprovalConfig(env: Environment = process.env): ApprovalConfig {
  return {
    secretArn: requiredString(env, 'SECRET_ARN'),
    ...loadApprovalRules(env),
    requester: `schedule (${optionalString(env, 'AWS_LAMBDA_FUNCTION_NAME') ?? 'approval function'})`,
  };
}

/** The approval rules and where requests go, shared by the approval function and its decider. */
export type ApprovalRules = Omit<ApprovalConfig, 'secretArn' | 'requester'>;

/** The configuration without the secret: the decider's (the secret comes with each call, and is checked). */
export function loadApprovalRules(env: Environment = process.env): ApprovalRules {
  const fourEyes = optionalString(env, 'FOUR_EYES') ?? 'true';
  if (fourEyes !== 'true' && fourEyes !== 'false') {
    throw new ConfigurationError(`Environment variable FOUR_EYES must be true or false, got '${fourEyes}'`);
  }
  const by = optionalString(env, 'FOUR_EYES_BY') ?? FourEyesBy.PERSON;
  if (by !== FourEyesBy.PERSON && by !== FourEyesBy.ROLE) {
    throw new ConfigurationError(`Environment variable FOUR_EYES_BY must be person or role, got '${by}'`);
  }
  const bus = optionalString(env, 'EVENT_BUS_NAME');
  return {
    tableName: requiredString(env, 'APPROVAL_TABLE'),
    topicArn: requiredString(env, 'APPROVAL_TOPIC_ARN'),
    ...(bus ? { eventBusName: bus } : {}),
    expiresAfterSeconds: integer(env, 'APPROVAL_EXPIRES_SECONDS', {
      min: 300,
      max: 30 * 86400,
      default: 86400,
    }),
    fourEyes: fourEyes === 'true',
    fourEyesBy: by,
    retentionDays: integer(env, 'APPROVAL_RETENTION_DAYS', { min: 1, max: 3650, default: 400 }),
  };
}

/** What the function needs; tests pass clients pointed at moto. */
export interface ApprovalDependencies {
  readonly dynamodb: DynamoDBClient;
  readonly sns: SNSClient;
  readonly eventBridge?: EventBridgeClient;
  readonly config: ApprovalConfig;
  readonly metrics?: Metrics;
  readonly now?: () => Date;
}

/** What a run did. */
export interface ApprovalRunResult {
  readonly requested?: ApprovalRequest;
  /** An unexpired request was already pending: no second one. */
  readonly alreadyPending?: ApprovalRequest;
  readonly expired: readonly ApprovalRequest[];
  readonly waiting: number;
  /** The latest request ended expired or denied. */
  readonly overdue: boolean;
}

/**
 * The approval function. On the secret's schedule (`{ "action": "request" }`) it raises an approval request
 * instead of rotating, notifies the approvers through SNS and records an audit event; a request already
 * pending is not raised twice (a schedule may fire twice). Every run, and the hourly sweep
 * (`{ "action": "sweep" }`), expires the pending requests past their time, each with an event and the
 * `ApprovalExpired` metric that the overdue alarm watches, and publishes `ApprovalsWaiting`.
 */
export function createApprovalHandler(deps: ApprovalDependencies) {
  const store = new ApprovalStore(deps.dynamodb, deps.config.tableName);
  const now = deps.now ?? (() => new Date());
  const metrics =
    deps.metrics ??
    new Metrics({
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_METRICS_NAMESPACE,
      serviceName: 'secret-rotation',
    });
  const { config } = deps;
  return async (event: unknown): Promise<ApprovalRunResult> => {
    const action = (event as { action?: unknown } | undefined)?.action ?? 'sweep';
    if (action !== 'request' && action !== 'sweep') {
      throw new ConfigurationError(
        `approval event: action must be 'request' or 'sweep', got '${String(action)}'`,
      );
    }
    const at = now();
    const expired: ApprovalRequest[] = [];
    let pending: ApprovalRequest[] = [];
    const all = await store.list(config.secretArn);
    for (const request of all) {
      if (request.state !== RequestState.PENDING) continue;
      if (request.expiresAt.getTime() <= at.getTime()) {
        const done = await store.expire(request.secretArn, request.requestId, at);
        if (done) {
          expired.push(done);
          await publishAuditEvent(deps.eventBridge, config.eventBusName, AuditDetailType.EXPIRED, done);
        }
      } else pending.push(request);
    }
    let requested: ApprovalRequest | undefined;
    const alreadyPending = action === 'request' ? pending[pending.length - 1] : undefined;
    if (action === 'request' && !alreadyPending) {
      requested = await store.create({
        secretArn: config.secretArn,
        requestedBy: config.requester,
        now: at,
        expiresAfterMs: config.expiresAfterSeconds * 1000,
        fourEyes: config.fourEyes,
        fourEyesBy: config.fourEyesBy,
        retentionDays: config.retentionDays,
      });
      pending = [...pending, requested];
      await notifyApprovers(deps.sns, config.topicArn, requested);
      await publishAuditEvent(
        deps.eventBridge,
        config.eventBusName,
        AuditDetailType.APPROVAL_REQUESTED,
        requested,
      );
    }
    const expiredIds = new Set(expired.map((r) => r.requestId));
    const latest = requested ?? all[all.length - 1];
    const latestState = latest && expiredIds.has(latest.requestId) ? RequestState.EXPIRED : latest?.state;
    const overdue = latestState === RequestState.EXPIRED || latestState === RequestState.DENIED;
    // One series a gated secret: two approvals in an account must not share (and cross-fire) one alarm.
    metrics.addDimension(APPROVAL_METRIC_DIMENSION, config.secretArn);
    metrics.addMetric(APPROVALS_WAITING_METRIC, MetricUnit.Count, pending.length);
    metrics.addMetric(APPROVAL_EXPIRED_METRIC, MetricUnit.Count, expired.length > 0 ? 1 : 0);
    metrics.addMetric(APPROVAL_OVERDUE_METRIC, MetricUnit.Count, overdue ? 1 : 0);
    metrics.publishStoredMetrics();
    return {
      ...(requested ? { requested } : {}),
      ...(alreadyPending ? { alreadyPending } : {}),
      expired,
      waiting: pending.length,
      overdue,
    };
  };
}

/** Tells the approvers on their topic that `request` waits, with its secret and id as message attributes. */
export async function notifyApprovers(
  sns: SNSClient,
  topicArn: string,
  request: ApprovalRequest,
): Promise<void> {
  await sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Subject: 'Secret rotation waiting for approval',
      Message: notification(request),
      MessageAttributes: {
        secretArn: { DataType: 'String', StringValue: request.secretArn },
        requestId: { DataType: 'String', StringValue: request.requestId },
      },
    }),
  );
}

/** The approvers' notification: what waits, until when, and the commands. Metadata only. */
export function notification(request: ApprovalRequest): string {
  return [
    `The rotation of ${request.secretArn} is waiting for approval.`,
    `Request ${request.requestId}, raised by ${request.requestedBy} at ${request.requestedAt.toISOString()},`,
    `expires at ${request.expiresAt.toISOString()}${request.fourEyes ? (request.fourEyesBy === FourEyesBy.ROLE ? " (four-eyes by role: nobody in the requester's role can approve it)" : ' (four-eyes: the requester cannot approve it)') : ''}.`,
    '',
    `Approve: secret-rotation approve ${request.secretArn} --request ${request.requestId} --reason "<why>"`,
    `Deny:    secret-rotation deny ${request.secretArn} --request ${request.requestId} --reason "<why>"`,
  ].join('\n');
}
