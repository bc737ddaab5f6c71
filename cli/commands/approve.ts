import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SNSClient } from '@aws-sdk/client-sns';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { SignatureV4 } from '@smithy/signature-v4';
import { ApprovalTag, FourEyesBy, type RequestState } from '../../functions/approval/approvals';
import {
  createDecideHandler,
  type DecisionAction,
  type DecisionBody,
  type DecisionError,
  type DecisionOutcome,
  type FunctionUrlResult,
} from '../../functions/approval/decide';
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
    description: `Local mode (--endpoint-url) only: the approvals table (default: the secret's ${ApprovalTag.TABLE} tag)`,
  },
  'event-bus': {
    type: 'string',
    value: '<name>',
    description: `Local mode (--endpoint-url) only: where the audit event goes (default: the secret's ${ApprovalTag.EVENT_BUS} tag)`,
  },
};

export const approveSpec: CommandSpec = {
  name: 'approve',
  summary: "approve a secret's pending rotation (it starts at once), or --emergency: rotate without approval",
  description: [
    'Approves the pending approval request of a secret whose rotation waits for a person (the RotationApproval',
    "construct), with a reason: a SigV4-signed POST to the decider's function URL (the secret's",
    `${ApprovalTag.URL} tag), which records the identity AWS authenticated, not one the caller states. The`,
    'decider starts the rotation at once: RotateSecret with the request id as its ClientRequestToken, so one',
    'approval starts one rotation. Refused, changing nothing: a request already approved, denied or expired (an',
    'approval cannot be replayed), and under four-eyes the requester approving their own request. In local mode',
    '(--endpoint-url) the same decision code runs in-process, with the caller from STS GetCallerIdentity.',
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

/** What a decision needs: the secret, and who answers (the URL, or in local mode the handler in-process). */
interface Setting {
  readonly state: SecretState;
  readonly call: (body: DecisionBody) => Promise<FunctionUrlResult>;
}

async function setUp(args: Args, context: CommandContext): Promise<Setting> {
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
  if (context.target.endpoint) return { state, call: localDecider(args, context, state, table) };
  const url = state.tags[ApprovalTag.URL];
  if (!url) {
    throw new CliError(
      `secret ${state.name}: no ${ApprovalTag.URL} tag: deploy the RotationApproval construct of this version, whose decider takes approvals`,
    );
  }
  return { state, call: (body) => signedPost(context, url, body) };
}

/**
 * Local mode (`--endpoint-url`, e.g. moto, which has no function URLs): the same decision handler runs in this
 * process, with a request context built from STS GetCallerIdentity of the caller's credentials, as Lambda
 * builds it from the signature. Every rule (four-eyes, replay, expiry) runs through the same handler code as
 * behind the URL; only who vouches for the caller differs, which a local endpoint cannot do anyway.
 */
function localDecider(
  args: Args,
  context: CommandContext,
  state: SecretState,
  table: string,
): (body: DecisionBody) => Promise<FunctionUrlResult> {
  const busName = args.string('event-bus') ?? state.tags[ApprovalTag.EVENT_BUS];
  const expires = Number(state.tags[ApprovalTag.EXPIRES_SECONDS] ?? 86400);
  const handler = createDecideHandler({
    dynamodb: new DynamoDBClient(context.clientConfig),
    secretsManager: context.secretsManager,
    sns: new SNSClient(context.clientConfig),
    ...(busName ? { eventBridge: new EventBridgeClient(context.clientConfig) } : {}),
    config: {
      tableName: table,
      topicArn: state.tags[ApprovalTag.TOPIC] ?? '',
      ...(busName ? { eventBusName: busName } : {}),
      expiresAfterSeconds: Number.isFinite(expires) && expires > 0 ? expires : 86400,
      fourEyes: state.tags[ApprovalTag.FOUR_EYES] !== 'false',
      fourEyesBy:
        state.tags[ApprovalTag.FOUR_EYES_BY] === FourEyesBy.ROLE ? FourEyesBy.ROLE : FourEyesBy.PERSON,
      retentionDays: 400,
    },
    now: context.now,
  });
  return async (body) => {
    let userArn: string;
    try {
      userArn = (await new STSClient(context.clientConfig).send(new GetCallerIdentityCommand({}))).Arn ?? '';
    } catch (error) {
      throw describeAwsError(error, undefined, context.target);
    }
    return handler({
      body: JSON.stringify(body),
      isBase64Encoded: false,
      requestContext: { http: { method: 'POST' }, ...(userArn ? { authorizer: { iam: { userArn } } } : {}) },
    });
  };
}

/**
 * POSTs the decision to the decider's function URL, signed with SigV4 (service `lambda`, the URL's region) with
 * the credentials and the hash of the SDK's default chain, as the AWS CLI would resolve them.
 */
async function signedPost(
  context: CommandContext,
  url: string,
  body: DecisionBody,
): Promise<FunctionUrlResult> {
  const target = new URL(url);
  const sdk = new STSClient(context.clientConfig).config;
  const region = /\.lambda-url\.([a-z0-9-]+)\.on\.aws$/.exec(target.hostname)?.[1] ?? (await sdk.region());
  const payload = JSON.stringify(body);
  let signed: { headers: Record<string, string> };
  try {
    const signer = new SignatureV4({
      service: 'lambda',
      region,
      credentials: sdk.credentials,
      sha256: sdk.sha256,
    });
    signed = await signer.sign({
      method: 'POST',
      protocol: target.protocol,
      hostname: target.hostname,
      ...(target.port ? { port: Number(target.port) } : {}),
      path: target.pathname,
      query: {},
      headers: { host: target.host, 'content-type': 'application/json' },
      body: payload,
    });
  } catch (error) {
    throw describeAwsError(error, undefined, context.target);
  }
  let response: Response;
  try {
    response = await fetch(target, { method: 'POST', headers: signed.headers, body: payload });
  } catch (error) {
    throw new CliError(`POST ${target.origin}: ${(error as Error).message}`, { cause: error });
  }
  return {
    statusCode: response.status,
    headers: { 'content-type': response.headers.get('content-type') ?? '' },
    body: await response.text(),
  };
}

/** The decider's answer, or a CliError with its message (a signature refused by Lambda says so). */
async function decide(setting: Setting, body: DecisionBody): Promise<DecisionOutcome> {
  const result = await setting.call(body);
  let parsed: (DecisionOutcome & Partial<DecisionError>) | { Message?: string; message?: string } | undefined;
  try {
    parsed = JSON.parse(result.body);
  } catch {
    parsed = undefined;
  }
  if (result.statusCode >= 200 && result.statusCode < 300 && parsed && 'state' in parsed) return parsed;
  const message =
    (parsed && ('message' in parsed ? parsed.message : 'Message' in parsed ? parsed.Message : undefined)) ??
    `HTTP ${result.statusCode}`;
  throw new CliError(
    `secret ${setting.state.name}: ${result.statusCode === 403 && !(parsed && 'error' in parsed) ? `the decider refused the call (${message}): the caller needs lambda:InvokeFunctionUrl on it (grantApprove)` : message}`,
  );
}

function requireReason(args: Args, command: string): string {
  const reason = args.string('reason')?.trim();
  if (!reason) throw new UsageError(`${command}: --reason is required: say why, it is recorded`, command);
  if (reason.length > 500)
    throw new UsageError(`${command}: --reason must be at most 500 characters`, command);
  return reason;
}

function output(context: CommandContext, state: SecretState, outcome: DecisionOutcome): void {
  const json: ApprovalJson = {
    secret: state.name,
    arn: state.arn,
    requestId: outcome.requestId,
    state: outcome.state,
    requestedBy: outcome.requestedBy,
    decidedBy: outcome.decidedBy,
    reason: outcome.reason,
    expiresAt: outcome.expiresAt,
    rotationVersionId: outcome.rotationStarted ? outcome.requestId : null,
  };
  if (context.json) context.stdout.write(toJson(json));
}

const bodyOf = (action: DecisionAction, state: SecretState, args: Args, reason?: string): DecisionBody => {
  const requestId = args.string('request');
  return {
    action,
    secretArn: state.arn,
    ...(reason ? { reason } : {}),
    ...(requestId ? { requestId } : {}),
  };
};

/** `approve <secret> --reason ... [--request id | --emergency]`. */
export async function runApprove(args: Args, context: CommandContext): Promise<ExitCode> {
  const reason = requireReason(args, 'approve');
  if (args.flag('emergency') && args.string('request')) {
    throw new UsageError('approve: --emergency rotates without a request; do not pass --request', 'approve');
  }
  const setting = await setUp(args, context);
  const { state } = setting;
  if (args.flag('emergency')) {
    const bypass = await decide(setting, bodyOf('bypass', state, args, reason));
    if (!context.json) {
      println(
        context,
        `${context.palette.warn('Emergency rotation')} of ${state.name} without approval, by ${bypass.decidedBy}.`,
      );
      println(context, `  reason:  ${reason}`);
      println(
        context,
        `  version: ${bypass.requestId} (rotation started; recorded as bypass ${bypass.requestId})`,
      );
    }
    output(context, state, bypass);
    return ExitCode.OK;
  }
  const approved = await decide(setting, bodyOf('approve', state, args, reason));
  if (!context.json) {
    println(
      context,
      `${context.palette.ok('Approved')} request ${approved.requestId} of ${state.name} as ${approved.decidedBy}.`,
    );
    println(context, `  reason:  ${approved.reason ?? reason}`);
    println(
      context,
      `  rotation started: version ${approved.requestId} (follow it: secret-rotation status ${state.name})`,
    );
  }
  output(context, state, approved);
  return ExitCode.OK;
}

/** `deny <secret> --reason ... [--request id]`. */
export async function runDeny(args: Args, context: CommandContext): Promise<ExitCode> {
  const reason = requireReason(args, 'deny');
  const setting = await setUp(args, context);
  const { state } = setting;
  const denied = await decide(setting, bodyOf('deny', state, args, reason));
  if (!context.json) {
    println(
      context,
      `${context.palette.bad('Denied')} request ${denied.requestId} of ${state.name} as ${denied.decidedBy}.`,
    );
    println(context, `  reason: ${reason}`);
    println(context, '  The secret does not rotate; the overdue alarm will say so until it does.');
  }
  output(context, state, denied);
  return ExitCode.OK;
}

/** `request-approval <secret>`. */
export async function runRequestApproval(args: Args, context: CommandContext): Promise<ExitCode> {
  const setting = await setUp(args, context);
  const { state } = setting;
  const request = await decide(setting, { action: 'request', secretArn: state.arn });
  if (!context.json) {
    println(
      context,
      `Requested approval to rotate ${state.name}: request ${request.requestId}, by ${request.requestedBy}.`,
    );
    println(
      context,
      `  expires: ${request.expiresAt}${request.fourEyes ? (request.fourEyesBy === FourEyesBy.ROLE ? '  (four-eyes by role: someone from another role must approve)' : '  (four-eyes: someone else must approve)') : ''}`,
    );
    const topic = state.tags[ApprovalTag.TOPIC];
    println(
      context,
      `  ${request.notified && topic ? `approvers notified on ${topic}` : `note: no ${ApprovalTag.TOPIC} tag, nobody was notified`}`,
    );
  }
  output(context, state, request);
  return ExitCode.OK;
}
