import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchLogsClient, CreateLogGroupCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { Client, escapeIdentifier } from 'pg';
import type { ApprovalJson } from '../../../cli/commands/approve';
import type { AuditJson } from '../../../cli/commands/audit';
import type { FleetRotateJson } from '../../../cli/commands/rotate-fleet';
import { ApprovalStore, ApprovalTag } from '../../../functions/approval/approvals';
import { createApprovalHandler, loadApprovalConfig } from '../../../functions/approval/request';
import { createApprovalsTable } from '../../helpers/approvals-table';
import {
  type CliWorld,
  canLogIn,
  configureRotation,
  createAppUser,
  createSecret,
  databaseSecret,
  labels,
  runCli,
  startWorld,
} from './harness';

jest.setTimeout(300_000);

const BUS = 'ops-bus';
const AUDIT_GROUP = '/secret-rotation/audit';
const TABLE = 'rotation-approvals';
let world: CliWorld;
let dir: string;
let topicArn: string;
let queueUrl: string;
const identities: Record<string, Record<string, string>> = {};

beforeAll(async () => {
  world = await startWorld();
  dir = mkdtempSync(join(tmpdir(), 'ops-it-'));
  const config = world.aws.clientConfig;
  // The audit trail as RotationAudit deploys it: our and the operators' events from the bus into one log group.
  const logs = new CloudWatchLogsClient(config);
  await logs.send(new CreateLogGroupCommand({ logGroupName: AUDIT_GROUP }));
  const events = new EventBridgeClient(config);
  await events.send(new CreateEventBusCommand({ Name: BUS }));
  await events.send(
    new PutRuleCommand({
      Name: 'audit',
      EventBusName: BUS,
      EventPattern: JSON.stringify({ source: ['secret-rotation', 'secret-rotation.operations'] }),
    }),
  );
  await events.send(
    new PutTargetsCommand({
      Rule: 'audit',
      EventBusName: BUS,
      Targets: [{ Id: 'log', Arn: `arn:aws:logs:us-east-1:123456789012:log-group:${AUDIT_GROUP}` }],
    }),
  );
  // The approvals table, and the approvers' topic with a queue standing in for their e-mail.
  await createApprovalsTable(new DynamoDBClient(config), TABLE);
  const sns = new SNSClient(config);
  topicArn = (await sns.send(new CreateTopicCommand({ Name: 'approvers' }))).TopicArn as string;
  const sqs = new SQSClient(config);
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'approver-inbox' }))).QueueUrl as string;
  const queueArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes?.QueueArn as string;
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn }));
  // Two people, each with their own session of the on-call role: what STS GetCallerIdentity reports.
  const sts = new STSClient(config);
  for (const person of ['alice', 'bob']) {
    const out = await sts.send(
      new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::123456789012:role/oncall', RoleSessionName: person }),
    );
    identities[person] = {
      AWS_ACCESS_KEY_ID: out.Credentials?.AccessKeyId as string,
      AWS_SECRET_ACCESS_KEY: out.Credentials?.SecretAccessKey as string,
      AWS_SESSION_TOKEN: out.Credentials?.SessionToken as string,
    };
  }
}, 300_000);

