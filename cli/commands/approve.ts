import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import {
  ApprovalRefusedError,
  type ApprovalRequest,
  ApprovalStore,
  ApprovalTag,
  FourEyesBy,
  publishAuditEvent,
  RefusalCode,
  RequestState,
} from '../../functions/approval/approvals';
import { notification } from '../../functions/approval/request';
import { AuditDetailType } from '../../functions/audit/records';
import type { Args, CommandSpec, OptionSpec } from '../args';
import { type CommandContext, println } from '../context';
import { CliError, describeAwsError, ExitCode, UsageError } from '../errors';
import { toJson } from '../format';
import { describeSecret, type SecretState } from '../secrets';

const COMMON: Readonly<Record<string, OptionSpec>> = {
  reason: { type: 'string', value: '<text>', description: 'Why (recorded with your AWS identity); required' },
  request: {
    type: 'string',
    value: '<id>',
    description: 'The approval request (default: the one pending request of the secret)',
  },
  table: {
    type: 'string',
    value: '<name>',
    description: `The approvals table (default: the secret's ${ApprovalTag.TABLE} tag)`,
  },
  'event-bus': {
    type: 'string',
    value: '<name>',
    description: `Where the audit event goes (default: the secret's ${ApprovalTag.EVENT_BUS} tag)`,
  },
};

export const approveSpec: CommandSpec = {
  name: 'approve',
  summary: "approve a secret's pending rotation (it starts at once), or --emergency: rotate without approval",
  description: [
    'Approves the pending approval request of a secret whose rotation waits for a person (the RotationApproval',
    'construct), as the AWS identity of the caller (STS GetCallerIdentity), with a reason; both are recorded.',
    'The rotation starts at once: RotateSecret with the request id as its ClientRequestToken, so one approval',
    'starts one rotation. Refused, changing nothing: a request already approved, denied or expired (an',
    'approval cannot be replayed), and under four-eyes the requester approving their own request.',
    '',
    '--emergency rotates now without a request, when approval cannot wait: the bypass, its reason and your',
    'identity are recorded and an event is published.',
  ].join('\n'),
  positionals: [{ name: 'secret', required: true }],
  options: {
    ...COMMON,
    emergency: { type: 'boolean', description: 'Rotate now without approval (needs --reason)' },
  },
  examples: [
    'secret-rotation approve prod/payments-db --reason "CHG-1234 quarterly rotation"',
    'secret-rotation approve prod/payments-db --emergency --reason "key leaked in INC-987"',
  ],
};

export const denySpec: CommandSpec = {
  name: 'deny',
  summary: "deny a secret's pending rotation, with a reason (recorded; raises the overdue alarm)",
  description: [
    'Denies the pending approval request of a secret, as the AWS identity of the caller, with a reason. The',
    'rotation does not happen; the denial is recorded and published, and the ApprovalsDenied metric raises the',
    'overdue alarm: a secret whose rotation was denied is a secret that did not rotate.',
  ].join('\n'),
  positionals: [{ name: 'secret', required: true }],
  options: COMMON,
  examples: ['secret-rotation deny prod/payments-db --reason "freeze until the release on Friday"'],
};

export const requestApprovalSpec: CommandSpec = {
  name: 'request-approval',
  summary: 'ask for the rotation of a secret that needs approval (approvers are notified)',
  description: [
    'Raises an approval request for a secret whose rotation waits for a person, as the schedule does, in your',
    'name: the approvers are notified on the SNS topic, and under four-eyes someone else must approve it.',
  ].join('\n'),
  positionals: [{ name: 'secret', required: true }],
  options: { table: COMMON.table as OptionSpec, 'event-bus': COMMON['event-bus'] as OptionSpec },
  examples: ['secret-rotation request-approval prod/payments-db'],
};

/** What `approve`, `deny` and `request-approval` print with `--json`. */
export interface ApprovalJson {
  readonly secret: string;
  readonly arn: string;
  readonly requestId: string;
  readonly state: RequestState;
  readonly requestedBy: string;
  readonly decidedBy: string | null;
  readonly reason: string | null;
  readonly expiresAt: string;
  /** The rotation's version (the request id) when it started; null otherwise. */
  readonly rotationVersionId: string | null;
}

interface Setting {
  readonly state: SecretState;
  readonly store: ApprovalStore;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  readonly actor: string;
}

