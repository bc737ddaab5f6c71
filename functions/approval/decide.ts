import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  DescribeSecretCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { SNSClient } from '@aws-sdk/client-sns';
import { AuditDetailType } from '../audit/records';
import {
  ApprovalRefusedError,
  type ApprovalRequest,
  ApprovalStore,
  ApprovalTag,
  publishAuditEvent,
  RefusalCode,
  RequestState,
} from './approvals';
import { type ApprovalRules, notifyApprovers } from './request';

/**
 * The part of a Lambda function URL event the decider reads. With `AuthType: AWS_IAM`, Lambda checks the
 * request's SigV4 signature before the function runs and puts the signer in
 * `requestContext.authorizer.iam` (`userArn`, `userId`, `accountId`, `accessKey`, ...): the identity AWS
 * authenticated, not one the caller wrote (AWS Lambda Developer Guide, "Invoking Lambda function URLs",
 * request payload format).
 */
export interface FunctionUrlEvent {
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly requestContext?: {
    readonly http?: { readonly method?: string };
    readonly authorizer?: { readonly iam?: { readonly userArn?: string | null } | null } | null;
  };
}

/** What the function URL returns (payload format 2.0). */
export interface FunctionUrlResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** The decisions the URL takes. `request` raises a request in the caller's name. */
export const DecisionAction = {
  APPROVE: 'approve',
  DENY: 'deny',
  BYPASS: 'bypass',
  REQUEST: 'request',
} as const;
export type DecisionAction = (typeof DecisionAction)[keyof typeof DecisionAction];

/** The request body: which secret and what to do. Nothing in it says who the caller is. */
export interface DecisionBody {
  readonly action: DecisionAction;
  /** The secret's ARN (the decider checks that the secret names this decider's table). */
  readonly secretArn: string;
  readonly reason?: string;
  /** The approval request (approve, deny); default: the one pending request of the secret. */
  readonly requestId?: string;
}

/** What a decision returns: the request as it now stands. Metadata only, never a value. */
export interface DecisionOutcome {
  readonly secretArn: string;
  readonly requestId: string;
  readonly state: RequestState;
  readonly requestedBy: string;
  readonly decidedBy: string | null;
  readonly reason: string | null;
  readonly expiresAt: string;
  readonly fourEyes: boolean;
  readonly fourEyesBy: string;
  /** Whether this call (or an earlier one for the same approval) started the rotation. */
  readonly rotationStarted: boolean;
  /** `request`: whether the approvers were notified. */
  readonly notified?: boolean;
}

/** A refused call: the HTTP status, a code and a message naming what is wrong (never a value). */
export interface DecisionError {
  readonly error: string;
  readonly message: string;
}

const FIELDS = new Set(['action', 'secretArn', 'reason', 'requestId']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SECRET_ARN = /^arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:.+$/;

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const badRequest = (message: string) => new HttpError(400, 'bad-request', message);

/**
 * Parses and validates the body strictly: a JSON object with only the known fields, each of its type. A
 * field about identity (`actor`, `principal`, ...) is refused like any unknown one: who decides is who
 * signed the request.
 */
export function parseDecisionBody(event: FunctionUrlEvent): DecisionBody {
  const raw = event.body ?? '';
  const textBody = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  let parsed: unknown;
  try {
    parsed = JSON.parse(textBody);
  } catch {
    throw badRequest('body: must be a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badRequest('body: must be a JSON object');
  }
  const body = parsed as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) {
      throw badRequest(
        `body.${key.slice(0, 40)}: unknown field (accepted: ${[...FIELDS].join(', ')}; who decides is the identity that signed the request)`,
      );
    }
  }
  const actions = Object.values(DecisionAction) as string[];
  if (typeof body.action !== 'string' || !actions.includes(body.action)) {
    throw badRequest(`body.action: must be one of ${actions.join(', ')}`);
  }
  const action = body.action as DecisionAction;
  if (typeof body.secretArn !== 'string' || !SECRET_ARN.test(body.secretArn)) {
    throw badRequest('body.secretArn: must be the ARN of a Secrets Manager secret');
  }
  let reason: string | undefined;
  if (body.reason !== undefined) {
    if (typeof body.reason !== 'string') throw badRequest('body.reason: must be a string');
    reason = body.reason.trim();
    if (reason.length > 500) throw badRequest('body.reason: must be at most 500 characters');
  }
  if (action !== DecisionAction.REQUEST && !reason) {
    throw badRequest(`body.reason: required to ${action}: say why, it is recorded`);
  }
  if (body.requestId !== undefined) {
    if (action === DecisionAction.BYPASS || action === DecisionAction.REQUEST) {
      throw badRequest(`body.requestId: not accepted with action ${action}`);
    }
    if (typeof body.requestId !== 'string' || !UUID.test(body.requestId)) {
      throw badRequest('body.requestId: must be the UUID of an approval request');
    }
  }
  return {
    action,
    secretArn: body.secretArn,
    ...(reason ? { reason } : {}),
    ...(typeof body.requestId === 'string' ? { requestId: body.requestId } : {}),
  };
}