afterAll(async () => {
  await world?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[], as?: string, env: Record<string, string> = {}) =>
  runCli(world, ['--endpoint-url', world.aws.endpoint, ...args], { ...(as ? identities[as] : {}), ...env });

const rotationEnv = () => ({
  ROTATION_STRATEGY: 'single-user',
  DB_CA_BUNDLE_PATH: world.caPath,
  EVENT_BUS_NAME: BUS,
});

async function setPassword(username: string, password: string): Promise<void> {
  const client = new Client({
    host: world.db.host,
    port: world.db.port,
    user: world.db.adminUser,
    password: world.db.adminPassword,
    database: world.db.database,
    ssl: { ca: world.db.caPem, rejectUnauthorized: true },
  });
  await client.connect();
  try {
    await client.query(`ALTER ROLE ${escapeIdentifier(username)} PASSWORD ${client.escapeLiteral(password)}`);
  } finally {
    await client.end();
  }
}

describe('emergency rotation of a fleet, against moto and a real PostgreSQL', () => {
  it('rotates every tagged secret, reports the one that fails without stopping, and resumes from its journal', async () => {
    // GIVEN four tagged secrets of real users, one of them with a password the database does not take,
    // and an untagged secret
    const names = ['ops/a', 'ops/b', 'ops/c', 'ops/broken'];
    for (const [i, name] of names.entries()) {
      const user = `ops_user_${i}`;
      await createAppUser(world.db, user, `Start-${i}-password`);
      const password = name === 'ops/broken' ? 'not-the-password' : `Start-${i}-password`;
      await createSecret(world, name, databaseSecret(world.db, user, password), { incident: 'INC-42' });
    }
    await createAppUser(world.db, 'ops_untagged', 'Untagged-password');
    await createSecret(world, 'ops/untagged', databaseSecret(world.db, 'ops_untagged', 'Untagged-password'));
    const untaggedBefore = (await labels(world, 'ops/untagged')).AWSCURRENT;
    const journal = join(dir, 'journal.jsonl');
    const args = [
      'rotate',
      '--tag',
      'incident=INC-42',
      '--local-function',
      'database',
      '--journal',
      journal,
      '--json',
    ];

    // WHEN the operator rotates the fleet
    const first = await cli(args, undefined, rotationEnv());

    // THEN three rotated and log in with their new passwords, the broken one failed at setSecret, exit 1
    expect(first.code).toBe(1);
    const report = JSON.parse(first.stdout) as FleetRotateJson;
    expect(report.counts).toMatchObject({ selected: 4, rotated: 3, failed: 1 });
    const broken = report.secrets.find((s) => s.secret === 'ops/broken');
    expect(broken?.reason).toMatch(/^setSecret failed/);
    for (const s of report.secrets.filter((r) => r.outcome === 'rotated')) {
      expect((await labels(world, s.secret)).AWSCURRENT).toBe(s.versionId);
      const value = JSON.parse(
        (await world.secrets.send(new GetSecretValueCommand({ SecretId: s.arn, VersionStage: 'AWSCURRENT' })))
          .SecretString as string,
      ) as { username: string; password: string };
      const i = names.indexOf(s.secret);
      expect([s.secret, value.username, await canLogIn(world.db, value.username, value.password)]).toEqual([
        s.secret,
        `ops_user_${i}`,
        true,
      ]);
      expect(await canLogIn(world.db, value.username, `Start-${i}-password`)).toBe(false);
    }
    expect((await labels(world, 'ops/untagged')).AWSCURRENT).toBe(untaggedBefore);
    expect(first.stderr).toContain('1 of 4 secret(s) failed to rotate');
    expect(first.stdout + first.stderr).not.toContain('Start-');

    // WHEN the operator fixes the broken user, clears its stuck AWSPENDING as the report says, and runs again
    await setPassword('ops_user_3', 'not-the-password');
    const stuck = (await labels(world, 'ops/broken')).AWSPENDING as string;
    await world.secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: 'ops/broken',
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: stuck,
      }),
    );
    const second = await cli(args, undefined, rotationEnv());

    // THEN only the broken one rotates now; the three others are skipped as already rotated
    expect(second.code).toBe(0);
    const again = JSON.parse(second.stdout) as FleetRotateJson;
    expect(again.counts).toMatchObject({ rotated: 1, 'already-rotated': 3, failed: 0 });
    expect(again.secrets.find((s) => s.outcome === 'rotated')?.secret).toBe('ops/broken');
  });

  it('lists with --dry-run what would rotate and changes nothing', async () => {
    const before = (await labels(world, 'ops/a')).AWSCURRENT;
    const out = await cli([
      'rotate',
      '--tag',
      'incident=INC-42',
      '--local-function',
      'database',
      '--dry-run',
    ]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/ops\/a\s+would rotate/);
    expect(out.stdout).toContain('Dry run: 4 would rotate');
    expect((await labels(world, 'ops/a')).AWSCURRENT).toBe(before);
  });
});

describe('the audit trail, against moto', () => {
  it("prints a rotation's records that the function published through EventBridge into the audit log group", async () => {
    const out = await cli(['audit', 'ops/a', '--json']);
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout) as AuditJson;
    const actions = report.records.map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['rotation-started', 'rotated']));
    const rotated = report.records.find((r) => r.action === 'rotated');
    expect(rotated?.versionId).toBe((await labels(world, 'ops/a')).AWSCURRENT);
    expect(out.stdout).not.toContain('Start-');
  });
});

