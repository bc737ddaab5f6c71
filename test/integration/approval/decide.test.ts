import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeSecretCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { ApprovalStore, ApprovalTag, FourEyesBy } from '../../../functions/approval/approvals';
import {
  createDecideHandler,
  type DecisionOutcome,
  type FunctionUrlEvent,
} from '../../../functions/approval/decide';
import type { ApprovalRules } from '../../../functions/approval/request';
import { type LocalAws, startMoto } from '../../../local/moto';
import { createApprovalsTable } from '../../helpers/approvals-table';

jest.setTimeout(120_000);

const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ops/critical-AbCdEf';
const OTHER_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ops/other-XyZ123';
const ALICE = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
const ALICE_AGAIN = 'arn:aws:sts::123456789012:assumed-role/oncall/alice-again';
const BOB = 'arn:aws:sts::123456789012:assumed-role/oncall/bob';
const CAROL = 'arn:aws:sts::123456789012:assumed-role/approvers/carol';

let aws: LocalAws;
let dynamodb: DynamoDBClient;
let topicArn: string;
let tableCount = 0;

beforeAll(async () => {
  aws = await startMoto();
  dynamodb = new DynamoDBClient(aws.clientConfig);
  topicArn = (await new SNSClient(aws.clientConfig).send(new CreateTopicCommand({ Name: 'approvers' })))
    .TopicArn as string;
}, 120_000);
afterAll(async () => aws?.stop());

/** Secrets Manager as the decider sees it: the secret tagged with its table; RotateSecret recorded. */
function secretsManager(tableName: string) {
  const rotations: { SecretId?: string; ClientRequestToken?: string }[] = [];
  const client = {
    send: async (command: unknown) => {
      if (command instanceof DescribeSecretCommand) {
        if (command.input.SecretId !== SECRET) {
          throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
        }
        return { ARN: SECRET, Tags: [{ Key: ApprovalTag.TABLE, Value: tableName }] };
      }
      if (command instanceof RotateSecretCommand) {
        rotations.push(command.input);
        return { ARN: SECRET, VersionId: command.input.ClientRequestToken };
      }
      throw new Error(`unexpected command ${String(command)}`);
    },
  } as unknown as SecretsManagerClient;
  return { client, rotations };
}

async function setUp(rules: Partial<ApprovalRules> = {}, now?: () => Date) {
  const tableName = `approvals-${++tableCount}`;
  await createApprovalsTable(dynamodb, tableName);
  const sm = secretsManager(tableName);
  const config: ApprovalRules = {
    tableName,
    topicArn,
    expiresAfterSeconds: 3600,
    fourEyes: true,
    fourEyesBy: FourEyesBy.PERSON,
    retentionDays: 400,
    ...rules,
  };
  const decide = createDecideHandler({
    dynamodb,
    secretsManager: sm.client,
    sns: new SNSClient(aws.clientConfig),
    config,
    ...(now ? { now } : {}),
  });
  const store = new ApprovalStore(dynamodb, tableName);
  return { decide, store, rotations: sm.rotations };
}

/** A function URL event as Lambda passes it for a SigV4-signed POST (AuthType AWS_IAM). */
function urlEvent(userArn: string | undefined, body: unknown): FunctionUrlEvent {
  return {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: {
      http: { method: 'POST' },
      ...(userArn ? { authorizer: { iam: { userArn } } } : {}),
    },
  };
}

const parse = (result: { body: string }) =>
  JSON.parse(result.body) as DecisionOutcome & { error?: string; message?: string };