async function setUp(args: Args, context: CommandContext, command: string): Promise<Setting> {
  const secretId = args.positionals[0] as string;
  let state: SecretState;
  try {
    state = await describeSecret(context.secretsManager, secretId);
  } catch (error) {
    throw describeAwsError(error, secretId, context.target);
  }
  const table = args.string('table') ?? state.tags[ApprovalTag.TABLE];
  if (!table) {
    throw new CliError(
      `secret ${state.name}: its rotation does not wait for approval (no ${ApprovalTag.TABLE} tag); pass --table if it does`,
    );
  }
  const busName = args.string('event-bus') ?? state.tags[ApprovalTag.EVENT_BUS];
  let actor: string;
  try {
    const me = await new STSClient(context.clientConfig).send(new GetCallerIdentityCommand({}));
    actor = me.Arn ?? '';
  } catch (error) {
    throw describeAwsError(error, undefined, context.target);
  }
  if (!actor)
    throw new CliError(`${command}: STS GetCallerIdentity returned no ARN; cannot record who you are`);
  return {
    state,
    store: new ApprovalStore(new DynamoDBClient(context.clientConfig), table),
    ...(busName ? { eventBridge: new EventBridgeClient(context.clientConfig), busName } : {}),
    actor,
  };
}

function requireReason(args: Args, command: string): string {
  const reason = args.string('reason')?.trim();
  if (!reason) throw new UsageError(`${command}: --reason is required: say why, it is recorded`, command);
  if (reason.length > 500)
    throw new UsageError(`${command}: --reason must be at most 500 characters`, command);
  return reason;
}

async function pendingRequest(setting: Setting, requested: string | undefined, now: Date): Promise<string> {
  if (requested) return requested;
  const pending = (await setting.store.list(setting.state.arn)).filter(
    (r) => r.state === RequestState.PENDING && r.expiresAt.getTime() > now.getTime(),
  );
  if (pending.length === 0) {
    throw new CliError(`secret ${setting.state.name}: no approval request is pending`);
  }
  if (pending.length > 1) {
    throw new CliError(
      `secret ${setting.state.name}: ${pending.length} approval requests are pending (${pending.map((r) => r.requestId).join(', ')}); choose one with --request`,
    );
  }
  return (pending[0] as ApprovalRequest).requestId;
}

function output(
  context: CommandContext,
  state: SecretState,
  request: ApprovalRequest,
  started: boolean,
): void {
  const json: ApprovalJson = {
    secret: state.name,
    arn: state.arn,
    requestId: request.requestId,
    state: request.state,
    requestedBy: request.requestedBy,
    decidedBy: request.decidedBy ?? null,
    reason: request.reason ?? null,
    expiresAt: request.expiresAt.toISOString(),
    rotationVersionId: started ? request.requestId : null,
  };
  if (context.json) context.stdout.write(toJson(json));
}

async function startRotation(
  setting: Setting,
  request: ApprovalRequest,
  context: CommandContext,
): Promise<void> {
  try {
    await context.secretsManager.send(
      new RotateSecretCommand({
        SecretId: setting.state.arn,
        ClientRequestToken: request.requestId,
        RotateImmediately: true,
      }),
    );
  } catch (error) {
    const cause = describeAwsError(error, setting.state.name, context.target);
    throw new CliError(
      `${cause.message} (request ${request.requestId} is ${request.state}; run the same command again to start the rotation)`,
      { cause: error },
    );
  }
  await setting.store.markRotationStarted(setting.state.arn, request.requestId, context.now());
}