describe('human approval, against moto (DynamoDB, SNS, STS, EventBridge)', () => {
  let arn: string;
  const approval = (now?: () => Date) => {
    const config = world.aws.clientConfig;
    return createApprovalHandler({
      dynamodb: new DynamoDBClient(config),
      sns: new SNSClient(config),
      eventBridge: new EventBridgeClient(config),
      config: loadApprovalConfig({
        SECRET_ARN: arn,
        APPROVAL_TABLE: TABLE,
        APPROVAL_TOPIC_ARN: topicArn,
        EVENT_BUS_NAME: BUS,
        APPROVAL_EXPIRES_SECONDS: '3600',
      }),
      metrics: {
        addDimension: () => undefined,
        addMetric: () => undefined,
        publishStoredMetrics: () => undefined,
      } as never,
      ...(now ? { now } : {}),
    });
  };

  beforeAll(async () => {
    arn = await createSecret(world, 'ops/critical', JSON.stringify({ token: 'critical-value' }), {
      [ApprovalTag.REQUIRED]: 'required',
      [ApprovalTag.TABLE]: TABLE,
      [ApprovalTag.EVENT_BUS]: BUS,
      [ApprovalTag.TOPIC]: topicArn,
      [ApprovalTag.FOUR_EYES]: 'true',
    });
    await configureRotation(world, 'ops/critical', 30);
  });

  it('raises a request on schedule instead of rotating, notifies the approvers, and does not raise it twice', async () => {
    // WHEN the schedule fires, twice
    const before = (await labels(world, 'ops/critical')).AWSCURRENT;
    const first = await approval()({ action: 'request' });
    const second = await approval()({ action: 'request' });
    // THEN one pending request, nothing rotated, and the approvers got a message naming it
    expect(first.requested?.state).toBe('pending');
    expect(second.alreadyPending?.requestId).toBe(first.requested?.requestId);
    expect((await labels(world, 'ops/critical')).AWSCURRENT).toBe(before);
    const inbox = await new SQSClient(world.aws.clientConfig).send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
    );
    const bodies = (inbox.Messages ?? []).map((m) => m.Body ?? '').join('\n');
    expect(bodies).toContain(first.requested?.requestId);
    expect(bodies).toContain('secret-rotation approve');
    expect(bodies).not.toContain('critical-value');
  });

  it('starts the rotation at once on approval, records who approved and why, and refuses the same approval again', async () => {
    // WHEN alice approves the schedule's request
    const out = await cli(['approve', 'ops/critical', '--reason', 'CHG-1 quarterly', '--json'], 'alice');
    // THEN the rotation's version is the request id, and alice's identity is recorded
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as ApprovalJson;
    expect(result).toMatchObject({
      state: 'approved',
      decidedBy: 'arn:aws:sts::123456789012:assumed-role/oncall/alice',
      reason: 'CHG-1 quarterly',
      rotationVersionId: result.requestId,
    });
    const stages = await labels(world, 'ops/critical');
    expect([stages.AWSCURRENT, stages.AWSPENDING]).toContain(result.requestId);
    // WHEN bob replays the approval of the same request
    const replay = await cli(
      ['approve', 'ops/critical', '--request', result.requestId, '--reason', 'again'],
      'bob',
    );
    // THEN refused, naming who approved it
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain(
      'was already approved by arn:aws:sts::123456789012:assumed-role/oncall/alice',
    );
    expect(replay.stderr).toContain('cannot be given twice');
  });

  it('refuses the requester approving their own request under four-eyes, and lets another person approve it', async () => {
    // GIVEN alice asks for a rotation
    await cleanPending();
    const asked = await cli(['request-approval', 'ops/critical', '--json'], 'alice');
    expect(asked.code).toBe(0);
    const request = JSON.parse(asked.stdout) as ApprovalJson;
    // WHEN alice approves it herself
    const own = await cli(['approve', 'ops/critical', '--reason', 'mine'], 'alice');
    // THEN refused, and the request is still pending
    expect(own.code).toBe(1);
    expect(own.stderr).toContain('four-eyes requires another person to approve');
    expect((await store().get(arn, request.requestId))?.state).toBe('pending');
    // WHEN bob approves it
    const other = await cli(['approve', 'ops/critical', '--reason', 'reviewed', '--json'], 'bob');
    expect(other.code).toBe(0);
    expect((JSON.parse(other.stdout) as ApprovalJson).decidedBy).toBe(
      'arn:aws:sts::123456789012:assumed-role/oncall/bob',
    );
  });

  it('records a denial with its reason, and the audit trail shows it', async () => {
    await cleanPending();
    const before = (await labels(world, 'ops/critical')).AWSCURRENT;
    await approval()({ action: 'request' });
    const noReason = await cli(['deny', 'ops/critical'], 'bob');
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('deny: --reason is required');
    const denied = await cli(['deny', 'ops/critical', '--reason', 'release freeze'], 'bob');
    expect(denied.code).toBe(0);
    expect((await labels(world, 'ops/critical')).AWSCURRENT).toBe(before);
    // the hourly sweep reports the rotation overdue because of the denial (ApprovalOverdue = 1, alarmed)
    expect((await approval()({ action: 'sweep' })).overdue).toBe(true);
    const audit = JSON.parse((await cli(['audit', 'ops/critical', '--json'])).stdout) as AuditJson;
    expect(audit.records.find((r) => r.action === 'denied')).toMatchObject({
      actor: 'arn:aws:sts::123456789012:assumed-role/oncall/bob',
      reason: 'release freeze',
    });
  });

  it('expires a request nobody decided, with an event, and then refuses to approve it', async () => {
    await cleanPending();
    const raised = await approval()({ action: 'request' });
    const id = raised.requested?.requestId as string;
    // WHEN the hourly sweep runs after the request's hour
    const swept = await approval(() => new Date(Date.now() + 2 * 3600_000))({ action: 'sweep' });
    expect(swept.expired.map((r) => r.requestId)).toEqual([id]);
    expect(swept.overdue).toBe(true);
    const late = await cli(['approve', 'ops/critical', '--request', id, '--reason', 'late'], 'bob');
    expect(late.code).toBe(1);
    expect(late.stderr).toContain(`was already expired by expiry`);
    const audit = JSON.parse((await cli(['audit', 'ops/critical', '--json'])).stdout) as AuditJson;
    expect(audit.records.map((r) => r.action)).toContain('approval-expired');
  });

  it('bypasses approval in an emergency only with a reason, and records the bypass and the event', async () => {
    const refused = await cli(['approve', 'ops/critical', '--emergency'], 'alice');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('approve: --reason is required');
    await clearPendingLabel();
    const out = await cli(
      ['approve', 'ops/critical', '--emergency', '--reason', 'INC-42 leak', '--json'],
      'alice',
    );
    expect(out.code).toBe(0);
    const bypass = JSON.parse(out.stdout) as ApprovalJson;
    expect(bypass).toMatchObject({ state: 'bypassed', reason: 'INC-42 leak' });
    const audit = JSON.parse((await cli(['audit', 'ops/critical', '--json'])).stdout) as AuditJson;
    expect(audit.records.find((r) => r.action === 'approval-bypassed')).toMatchObject({
      actor: 'arn:aws:sts::123456789012:assumed-role/oncall/alice',
      reason: 'INC-42 leak',
      requestId: bypass.requestId,
    });
  });

  it('lets a fleet rotation bypass the approval of a secret only with --reason, and records the bypass', async () => {
    await cleanPending();
    // moto forgets the rotation function after a RotateSecret without one, which AWS keeps: set it again
    await configureRotation(world, 'ops/critical', 30);
    const list = join(dir, 'critical.txt');
    writeFileSync(list, 'ops/critical\n');
    // WHEN an emergency fleet rotation selects a secret that waits for approval, without a reason
    const refused = await cli(['rotate', '--file', list], 'alice');
    // THEN refused before anything changed
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("1 selected secret(s) wait for a person's approval (ops/critical)");
    // WHEN with a reason
    const out = await cli(
      [
        'rotate',
        '--file',
        list,
        '--reason',
        'INC-42 fleet',
        '--json',
        '--interval',
        '200ms',
        '--timeout',
        '60s',
      ],
      'alice',
    );
    // THEN it rotates, and the bypass is recorded with alice's identity and the reason
    expect(out.code).toBe(0);
    expect((JSON.parse(out.stdout) as FleetRotateJson).secrets.map((r) => [r.outcome, r.reason])).toEqual([
      ['rotated', null],
    ]);
    const audit = JSON.parse((await cli(['audit', 'ops/critical', '--json'])).stdout) as AuditJson;
    expect(
      audit.records.find((r) => r.action === 'approval-bypassed' && r.reason === 'INC-42 fleet'),
    ).toMatchObject({
      actor: 'arn:aws:sts::123456789012:assumed-role/oncall/alice',
      detail: 'fleet rotation',
    });
  });

  const store = () => new ApprovalStore(new DynamoDBClient(world.aws.clientConfig), TABLE);
  /** moto's RotateSecret leaves AWSPENDING on a copy of the value; a real rotation would have finished it. */
  async function clearPendingLabel() {
    const stages = await labels(world, 'ops/critical');
    if (stages.AWSPENDING && stages.AWSPENDING !== stages.AWSCURRENT) {
      await world.secrets.send(
        new UpdateSecretVersionStageCommand({
          SecretId: 'ops/critical',
          VersionStage: 'AWSPENDING',
          RemoveFromVersionId: stages.AWSPENDING,
        }),
      );
    }
  }
  async function cleanPending() {
    await clearPendingLabel();
    for (const r of await store().list(arn)) {
      if (r.state === 'pending') await store().expire(arn, r.requestId, new Date(r.expiresAt.getTime() + 1));
    }
  }
});