/** What the decider needs; tests pass clients pointed at moto. */
export interface DecideDependencies {
  readonly dynamodb: DynamoDBClient;
  readonly secretsManager: SecretsManagerClient;
  readonly sns: SNSClient;
  readonly eventBridge?: EventBridgeClient;
  /** The approval rules (the approval function's environment, without SECRET_ARN: `loadApprovalRules`). */
  readonly config: ApprovalRules;
  readonly now?: () => Date;
}

const REFUSAL_STATUS: Record<RefusalCode, number> = {
  [RefusalCode.NOT_FOUND]: 404,
  [RefusalCode.ALREADY_DECIDED]: 409,
  [RefusalCode.EXPIRED]: 409,
  [RefusalCode.OWN_REQUEST]: 403,
};

function respond(statusCode: number, body: DecisionOutcome | DecisionError): FunctionUrlResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function outcome(request: ApprovalRequest, rotationStarted: boolean, notified?: boolean): DecisionOutcome {
  return {
    secretArn: request.secretArn,
    requestId: request.requestId,
    state: request.state,
    requestedBy: request.requestedBy,
    decidedBy: request.decidedBy ?? null,
    reason: request.reason ?? null,
    expiresAt: request.expiresAt.toISOString(),
    fourEyes: request.fourEyes,
    fourEyesBy: request.fourEyesBy,
    rotationStarted,
    ...(notified === undefined ? {} : { notified }),
  };
}

/**
 * The decider behind the approval function URL: approves, denies, bypasses (and requests) as the identity
 * Lambda authenticated, `requestContext.authorizer.iam.userArn`, and nothing else. Approvers hold only
 * `lambda:InvokeFunctionUrl` on it; the table writes, RotateSecret and the audit events are this
 * function's, so the identity recorded and compared by four-eyes is AWS's, not the caller's word.
 */