describe('the approval decider behind the function URL (requestContext.authorizer.iam.userArn)', () => {
  it("records the request in the signer's name and lets another principal approve it, starting the rotation with the request id as token", async () => {
    const { decide, rotations, store } = await setUp();
    const asked = await decide(urlEvent(ALICE, { action: 'request', secretArn: SECRET }));
    expect(asked.statusCode).toBe(201);
    const { requestId, requestedBy } = parse(asked);
    expect(requestedBy).toBe(ALICE);
    const approved = await decide(urlEvent(BOB, { action: 'approve', secretArn: SECRET, reason: 'CHG-1' }));
    expect(approved.statusCode).toBe(200);
    expect(parse(approved)).toMatchObject({
      requestId,
      state: 'approved',
      decidedBy: BOB,
      rotationStarted: true,
    });
    expect(rotations).toEqual([{ SecretId: SECRET, ClientRequestToken: requestId, RotateImmediately: true }]);
    expect((await store.get(SECRET, requestId))?.rotationStartedAt).toBeDefined();
  });

  it('refuses self-approval under four-eyes by person (403), whatever the body says about identity', async () => {
    const { decide, rotations } = await setUp();
    await decide(urlEvent(ALICE, { action: 'request', secretArn: SECRET }));
    const own = await decide(urlEvent(ALICE, { action: 'approve', secretArn: SECRET, reason: 'mine' }));
    expect(own.statusCode).toBe(403);
    expect(parse(own)).toMatchObject({ error: 'own-request' });
    expect(parse(own).message).toContain('four-eyes requires another person to approve');
    // an identity in the body is refused, naming the field: who decides is who signed
    const forged = await decide(
      urlEvent(ALICE, { action: 'approve', secretArn: SECRET, reason: 'mine', actor: BOB }),
    );
    expect(forged.statusCode).toBe(400);
    expect(parse(forged).message).toMatch(/^body\.actor: unknown field/);
    expect(rotations).toEqual([]);
  });

  it('refuses self-approval under four-eyes by role from a second session, and lets another role approve', async () => {
    const { decide } = await setUp({ fourEyesBy: FourEyesBy.ROLE });
    await decide(urlEvent(ALICE, { action: 'request', secretArn: SECRET }));
    const again = await decide(urlEvent(ALICE_AGAIN, { action: 'approve', secretArn: SECRET, reason: 'x' }));
    expect(again.statusCode).toBe(403);
    expect(parse(again).message).toContain('four-eyes by role requires an approver from another role');
    const carol = await decide(urlEvent(CAROL, { action: 'approve', secretArn: SECRET, reason: 'ok' }));
    expect(parse(carol)).toMatchObject({ state: 'approved', decidedBy: CAROL });
  });

  it('answers 403 without an authenticated caller, changing nothing', async () => {
    const { decide, store } = await setUp();
    await decide(urlEvent(ALICE, { action: 'request', secretArn: SECRET }));
    const anonymous = await decide(
      urlEvent(undefined, { action: 'approve', secretArn: SECRET, reason: 'x' }),
    );
    expect(anonymous.statusCode).toBe(403);
    expect(parse(anonymous).error).toBe('unauthenticated');
    expect((await store.list(SECRET)).map((r) => r.state)).toEqual(['pending']);
  });

  it('refuses a replayed approval (409) without a second rotation, and a denial after it', async () => {
    const { decide, rotations } = await setUp();
    const { requestId } = parse(await decide(urlEvent(ALICE, { action: 'request', secretArn: SECRET })));
    await decide(urlEvent(BOB, { action: 'approve', secretArn: SECRET, requestId, reason: 'ok' }));
    const replay = await decide(
      urlEvent(CAROL, { action: 'approve', secretArn: SECRET, requestId, reason: 'again' }),
    );
    expect(replay.statusCode).toBe(409);
    expect(parse(replay).message).toContain(`was already approved by ${BOB}`);
    const deny = await decide(
      urlEvent(CAROL, { action: 'deny', secretArn: SECRET, requestId, reason: 'no' }),
    );
    expect(deny.statusCode).toBe(409);
    expect(rotations).toHaveLength(1);
  });

  it('refuses an approval after the request expired (409)', async () => {
    let at = new Date();
    const { decide, rotations } = await setUp({}, () => at);
    const { requestId } = parse(await decide(urlEvent(ALICE, { action: 'request', secretArn: SECRET })));
    at = new Date(at.getTime() + 2 * 3600_000);
    const late = await decide(
      urlEvent(BOB, { action: 'approve', secretArn: SECRET, requestId, reason: 'late' }),
    );
    expect(late.statusCode).toBe(409);
    expect(parse(late)).toMatchObject({ error: 'expired' });
    expect(rotations).toEqual([]);
  });

  it('denies as the signer and bypasses in an emergency as the signer, rotating only on the bypass', async () => {
    const { decide, rotations } = await setUp();
    await decide(urlEvent(ALICE, { action: 'request', secretArn: SECRET }));
    const denied = await decide(urlEvent(BOB, { action: 'deny', secretArn: SECRET, reason: 'freeze' }));
    expect(parse(denied)).toMatchObject({ state: 'denied', decidedBy: BOB, rotationStarted: false });
    const bypass = await decide(urlEvent(ALICE, { action: 'bypass', secretArn: SECRET, reason: 'INC-42' }));
    expect(parse(bypass)).toMatchObject({ state: 'bypassed', decidedBy: ALICE, reason: 'INC-42' });
    expect(rotations.map((r) => r.ClientRequestToken)).toEqual([parse(bypass).requestId]);
  });

  it.each([
    ['not JSON', 'approve', /^body: must be a JSON object/],
    ['an array', [], /^body: must be a JSON object/],
    ['no action', { secretArn: SECRET, reason: 'x' }, /^body\.action: must be one of/],
    ['an unknown action', { action: 'grant', secretArn: SECRET, reason: 'x' }, /^body\.action:/],
    ['no secret', { action: 'approve', reason: 'x' }, /^body\.secretArn:/],
    ['no reason', { action: 'approve', secretArn: SECRET }, /^body\.reason: required to approve/],
    [
      'a long reason',
      { action: 'deny', secretArn: SECRET, reason: 'x'.repeat(501) },
      /^body\.reason: must be at most 500/,
    ],
    [
      'a bad request id',
      { action: 'approve', secretArn: SECRET, reason: 'x', requestId: '1' },
      /^body\.requestId:/,
    ],
    [
      'a request id on a bypass',
      { action: 'bypass', secretArn: SECRET, reason: 'x', requestId: '00000000-0000-4000-8000-000000000000' },
      /^body\.requestId: not accepted/,
    ],
    [
      'a principal',
      { action: 'approve', secretArn: SECRET, reason: 'x', principal: ALICE },
      /^body\.principal: unknown field/,
    ],
  ])('answers 400 naming the field for %s', async (_what, body, message) => {
    const { decide } = await setUp();
    const out = await decide(urlEvent(BOB, body));
    expect(out.statusCode).toBe(400);
    expect(parse(out).message).toMatch(message);
  });

  it("refuses a secret other than its own (403): the secret must name this decider's table", async () => {
    const { decide } = await setUp();
    const out = await decide(urlEvent(BOB, { action: 'bypass', secretArn: OTHER_SECRET, reason: 'x' }));
    expect(out.statusCode).toBe(403);
    expect(parse(out).error).toBe('not-this-secret');
  });
});