describe('four-eyes by person and by role, against moto (the conditional write decides)', () => {
  const sessions: Record<string, Record<string, string>> = {};
  const as = (args: string[], who: string) =>
    runCli(world, ['--endpoint-url', world.aws.endpoint, ...args], sessions[who] ?? {});

  beforeAll(async () => {
    // alice's second session of the same role under a name she chose, and carol of the approvers' role
    const sts = new STSClient(world.aws.clientConfig);
    for (const [who, role, session] of [
      ['alice', 'oncall', 'alice'],
      ['alice-again', 'oncall', 'not-alice'],
      ['bob', 'oncall', 'bob'],
      ['carol', 'approvers', 'carol'],
    ] as const) {
      const out = await sts.send(
        new AssumeRoleCommand({
          RoleArn: `arn:aws:iam::123456789012:role/${role}`,
          RoleSessionName: session,
        }),
      );
      sessions[who] = {
        AWS_ACCESS_KEY_ID: out.Credentials?.AccessKeyId as string,
        AWS_SECRET_ACCESS_KEY: out.Credentials?.SecretAccessKey as string,
        AWS_SESSION_TOKEN: out.Credentials?.SessionToken as string,
      };
    }
    for (const [name, by] of [
      ['ops/by-person', 'person'],
      ['ops/by-role', 'role'],
    ] as const) {
      await createSecret(world, name, JSON.stringify({ token: 'gated-value' }), {
        [ApprovalTag.REQUIRED]: 'required',
        [ApprovalTag.TABLE]: TABLE,
        [ApprovalTag.FOUR_EYES]: 'true',
        [ApprovalTag.FOUR_EYES_BY]: by,
      });
      await configureRotation(world, name, 30);
    }
  });

  it("by person (the default): a second session of the requester's role under another name counts as another person", async () => {
    expect((await as(['request-approval', 'ops/by-person'], 'alice')).code).toBe(0);
    // the weakness 'role' closes: the session name is the caller's choice with a plain AssumeRole
    const out = await as(['approve', 'ops/by-person', '--reason', 'looks fine', '--json'], 'alice-again');
    expect(out.code).toBe(0);
    expect((JSON.parse(out.stdout) as ApprovalJson).decidedBy).toBe(
      'arn:aws:sts::123456789012:assumed-role/oncall/not-alice',
    );
  });

  it('keeps comparing a request made before the option existed (no fourEyesBy) by person', async () => {
    const gated = await createSecret(world, 'ops/legacy', JSON.stringify({ token: 'legacy-value' }), {
      [ApprovalTag.REQUIRED]: 'required',
      [ApprovalTag.TABLE]: TABLE,
    });
    const dynamodb = new DynamoDBClient(world.aws.clientConfig);
    const request = await new ApprovalStore(dynamodb, TABLE).create({
      secretArn: gated,
      requestedBy: 'arn:aws:sts::123456789012:assumed-role/oncall/alice',
      now: new Date(),
      expiresAfterMs: 3600_000,
      fourEyes: true,
      retentionDays: 1,
    });
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: { secretArn: { S: gated }, requestId: { S: request.requestId } },
        UpdateExpression: 'REMOVE fourEyesBy',
      }),
    );
    const own = await as(['approve', 'ops/legacy', '--reason', 'mine'], 'alice');
    expect(own.code).toBe(1);
    expect(own.stderr).toContain('four-eyes requires another person to approve');
    expect((await as(['approve', 'ops/legacy', '--reason', 'reviewed'], 'bob')).code).toBe(0);
  });

  it("by role: nobody in the requester's role may approve, whatever the session name; another role may", async () => {
    const asked = await as(['request-approval', 'ops/by-role', '--json'], 'alice');
    expect(asked.code).toBe(0);
    expect(asked.stdout).not.toContain('gated-value');
    for (const who of ['alice-again', 'bob']) {
      const refused = await as(['approve', 'ops/by-role', '--reason', 'mine'], who);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        "through the caller's role (arn:aws:iam::123456789012:role/oncall): four-eyes by role requires an approver from another role",
      );
    }
    const approved = await as(['approve', 'ops/by-role', '--reason', 'reviewed', '--json'], 'carol');
    expect(approved.code).toBe(0);
    expect(JSON.parse(approved.stdout) as ApprovalJson).toMatchObject({
      state: 'approved',
      decidedBy: 'arn:aws:sts::123456789012:assumed-role/approvers/carol',
    });
  });
});