export function createDecideHandler(deps: DecideDependencies) {
  const store = new ApprovalStore(deps.dynamodb, deps.config.tableName);
  const now = deps.now ?? (() => new Date());
  const { config } = deps;

  async function checkSecret(secretArn: string): Promise<string> {
    // Bound to one secret: IAM lets this function describe and rotate only it, and the secret must name this
    // decider's table (the RotationApproval construct tags it).
    let tags: Record<string, string>;
    let arn: string;
    try {
      const out = await deps.secretsManager.send(new DescribeSecretCommand({ SecretId: secretArn }));
      arn = out.ARN ?? secretArn;
      tags = Object.fromEntries((out.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    } catch (error) {
      const name = (error as { name?: string }).name ?? 'Error';
      throw new HttpError(403, 'not-this-secret', `${secretArn}: this decider cannot read it (${name})`);
    }
    if (tags[ApprovalTag.TABLE] !== config.tableName) {
      throw new HttpError(
        403,
        'not-this-secret',
        `${arn}: its approvals are not in this decider's table (${ApprovalTag.TABLE} tag)`,
      );
    }
    return arn;
  }

  async function startRotation(request: ApprovalRequest): Promise<void> {
    try {
      await deps.secretsManager.send(
        new RotateSecretCommand({
          SecretId: request.secretArn,
          ClientRequestToken: request.requestId,
          RotateImmediately: true,
        }),
      );
    } catch (error) {
      const name = (error as { name?: string }).name ?? 'Error';
      throw new HttpError(
        502,
        'rotation-not-started',
        `RotateSecret of ${request.secretArn} failed (${name}); request ${request.requestId} is ${request.state}: call again to start the rotation`,
      );
    }
    await store.markRotationStarted(request.secretArn, request.requestId, now());
  }

  async function pendingRequest(secretArn: string, at: Date): Promise<string> {
    const pending = (await store.list(secretArn)).filter(
      (r) => r.state === RequestState.PENDING && r.expiresAt.getTime() > at.getTime(),
    );
    if (pending.length === 0)
      throw new HttpError(409, 'none-pending', `${secretArn}: no approval request is pending`);
    if (pending.length > 1) {
      throw new HttpError(
        409,
        'several-pending',
        `${secretArn}: ${pending.length} approval requests are pending (${pending.map((r) => r.requestId).join(', ')}); choose one with requestId`,
      );
    }
    return (pending[0] as ApprovalRequest).requestId;
  }

  async function decide(body: DecisionBody, actor: string): Promise<FunctionUrlResult> {
    const secretArn = await checkSecret(body.secretArn);
    const at = now();
    const reason = body.reason ?? '';
    if (body.action === DecisionAction.REQUEST) {
      const request = await store.create({
        secretArn,
        requestedBy: actor,
        now: at,
        expiresAfterMs: config.expiresAfterSeconds * 1000,
        fourEyes: config.fourEyes,
        fourEyesBy: config.fourEyesBy,
        retentionDays: config.retentionDays,
      });
      const notified = Boolean(config.topicArn);
      if (notified) {
        await notifyApprovers(deps.sns, config.topicArn, request);
      }
      await publishAuditEvent(
        deps.eventBridge,
        config.eventBusName,
        AuditDetailType.APPROVAL_REQUESTED,
        request,
      );
      return respond(201, outcome(request, false, notified));
    }
    if (body.action === DecisionAction.BYPASS) {
      const bypass = await store.bypass({
        secretArn,
        actor,
        reason,
        now: at,
        retentionDays: config.retentionDays,
      });
      await publishAuditEvent(deps.eventBridge, config.eventBusName, AuditDetailType.BYPASSED, bypass);
      await startRotation(bypass);
      return respond(200, outcome(bypass, true));
    }
    const requestId = body.requestId ?? (await pendingRequest(secretArn, at));
    const decision = body.action === DecisionAction.APPROVE ? RequestState.APPROVED : RequestState.DENIED;
    let decided: ApprovalRequest;
    try {
      decided = await store.decide({ secretArn, requestId, decision, actor, reason, now: at });
    } catch (error) {
      if (!(error instanceof ApprovalRefusedError)) throw error;
      // A crash between the approval and RotateSecret: the same token starts the same rotation, once.
      const current =
        decision === RequestState.APPROVED && error.code === RefusalCode.ALREADY_DECIDED
          ? await store.get(secretArn, requestId)
          : undefined;
      if (!current || current.state !== RequestState.APPROVED || current.rotationStartedAt) {
        throw new HttpError(REFUSAL_STATUS[error.code], error.code, error.message);
      }
      await startRotation(current);
      return respond(200, outcome(current, true));
    }
    if (decision === RequestState.DENIED) {
      await publishAuditEvent(deps.eventBridge, config.eventBusName, AuditDetailType.DENIED, decided);
      return respond(200, outcome(decided, false));
    }
    await publishAuditEvent(deps.eventBridge, config.eventBusName, AuditDetailType.APPROVED, decided);
    await startRotation(decided);
    return respond(200, outcome(decided, true));
  }

  return async (event: FunctionUrlEvent): Promise<FunctionUrlResult> => {
    try {
      const actor = event?.requestContext?.authorizer?.iam?.userArn;
      if (typeof actor !== 'string' || actor === '') {
        throw new HttpError(
          403,
          'unauthenticated',
          'no IAM identity in the request context: call the function URL with AuthType AWS_IAM, signed with SigV4',
        );
      }
      const method = event.requestContext?.http?.method;
      if (method !== undefined && method !== 'POST') {
        throw new HttpError(405, 'method-not-allowed', `method ${method.slice(0, 10)}: only POST decides`);
      }
      return await decide(parseDecisionBody(event), actor);
    } catch (error) {
      if (error instanceof HttpError)
        return respond(error.statusCode, { error: error.code, message: error.message });
      throw error;
    }
  };
}