/** `approve <secret> --reason ... [--request id | --emergency]`. */
export async function runApprove(args: Args, context: CommandContext): Promise<ExitCode> {
  const reason = requireReason(args, 'approve');
  if (args.flag('emergency') && args.string('request')) {
    throw new UsageError('approve: --emergency rotates without a request; do not pass --request', 'approve');
  }
  const setting = await setUp(args, context, 'approve');
  const { state, store } = setting;
  const now = context.now();
  if (args.flag('emergency')) {
    const bypass = await store.bypass({
      secretArn: state.arn,
      actor: setting.actor,
      reason,
      now,
      retentionDays: 400,
    });
    await publishAuditEvent(setting.eventBridge, setting.busName, AuditDetailType.BYPASSED, bypass);
    await startRotation(setting, bypass, context);
    if (!context.json) {
      println(
        context,
        `${context.palette.warn('Emergency rotation')} of ${state.name} without approval, by ${setting.actor}.`,
      );
      println(context, `  reason:  ${reason}`);
      println(
        context,
        `  version: ${bypass.requestId} (rotation started; recorded as bypass ${bypass.requestId})`,
      );
    }
    output(context, state, bypass, true);
    return ExitCode.OK;
  }
  const requestId = await pendingRequest(setting, args.string('request'), now);
  let approved: ApprovalRequest;
  try {
    approved = await store.decide({
      secretArn: state.arn,
      requestId,
      decision: RequestState.APPROVED,
      actor: setting.actor,
      reason,
      now,
    });
    await publishAuditEvent(setting.eventBridge, setting.busName, AuditDetailType.APPROVED, approved);
  } catch (error) {
    // A crash between the approval and RotateSecret: the same token starts the same rotation, once.
    const current =
      error instanceof ApprovalRefusedError && error.code === RefusalCode.ALREADY_DECIDED
        ? await store.get(state.arn, requestId)
        : undefined;
    if (!current || current.state !== RequestState.APPROVED || current.rotationStartedAt) {
      throw error instanceof ApprovalRefusedError
        ? new CliError(`secret ${state.name}: ${error.message}`, { cause: error })
        : describeAwsError(error, state.name, context.target);
    }
    approved = current;
  }
  await startRotation(setting, approved, context);
  if (!context.json) {
    println(
      context,
      `${context.palette.ok('Approved')} request ${approved.requestId} of ${state.name} as ${setting.actor}.`,
    );
    println(context, `  reason:  ${approved.reason ?? reason}`);
    println(
      context,
      `  rotation started: version ${approved.requestId} (follow it: secret-rotation status ${state.name})`,
    );
  }
  output(context, state, approved, true);
  return ExitCode.OK;
}

/** `deny <secret> --reason ... [--request id]`. */
export async function runDeny(args: Args, context: CommandContext): Promise<ExitCode> {
  const reason = requireReason(args, 'deny');
  const setting = await setUp(args, context, 'deny');
  const { state, store } = setting;
  const now = context.now();
  const requestId = await pendingRequest(setting, args.string('request'), now);
  let denied: ApprovalRequest;
  try {
    denied = await store.decide({
      secretArn: state.arn,
      requestId,
      decision: RequestState.DENIED,
      actor: setting.actor,
      reason,
      now,
    });
  } catch (error) {
    throw error instanceof ApprovalRefusedError
      ? new CliError(`secret ${state.name}: ${error.message}`, { cause: error })
      : describeAwsError(error, state.name, context.target);
  }
  await publishAuditEvent(setting.eventBridge, setting.busName, AuditDetailType.DENIED, denied);
  if (!context.json) {
    println(
      context,
      `${context.palette.bad('Denied')} request ${denied.requestId} of ${state.name} as ${setting.actor}.`,
    );
    println(context, `  reason: ${reason}`);
    println(context, '  The secret does not rotate; the overdue alarm will say so until it does.');
  }
  output(context, state, denied, false);
  return ExitCode.OK;
}

/** `request-approval <secret>`. */
export async function runRequestApproval(args: Args, context: CommandContext): Promise<ExitCode> {
  const setting = await setUp(args, context, 'request-approval');
  const { state, store } = setting;
  const expires = Number(state.tags[ApprovalTag.EXPIRES_SECONDS] ?? 86400);
  const request = await store.create({
    secretArn: state.arn,
    requestedBy: setting.actor,
    now: context.now(),
    expiresAfterMs: (Number.isFinite(expires) && expires > 0 ? expires : 86400) * 1000,
    fourEyes: state.tags[ApprovalTag.FOUR_EYES] !== 'false',
    fourEyesBy:
      state.tags[ApprovalTag.FOUR_EYES_BY] === FourEyesBy.ROLE ? FourEyesBy.ROLE : FourEyesBy.PERSON,
    retentionDays: 400,
  });
  const topic = state.tags[ApprovalTag.TOPIC];
  if (topic) {
    await new SNSClient(context.clientConfig).send(
      new PublishCommand({
        TopicArn: topic,
        Subject: 'Secret rotation waiting for approval',
        Message: notification(request),
      }),
    );
  }
  await publishAuditEvent(setting.eventBridge, setting.busName, AuditDetailType.APPROVAL_REQUESTED, request);
  if (!context.json) {
    println(
      context,
      `Requested approval to rotate ${state.name}: request ${request.requestId}, by ${setting.actor}.`,
    );
    println(
      context,
      `  expires: ${request.expiresAt.toISOString()}${request.fourEyes ? (request.fourEyesBy === FourEyesBy.ROLE ? '  (four-eyes by role: someone from another role must approve)' : '  (four-eyes: someone else must approve)') : ''}`,
    );
    println(
      context,
      `  ${topic ? `approvers notified on ${topic}` : `note: no ${ApprovalTag.TOPIC} tag, nobody was notified`}`,
    );
  }
  output(context, state, request, false);
  return ExitCode.OK;
}
