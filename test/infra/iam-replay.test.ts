import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanCommand,
  CreateUsagePlanKeyCommand,
  GetApiKeysCommand,
} from '@aws-sdk/client-api-gateway';
import { CloudWatchLogsClient, CreateLogGroupCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  PutSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eventbridge from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { API_GATEWAY_KEY_OWNER_TAG } from '../../functions/api-key/constants';
import { createApiKeyHandler } from '../../functions/api-key/create-handler';
import { ApprovalTag } from '../../functions/approval/approvals';
import { createDecideHandler } from '../../functions/approval/decide';
import {
  createApprovalHandler,
  loadApprovalConfig,
  loadApprovalRules,
} from '../../functions/approval/request';
import { loadAuditCheckConfig, runAuditCheck } from '../../functions/audit/check';
import { createDatabaseHandler } from '../../functions/database/create-handler';
import { createJwtHandler } from '../../functions/jwt';
import { checkOverdue, overdueMetrics } from '../../functions/overdue/check';
import {
  ApiKeyRotation,
  DatabaseSecretRotation,
  JwtSigningKeyRotation,
  RotationAlarms,
  RotationApproval,
  RotationAudit,
  RotationEvents,
} from '../../infra/constructs';
import type { LocalDatabase } from '../../local/databases/common';
import { startPostgres } from '../../local/databases/postgres';
import { RotationDriver } from '../../local/driver';
import { type LocalAws, startMoto } from '../../local/moto';
import { createApprovalsTable } from '../helpers/approvals-table';
import { Clock } from '../integration/api-key/harness';
import { LocalKeyService } from '../integration/api-key/key-service';
import { adminFor, appSecret, masterSecret as masterSecretOf } from '../integration/database/harness';
import { evaluate, type IamRequest, type PolicyDocument } from './oracles/iam-replay';

// The IAM replay: the real functions run in the local mode (moto) and every AWS request they make is
// recorded; each is evaluated by @cloud-copilot/iam-simulate against the synthesized template's policies.
// Every recorded request must be allowed, the same request for another secret, key or bus denied, and every
// statement used by some request (or listed below with the reason the local mode cannot exercise it).

const ACCOUNT = '123456789012';
const REGION = 'us-east-1'; // moto's
const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

type Resource = { Type: string; Properties: Record<string, unknown> };
type Recorded = { principal: string; service: string; command: string; input: Record<string, unknown> };

/** Resolves what CloudFormation would, with physical ids derived from logical ids. */
function resolver(resources: Record<string, Resource>, refs: Record<string, string>) {
  const arnOf = (id: string, attr: string): string => {
    const type = resources[id]?.Type;
    switch (type) {
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${ACCOUNT}:role/${id}`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}`;
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${ref(id)}`;
      case 'AWS::Events::EventBus':
        return `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${ref(id)}`;
      case 'AWS::Events::Rule':
        return `arn:aws:events:${REGION}:${ACCOUNT}:rule/${id}`;
      case 'AWS::CloudWatch::Alarm':
        return `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${id}`;
      case 'AWS::Logs::LogGroup':
        return `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${ref(id)}:*`;
      case 'AWS::DynamoDB::Table':
        return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${ref(id)}`;
      case 'AWS::KMS::Key':
        return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
      case 'AWS::SQS::Queue':
        return `arn:aws:sqs:${REGION}:${ACCOUNT}:${id}`;
      default:
        return `arn:aws:unknown:${REGION}:${ACCOUNT}:${id}/${attr}`;
    }
  };
  const ref = (id: string): string => {
    if (refs[id]) return refs[id];
    const r = resources[id];
    if (r?.Type === 'AWS::Events::EventBus') return String(r.Properties.Name);
    if (r?.Type === 'AWS::S3::Bucket') return id.toLowerCase();
    if (r?.Type === 'AWS::SNS::Topic') return `arn:aws:sns:${REGION}:${ACCOUNT}:${id}`;
    if (r?.Type === 'AWS::Logs::LogGroup' && r.Properties.LogGroupName)
      return String(r.Properties.LogGroupName);
    return id;
  };
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
    'AWS::URLSuffix': 'amazonaws.com',
  };
  const resolve = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v === null || typeof v !== 'object') return v;
    const node = v as Record<string, unknown>;
    if (typeof node.Ref === 'string') return pseudo[node.Ref] ?? ref(node.Ref);
    if (node['Fn::GetAtt']) {
      const [id, attr] = node['Fn::GetAtt'] as [string, string];
      return attr === 'Arn' || attr.endsWith('Arn') ? arnOf(id, attr) : `${id}.${attr}`;
    }
    if (node['Fn::Join']) {
      const [sep, parts] = node['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(sep);
    }
    return Object.fromEntries(Object.entries(node).map(([k, x]) => [k, resolve(x)]));
  };
  return { resolve, arnOf, ref };
}

/** Records every request a client sends, with the principal (the function's role) making it. */
function record<T extends { middlewareStack: { add: (...args: never[]) => void } }>(
  client: T,
  service: string,
  principal: () => string,
  log: Recorded[],
): T {
  (client.middlewareStack as unknown as { add: (mw: unknown, opts: unknown) => void }).add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName: string }) =>
      async (args: { input: Record<string, unknown> }) => {
        log.push({
          principal: principal(),
          service,
          command: context.commandName.replace(/Command$/, ''),
          input: args.input,
        });
        return next(args);
      },
    { step: 'initialize', name: 'iamReplayRecorder' },
  );
  return client;
}

describe('IAM replay: the requests the real functions make, judged by @cloud-copilot/iam-simulate', () => {
  let aws: LocalAws;
  const log: Recorded[] = [];
  let requests: IamRequest[] = [];
  let identityOf: (principal: string) => PolicyDocument[];
  let resourcePolicyOf: (request: IamRequest) => PolicyDocument | undefined;
  let statementsOf: (principal: string) => Array<{ principal: string; statement: Record<string, unknown> }>;
  let other: { secret: string; bucket: string; bus: string };
  let approverChecks: { approverArn: string; deciderArn: string; tableArn: string; secretArn: string };
  let db: LocalDatabase | undefined;
  let keyService: LocalKeyService | undefined;
  let caDir: string | undefined;

  beforeAll(async () => {
    [aws, db] = await Promise.all([startMoto(), startPostgres({ tls: true })]);
    const secrets = new SecretsManagerClient(aws.clientConfig);
    const create = async (name: string, value: object) =>
      (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value) })))
        .ARN as string;
    const apiKeyArn = await create('replay/api-key', { apiKey: 'x'.repeat(40) });
    const jwtArn = await create('replay/jwt', {});
    const otherArn = await create('replay/other', { apiKey: 'y'.repeat(40) });
    const rdsClient = new RDSClient(aws.clientConfig);
    await rdsClient.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: 'orders',
        Engine: 'postgres',
        DBInstanceClass: 'db.t4g.medium',
        MasterUsername: 'orders_admin',
        MasterUserPassword: 'bootstrap-password-1',
        AllocatedStorage: 20,
      }),
    );
    const masterArn = await create('replay/rds-master', {
      engine: 'postgres',
      host: 'orders.local',
      port: 5432,
      username: 'orders_admin',
      password: 'bootstrap-password-1',
      dbInstanceIdentifier: 'orders',
    });

    // The databases' secrets: an application user of a real PostgreSQL (TLS) for each strategy, and the
    // master secret the alternating-users strategy clones the user with
    const database = db as LocalDatabase;
    const dbAdmin = adminFor(database);
    await dbAdmin.createAppUser('replay_single', 'Initial-Pass-1');
    await dbAdmin.createAppUser('replay_alternating', 'Initial-Pass-2');
    const dbMasterArn = await create('replay/db-master', masterSecretOf(database));
    const singleArn = await create(
      'replay/db-single',
      appSecret(database, 'replay_single', 'Initial-Pass-1'),
    );
    const alternatingArn = await create(
      'replay/db-alternating',
      appSecret(database, 'replay_alternating', 'Initial-Pass-2', { masterarn: dbMasterArn }),
    );
    caDir = mkdtempSync(join(tmpdir(), 'iam-replay-ca-'));
    const caPath = join(caDir, 'ca.pem');
    writeFileSync(caPath, database.caPem ?? '');

    // The API Gateway key: a usage plan and the initial key, tagged with its secret as the docs ask
    const gateway = new APIGatewayClient(aws.clientConfig);
    const planId = (await gateway.send(new CreateUsagePlanCommand({ name: 'replay-plan' }))).id as string;
    const gatewayArn = (await secrets.send(new CreateSecretCommand({ Name: 'replay/gateway-key' })))
      .ARN as string;
    const initialKey = await gateway.send(
      new CreateApiKeyCommand({
        name: 'replay-initial',
        value: `Initial${'k'.repeat(30)}`,
        enabled: true,
        tags: { [API_GATEWAY_KEY_OWNER_TAG]: gatewayArn },
      }),
    );
    await gateway.send(
      new CreateUsagePlanKeyCommand({ usagePlanId: planId, keyId: initialKey.id, keyType: 'API_KEY' }),
    );
    await secrets.send(
      new PutSecretValueCommand({
        SecretId: gatewayArn,
        SecretString: JSON.stringify({ apiKey: initialKey.value, keyId: initialKey.id }),
      }),
    );

    // The HTTP key service, and the secret holding its admin credential
    const adminToken = 'admin-token-'.repeat(3);
    keyService = await LocalKeyService.start({ adminToken, generatesValue: true });
    const service = keyService;
    const initialHttpKey = service.issueDirect('hand-made');
    const httpArn = await create('replay/http-key', {
      apiKey: initialHttpKey.value,
      keyId: initialHttpKey.id,
    });
    const httpAdminArn = await create('replay/http-admin', { token: adminToken });

    // GIVEN the template a user deploys: an API key and a JWT rotation of imported secrets encrypted with an
    // imported customer-managed key, the bus, and the alarms watching them
    const app = new App();
    const stack = new Stack(app, 'Replay', { env: { account: ACCOUNT, region: REGION } });
    const key = kms.Key.fromKeyArn(stack, 'Key', KEY_ARN);
    const events = new RotationEvents(stack, 'Events', { eventBusName: 'rotations' });
    const apiKeySecret = secretsmanager.Secret.fromSecretAttributes(stack, 'ApiKeySecret', {
      secretCompleteArn: apiKeyArn,
      encryptionKey: key,
    });
    const jwtSecret = secretsmanager.Secret.fromSecretAttributes(stack, 'JwtSecret', {
      secretCompleteArn: jwtArn,
      encryptionKey: key,
    });
    const apiKey = new ApiKeyRotation(stack, 'ApiKey', {
      secret: apiKeySecret,
      provider: { type: 'self-issued' },
      events,
    });
    const jwt = new JwtSigningKeyRotation(stack, 'Jwt', { secret: jwtSecret, events });
    const masterSecret = secretsmanager.Secret.fromSecretAttributes(stack, 'MasterSecret', {
      secretCompleteArn: masterArn,
      encryptionKey: key,
    });
    const master = new DatabaseSecretRotation(stack, 'Master', {
      secret: masterSecret,
      strategy: 'rds-master',
      rdsMaster: { type: 'instance', identifier: 'orders' },
      events,
    });
    const imported = (id: string, arn: string) =>
      secretsmanager.Secret.fromSecretAttributes(stack, id, { secretCompleteArn: arn, encryptionKey: key });
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const single = new DatabaseSecretRotation(stack, 'Single', {
      secret: imported('SingleSecret', singleArn),
      strategy: 'single-user',
      vpc,
      events,
    });
    const alternating = new DatabaseSecretRotation(stack, 'Alternating', {
      secret: imported('AlternatingSecret', alternatingArn),
      masterSecret: imported('DbMasterSecret', dbMasterArn),
      strategy: 'alternating-users',
      vpc,
      events,
    });
    const gatewayKey = new ApiKeyRotation(stack, 'GatewayKey', {
      secret: imported('GatewayKeySecret', gatewayArn),
      provider: {
        type: 'api-gateway',
        usagePlans: [apigateway.UsagePlan.fromUsagePlanId(stack, 'Plan', planId)],
      },
      events,
    });
    const httpKey = new ApiKeyRotation(stack, 'HttpKey', {
      secret: imported('HttpKeySecret', httpArn),
      provider: {
        type: 'http',
        config: {
          baseUrl: service.url,
          issue: {
            url: '/admin/keys',
            body: { name: '{keyName}' },
            keyIdPointer: '/data/id',
            keyValuePointer: '/data/secret',
          },
          check: { url: '/v1/whoami' },
          revoke: { url: '/admin/keys/{keyId}' },
          list: {
            url: '/admin/keys?prefix={namePrefix}',
            itemsPointer: '/items',
            keyIdPointer: '/id',
            namePointer: '/label',
          },
        },
        adminCredential: { secret: imported('HttpAdminSecret', httpAdminArn), field: 'token' },
      },
      events,
    });
    const alarms = new RotationAlarms(stack, 'Alarms')
      .watch({
        secret: apiKeySecret,
        rotationFunction: apiKey.rotationFunction,
        kind: 'api-key',
        strategy: 'self-issued',
      })
      .watch({
        secret: jwtSecret,
        rotationFunction: jwt.rotationFunction,
        kind: jwt.kind,
        strategy: jwt.strategy,
      });
    // The JWT key's rotation waits for approval; the audit trail reads the bus
    const approval = new RotationApproval(stack, 'Approval', {
      secret: jwtSecret,
      schedule: eventbridge.Schedule.rate(Duration.days(7)),
      eventBus: events.eventBus,
    });
    const approvers = new iam.Role(stack, 'Approvers', { assumedBy: new iam.AccountRootPrincipal() });
    approval.grantApprove(approvers);
    const audit = new RotationAudit(stack, 'Audit', { eventBus: events.eventBus });
    const template = Template.fromStack(stack).toJSON() as { Resources: Record<string, Resource> };
    const resources = template.Resources;
    const { resolve, arnOf } = resolver(resources, {});
    const logical = (c: { node: { defaultChild?: unknown } }) =>
      stack.getLogicalId(c.node.defaultChild as never);
    const fnId = (fn: { node: { defaultChild?: unknown } }) => logical(fn);
    const roleIdOf = (functionId: string) =>
      ((resources[functionId] as Resource).Properties.Role as { 'Fn::GetAtt': [string, string] })[
        'Fn::GetAtt'
      ][0];
    const envOf = (functionId: string) =>
      resolve(
        ((resources[functionId] as Resource).Properties.Environment as { Variables: Record<string, unknown> })
          .Variables,
      ) as Record<string, string>;
    const apiKeyFn = fnId(apiKey.rotationFunction);
    const jwtFn = fnId(jwt.rotationFunction);
    const checkFn = fnId(alarms.overdueCheck.function);
    const masterFn = fnId(master.rotationFunction);
    const singleFn = fnId(single.rotationFunction);
    const alternatingFn = fnId(alternating.rotationFunction);
    const gatewayFn = fnId(gatewayKey.rotationFunction);
    const httpFn = fnId(httpKey.rotationFunction);
    const approvalFn = fnId(approval.approvalFunction.function);
    const auditFn = fnId(audit.completenessCheck.function);
    const deciderFn = fnId(approval.deciderFunction.function);
    const principalOf = (functionId: string) => arnOf(roleIdOf(functionId), 'Arn');

    // The resources the functions touch, created in moto under the names the template resolves to
    const s3 = new S3Client({ ...aws.clientConfig, forcePathStyle: true });
    const jwtEnv = envOf(jwtFn);
    await s3.send(new CreateBucketCommand({ Bucket: jwtEnv.JWKS_BUCKET }));
    const eventBridge = new EventBridgeClient(aws.clientConfig);
    await eventBridge.send(new CreateEventBusCommand({ Name: 'rotations' }));
    const approvalEnv = envOf(approvalFn);
    const approvalTable = approvalEnv.APPROVAL_TABLE;
    if (!approvalTable) throw new Error('the approval function has no APPROVAL_TABLE in the template');
    await createApprovalsTable(new DynamoDBClient(aws.clientConfig), approvalTable);
    const approversTopic = (
      await new SNSClient(aws.clientConfig).send(
        new CreateTopicCommand({ Name: String(approvalEnv.APPROVAL_TOPIC_ARN).split(':').pop() }),
      )
    ).TopicArn as string;
    expect(approversTopic).toBe(approvalEnv.APPROVAL_TOPIC_ARN);
    const auditEnv = envOf(auditFn);
    await new CloudWatchLogsClient(aws.clientConfig).send(
      new CreateLogGroupCommand({ logGroupName: auditEnv.AUDIT_LOG_GROUP }),
    );

    // WHEN the real functions rotate, sweep and check, through recording clients
    let acting = '';
    const as = (functionId: string) => {
      acting = principalOf(functionId);
    };
    const current = () => acting;
    const driver = new RotationDriver(aws.clientConfig);
    record(driver.client, 'secretsmanager', current, log);
    const recordedS3 = record(
      new S3Client({ ...aws.clientConfig, forcePathStyle: true }),
      's3',
      current,
      log,
    );
    const recordedEvents = record(new EventBridgeClient(aws.clientConfig), 'events', current, log);
    const selfIssuedClock = new Clock();
    const apiKeyHandler = createApiKeyHandler({
      secretsManager: driver.client,
      eventBridge: recordedEvents,
      sleep: async () => {},
      now: selfIssuedClock.now,
      env: envOf(apiKeyFn),
    });
    const jwtHandler = createJwtHandler({
      secretsManager: driver.client,
      s3: recordedS3,
      eventBridge: recordedEvents,
      env: jwtEnv,
    });
    as(apiKeyFn);
    expect((await driver.rotate(apiKeyArn, apiKeyHandler)).succeeded).toBe(true);
    // past the grace period: the sweep revokes the replaced key and removes its deadline tag
    selfIssuedClock.advance(Number(envOf(apiKeyFn).API_KEY_GRACE_PERIOD_SECONDS) + 60);
    expect((await apiKeyHandler({ Action: 'sweep', SecretId: apiKeyArn }))?.revoked.length).toBeGreaterThan(
      0,
    );
    as(jwtFn);
    expect((await driver.rotate(jwtArn, jwtHandler)).succeeded).toBe(true);
    as(masterFn);
    const masterHandler = createDatabaseHandler({
      secretsManager: driver.client,
      eventBridge: recordedEvents,
      rds: record(new RDSClient(aws.clientConfig), 'rds', current, log),
      sleep: async () => {},
      env: envOf(masterFn),
    });
    expect((await driver.rotate(masterArn, masterHandler)).succeeded).toBe(true);
    for (const [functionId, arn] of [
      [singleFn, singleArn],
      [alternatingFn, alternatingArn],
    ] as const) {
      as(functionId);
      const databaseHandler = createDatabaseHandler({
        secretsManager: driver.client,
        eventBridge: recordedEvents,
        sleep: async () => {},
        // The function bundles the RDS CA bundle; the local database has its own throwaway CA
        env: { ...envOf(functionId), DB_CA_BUNDLE_PATH: caPath },
      });
      // two rotations: the alternating strategy creates the clone, then switches back to the first user
      expect((await driver.rotate(arn, databaseHandler)).succeeded).toBe(true);
      expect((await driver.rotate(arn, databaseHandler)).succeeded).toBe(true);
    }
    const clock = new Clock();
    for (const [functionId, arn, apiGateway] of [
      [gatewayFn, gatewayArn, record(new APIGatewayClient(aws.clientConfig), 'apigateway', current, log)],
      [httpFn, httpArn, undefined],
    ] as const) {
      as(functionId);
      const keyHandler = createApiKeyHandler({
        secretsManager: driver.client,
        eventBridge: recordedEvents,
        ...(apiGateway ? { apiGateway } : {}),
        sleep: async () => {},
        now: clock.now,
        env: envOf(functionId),
      });
      expect((await driver.rotate(arn, keyHandler)).succeeded).toBe(true);
    }
    // The keys' tags, which API Gateway's authorization reads (aws:ResourceTag), before the sweep deletes some
    const keyTags = new Map<string, Record<string, string>>();
    for (const item of (await gateway.send(new GetApiKeysCommand({ limit: 500 }))).items ?? []) {
      keyTags.set(item.id as string, item.tags ?? {});
    }
    // past the grace period: the sweeps revoke the replaced keys
    clock.advance(Number(envOf(gatewayFn).API_KEY_GRACE_PERIOD_SECONDS) + 60);
    for (const [functionId, arn, apiGateway] of [
      [gatewayFn, gatewayArn, record(new APIGatewayClient(aws.clientConfig), 'apigateway', current, log)],
      [httpFn, httpArn, undefined],
    ] as const) {
      as(functionId);
      const keyHandler = createApiKeyHandler({
        secretsManager: driver.client,
        eventBridge: recordedEvents,
        ...(apiGateway ? { apiGateway } : {}),
        sleep: async () => {},
        now: clock.now,
        env: envOf(functionId),
      });
      const report = await keyHandler({ Action: 'sweep', SecretId: arn });
      expect(report?.revoked.length).toBeGreaterThan(0);
    }
    as(checkFn);
    const ids = [apiKeyArn, jwtArn];
    await checkOverdue(
      record(new SecretsManagerClient(aws.clientConfig), 'secretsmanager', current, log),
      {
        secretIds: ids,
        marginSeconds: 3600,
      },
      overdueMetrics(),
    );

    // The approval function on its schedule (a request: Query, PutItem, SNS, an event), then the sweep a day
    // after its expiry (UpdateItem, an event); the audit completeness check reads the audit log group
    as(approvalFn);
    const noMetrics = {
      addDimension: () => undefined,
      addMetric: () => undefined,
      publishStoredMetrics: () => undefined,
    } as never;
    const approvalAt = (at: Date) =>
      createApprovalHandler({
        dynamodb: record(new DynamoDBClient(aws.clientConfig), 'dynamodb', current, log),
        sns: record(new SNSClient(aws.clientConfig), 'sns', current, log),
        eventBridge: recordedEvents,
        config: loadApprovalConfig(approvalEnv),
        metrics: noMetrics,
        now: () => at,
      });
    expect((await approvalAt(new Date())({ action: 'request' })).requested).toBeDefined();
    expect(
      (await approvalAt(new Date(Date.now() + 40 * 86400_000))({ action: 'sweep' })).expired,
    ).toHaveLength(1);
    // The decider behind the function URL: a person's request (DescribeSecret, PutItem, SNS, an event), another's
    // approval of the one pending request (Query, UpdateItem, an event, RotateSecret, UpdateItem), a replay
    // refused (UpdateItem, GetItem), a denial and an emergency bypass (PutItem, an event, RotateSecret)
    await new SecretsManagerClient(aws.clientConfig).send(
      new TagResourceCommand({
        SecretId: jwtArn,
        Tags: [{ Key: ApprovalTag.TABLE, Value: approvalTable }],
      }),
    );
    as(deciderFn);
    const deciderSecrets = record(new SecretsManagerClient(aws.clientConfig), 'secretsmanager', current, log);
    // moto would run the JWT key's rotation function on RotateSecret: recorded, then answered here
    deciderSecrets.middlewareStack.add(
      (next, context) => async (args) =>
        context.commandName === 'RotateSecretCommand'
          ? ({ output: { ARN: jwtArn, $metadata: {} }, response: {} } as never)
          : next(args),
      { step: 'initialize', name: 'iamReplayRotateSecretStub' },
    );
    const decide = createDecideHandler({
      dynamodb: record(new DynamoDBClient(aws.clientConfig), 'dynamodb', current, log),
      secretsManager: deciderSecrets,
      sns: record(new SNSClient(aws.clientConfig), 'sns', current, log),
      eventBridge: recordedEvents,
      config: loadApprovalRules(envOf(deciderFn)),
    });
    const signed = (userArn: string, body: Record<string, unknown>) =>
      decide({
        body: JSON.stringify({ secretArn: jwtArn, ...body }),
        requestContext: { http: { method: 'POST' }, authorizer: { iam: { userArn } } },
      });
    const person = (name: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/oncall/${name}`;
    expect((await signed(person('alice'), { action: 'request' })).statusCode).toBe(201);
    const approvedByBob = await signed(person('bob'), { action: 'approve', reason: 'CHG-1' });
    expect(approvedByBob.statusCode).toBe(200);
    const { requestId } = JSON.parse(approvedByBob.body) as { requestId: string };
    expect(
      (await signed(person('carol'), { action: 'approve', requestId, reason: 'again' })).statusCode,
    ).toBe(409);
    expect((await signed(person('alice'), { action: 'request' })).statusCode).toBe(201);
    expect((await signed(person('bob'), { action: 'deny', reason: 'freeze' })).statusCode).toBe(200);
    expect((await signed(person('bob'), { action: 'bypass', reason: 'INC-1' })).statusCode).toBe(200);
    // An approver calls the decider's URL: Lambda authorizes InvokeFunctionUrl (the URL's auth type in the
    // context) and, for function URLs created since October 2025, InvokeFunction through the URL
    const approverArn = arnOf(logical(approvers), 'Arn');
    const deciderArn = arnOf(deciderFn, 'Arn');
    requests.push(
      {
        origin: "an approver calls the decider's function URL",
        principal: approverArn,
        action: 'lambda:InvokeFunctionUrl',
        resource: deciderArn,
        context: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' },
      },
      {
        origin: "an approver calls the decider's function URL (Lambda's InvokeFunction)",
        principal: approverArn,
        action: 'lambda:InvokeFunction',
        resource: deciderArn,
        context: { 'lambda:InvokedViaFunctionUrl': 'true' },
      },
    );
    approverChecks = {
      approverArn,
      deciderArn,
      tableArn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${approvalTable}`,
      secretArn: jwtArn,
    };
    as(auditFn);
    await runAuditCheck(
      record(new CloudWatchLogsClient(aws.clientConfig), 'logs', current, log),
      loadAuditCheckConfig(auditEnv),
      noMetrics,
    );

    // THEN turn each recorded call into the IAM request AWS authorizes, plus the requests AWS makes on the
    // functions' behalf: Secrets Manager's KMS calls, its invoke, CloudWatch's and EventBridge's publishes
    const describe = new SecretsManagerClient(aws.clientConfig);
    const arnCache = new Map<string, string>();
    const secretArn = async (id: string) => {
      if (id.startsWith('arn:')) return id;
      if (!arnCache.has(id)) {
        const out: DescribeSecretCommandOutput = await describe.send(
          new DescribeSecretCommand({ SecretId: id }),
        );
        arnCache.set(id, out.ARN as string);
      }
      return arnCache.get(id) as string;
    };
    const derived: IamRequest[] = [];
    for (const r of log) {
      if (r.service === 'secretsmanager') {
        if (r.command === 'GetRandomPassword') {
          requests.push({
            origin: r.command,
            principal: r.principal,
            action: 'secretsmanager:GetRandomPassword',
            resource: '*',
            context: {},
          });
          continue;
        }
        const arn = await secretArn(String(r.input.SecretId));
        const context: Record<string, string | string[]> = {};
        if (r.command === 'TagResource') {
          const tags = (r.input.Tags as Array<{ Key: string; Value: string }>) ?? [];
          context['aws:TagKeys'] = tags.map((t) => t.Key);
          for (const t of tags) context[`aws:RequestTag/${t.Key}`] = t.Value;
        }
        if (r.command === 'UntagResource') context['aws:TagKeys'] = r.input.TagKeys as string[];
        context['aws:PrincipalArn'] = r.principal;
        requests.push({
          origin: `SecretsManager.${r.command}`,
          principal: r.principal,
          action: `secretsmanager:${r.command}`,
          resource: arn,
          context,
        });
        const kmsAction =
          r.command === 'GetSecretValue'
            ? 'kms:Decrypt'
            : r.command === 'PutSecretValue'
              ? 'kms:GenerateDataKey'
              : undefined;
        if (kmsAction) {
          derived.push({
            origin: `derived: Secrets Manager → KMS for ${r.command}`,
            principal: r.principal,
            action: kmsAction,
            resource: KEY_ARN,
            context: {
              'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com`,
              'kms:EncryptionContext:SecretARN': arn,
            },
          });
        }
      } else if (r.service === 's3') {
        const bucket = String(r.input.Bucket);
        const objectArn = `arn:aws:s3:::${bucket}/${String(r.input.Key)}`;
        const byCommand: Record<string, [string, string]> = {
          GetObject: ['s3:GetObject', objectArn],
          HeadObject: ['s3:GetObject', objectArn],
          PutObject: ['s3:PutObject', objectArn],
          ListObjectsV2: ['s3:ListBucket', `arn:aws:s3:::${bucket}`],
        };
        const [action, resource] = byCommand[r.command] ?? [`s3:${r.command}`, objectArn];
        requests.push({
          origin: `S3.${r.command}`,
          principal: r.principal,
          action,
          resource,
          context: { 'aws:SecureTransport': 'true' },
        });
      } else if (r.service === 'rds') {
        const id = String(r.input.DBInstanceIdentifier ?? r.input.DBClusterIdentifier);
        const type = r.input.DBClusterIdentifier ? 'cluster' : 'db';
        requests.push({
          origin: `RDS.${r.command}`,
          principal: r.principal,
          action: `rds:${r.command}`,
          resource: `arn:aws:rds:${REGION}:${ACCOUNT}:${type}:${id}`,
          context: {},
        });
      } else if (r.service === 'apigateway') {
        // API Gateway authorizes apigateway:<HTTP method> on the REST path of the resource
        const apigw = (path: string) => `arn:aws:apigateway:${REGION}::${path}`;
        const keyId = String(r.input.apiKey ?? r.input.keyId ?? '');
        const resourceTags = (id: string) =>
          Object.fromEntries(
            Object.entries(keyTags.get(id) ?? {}).map(([k, v]) => [`aws:ResourceTag/${k}`, v]),
          );
        const byCommand: Record<string, [string, string, Record<string, string | string[]>]> = {
          GetApiKeys: ['apigateway:GET', apigw('/apikeys'), {}],
          GetApiKey: ['apigateway:GET', apigw(`/apikeys/${keyId}`), resourceTags(keyId)],
          DeleteApiKey: ['apigateway:DELETE', apigw(`/apikeys/${keyId}`), resourceTags(keyId)],
          GetUsagePlans: ['apigateway:GET', apigw('/usageplans'), {}],
          CreateUsagePlanKey: [
            'apigateway:POST',
            apigw(`/usageplans/${String(r.input.usagePlanId)}/keys`),
            {},
          ],
          GetUsagePlanKey: [
            'apigateway:GET',
            apigw(`/usageplans/${String(r.input.usagePlanId)}/keys/${keyId}`),
            {},
          ],
        };
        if (r.command === 'CreateApiKey') {
          const tags = (r.input.tags as Record<string, string>) ?? {};
          byCommand.CreateApiKey = [
            'apigateway:POST',
            apigw('/apikeys'),
            {
              'aws:TagKeys': Object.keys(tags),
              ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
            },
          ];
        }
        const mapped = byCommand[r.command];
        if (!mapped) throw new Error(`No IAM mapping for API Gateway's ${r.command}`);
        const [action, resource, context] = mapped;
        requests.push({
          origin: `APIGateway.${r.command}`,
          principal: r.principal,
          action,
          resource,
          context,
        });
      } else if (r.service === 'dynamodb') {
        requests.push({
          origin: `DynamoDB.${r.command}`,
          principal: r.principal,
          action: `dynamodb:${r.command}`,
          resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${String(r.input.TableName)}`,
          context: {},
        });
      } else if (r.service === 'sns') {
        const topic = String(r.input.TopicArn);
        requests.push({
          origin: `SNS.${r.command}`,
          principal: r.principal,
          action: `sns:${r.command}`,
          resource: topic,
          context: { 'aws:SecureTransport': 'true' },
        });
        // SNS encrypts the message with the topic's key for the publisher: the publisher needs
        // kms:GenerateDataKey and kms:Decrypt on it ("Encryption at rest", Amazon SNS Developer Guide)
        const keyId = Object.entries(resources).find(
          ([id, res]) => res.Type === 'AWS::SNS::Topic' && resolve({ Ref: id }) === topic,
        )?.[1].Properties.KmsMasterKeyId;
        if (keyId) {
          for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
            derived.push({
              origin: `derived: SNS → KMS for ${r.command}`,
              principal: r.principal,
              action,
              resource: resolve(keyId) as string,
              context: {
                'kms:ViaService': `sns.${REGION}.amazonaws.com`,
                'kms:EncryptionContext:aws:sns:topicArn': topic,
              },
            });
          }
        }
      } else if (r.service === 'logs') {
        requests.push({
          origin: `CloudWatchLogs.${r.command}`,
          principal: r.principal,
          action: `logs:${r.command}`,
          resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${String(r.input.logGroupName)}`,
          context: {},
        });
      } else if (r.service === 'events') {
        for (const entry of (r.input.Entries as Array<{ EventBusName?: string }>) ?? []) {
          const bus = String(entry.EventBusName);
          requests.push({
            origin: 'EventBridge.PutEvents',
            principal: r.principal,
            action: 'events:PutEvents',
            resource: bus.startsWith('arn:') ? bus : `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${bus}`,
            context: {},
          });
        }
      }
    }
    for (const [functionId, arn] of [
      [apiKeyFn, apiKeyArn],
      [jwtFn, jwtArn],
      [masterFn, masterArn],
      [singleFn, singleArn],
      [alternatingFn, alternatingArn],
      [gatewayFn, gatewayArn],
      [httpFn, httpArn],
    ] as const) {
      derived.push({
        origin: 'derived: Secrets Manager invokes the rotation function',
        principal: 'secretsmanager.amazonaws.com',
        action: 'lambda:InvokeFunction',
        resource: arnOf(functionId, 'Arn'),
        context: { 'aws:SourceArn': arn, 'aws:SourceAccount': ACCOUNT },
      });
    }
    const topicArn = resolve({ Ref: logical(alarms.topic) }) as string;
    for (const alarm of alarms.alarms) {
      derived.push({
        origin: 'derived: CloudWatch publishes an alarm',
        principal: 'cloudwatch.amazonaws.com',
        action: 'sns:Publish',
        resource: topicArn,
        context: {
          'aws:SourceArn': arnOf(logical(alarm), 'Arn'),
          'aws:SourceAccount': ACCOUNT,
          'aws:SecureTransport': 'true',
        },
      });
    }
    const failureRule = alarms.node.findChild('SecretsManagerRotationFailed') as {
      node: { defaultChild?: unknown };
    };
    derived.push({
      origin: "derived: EventBridge forwards Secrets Manager's RotationFailed to the topic",
      principal: 'events.amazonaws.com',
      action: 'sns:Publish',
      resource: topicArn,
      context: { 'aws:SourceArn': arnOf(logical(failureRule), 'Arn'), 'aws:SecureTransport': 'true' },
    });
    requests = [...requests, ...derived];
    other = {
      secret: otherArn,
      bucket: 'another-bucket',
      bus: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/another-bus`,
    };

    // The policies: identity policies of each role, and the resource policy that applies to each request
    const policies = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy');
    statementsOf = (principal: string) =>
      policies
        .filter((p) =>
          (resolve(p.Properties.Roles) as string[]).some((roleName) =>
            principal.endsWith(`:role/${roleName}`),
          ),
        )
        .flatMap((p) => (resolve(p.Properties.PolicyDocument) as PolicyDocument).Statement)
        .map((statement) => ({ principal, statement }));
    identityOf = (principal: string) => [
      { Version: '2012-10-17', Statement: statementsOf(principal).map((s) => s.statement) },
    ];
    const ofType = (type: string) => Object.values(resources).filter((r) => r.Type === type);
    resourcePolicyOf = (request: IamRequest) => {
      if (request.action.startsWith('kms:')) {
        // An imported key: its key policy is the account's; this one trusts the account's IAM policies,
        // as AWS's default key policy does.
        return {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
              Action: 'kms:*',
              Resource: '*',
            },
          ],
        };
      }
      if (request.action === 'lambda:InvokeFunction') {
        const statements = ofType('AWS::Lambda::Permission')
          .map((p) => resolve(p.Properties) as Record<string, string>)
          .filter((p) => p.FunctionName === request.resource)
          .map((p) => ({
            Effect: 'Allow',
            Principal: { Service: p.Principal },
            Action: p.Action,
            Resource: p.FunctionName,
            Condition: {
              ...(p.SourceArn ? { ArnLike: { 'AWS:SourceArn': p.SourceArn } } : {}),
              ...(p.SourceAccount ? { StringEquals: { 'AWS:SourceAccount': p.SourceAccount } } : {}),
            },
          }));
        return { Version: '2012-10-17', Statement: statements };
      }
      if (request.action === 'sns:Publish') {
        const policy = ofType('AWS::SNS::TopicPolicy').find((p) =>
          (resolve(p.Properties.Topics) as string[]).includes(request.resource),
        );
        return policy ? (resolve(policy.Properties.PolicyDocument) as PolicyDocument) : undefined;
      }
      if (request.action.startsWith('s3:')) {
        const policy = ofType('AWS::S3::BucketPolicy')[0];
        return policy ? (resolve(policy.Properties.PolicyDocument) as PolicyDocument) : undefined;
      }
      return undefined;
    };
  }, 240_000);

  afterAll(async () => {
    await Promise.all([aws?.stop(), db?.stop(), keyService?.stop()]);
    if (caDir) rmSync(caDir, { recursive: true, force: true });
  });

  it('records the requests of every function: rotation steps, the sweep, the JWKS, the RDS API, events, the overdue check, the approval function, the audit check', () => {
    const actions = new Set(requests.map((r) => r.action));
    for (const action of [
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
      'secretsmanager:TagResource',
      // the API key sweep, when it revokes a superseded key: when its successor was created
      'secretsmanager:ListSecretVersionIds',
      's3:PutObject',
      'events:PutEvents',
      'rds:ModifyDBInstance',
      'rds:DescribeDBInstances',
      'apigateway:POST',
      'apigateway:GET',
      'apigateway:DELETE',
      'kms:Decrypt',
      'kms:GenerateDataKey',
      'lambda:InvokeFunction',
      'sns:Publish',
      'dynamodb:Query',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'logs:FilterLogEvents',
    ]) {
      expect(actions).toContain(action);
    }
  });

  it('allows every recorded request', async () => {
    const denied: string[] = [];
    for (const request of requests) {
      const identity = request.principal.includes(':role/') ? identityOf(request.principal) : [];
      const result = await evaluate(request, { identity, resource: resourcePolicyOf(request) });
      if (result !== 'Allowed')
        denied.push(`${request.origin} ${request.action} on ${request.resource}: ${result}`);
    }
    expect(denied).toEqual([]);
  });

  it('denies the same requests for another secret, bucket, bus, key, database instance, alarm and rule', async () => {
    const allowed: string[] = [];
    for (const request of requests) {
      const swapped = swap(request, other);
      if (!swapped) continue;
      const identity = swapped.principal.includes(':role/') ? identityOf(swapped.principal) : [];
      const result = await evaluate(swapped, { identity, resource: resourcePolicyOf(swapped) });
      if (result === 'Allowed') allowed.push(`${swapped.origin} ${swapped.action} on ${swapped.resource}`);
    }
    expect(allowed).toEqual([]);
  });

  it("lets an approver call the decider's URL and nothing that decides: no table write, no RotateSecret, no direct Invoke", async () => {
    const { approverArn, deciderArn, tableArn, secretArn } = approverChecks;
    const identity = identityOf(approverArn);
    const asApprover = (action: string, resource: string, context: Record<string, string> = {}) =>
      evaluate({ origin: 'approver', principal: approverArn, action, resource, context }, { identity });
    expect(
      await asApprover('lambda:InvokeFunctionUrl', deciderArn, { 'lambda:FunctionUrlAuthType': 'AWS_IAM' }),
    ).toBe('Allowed');
    const refused: Record<string, string> = {};
    for (const [action, resource, context] of [
      ['dynamodb:UpdateItem', tableArn, {}],
      ['dynamodb:PutItem', tableArn, {}],
      ['dynamodb:DeleteItem', tableArn, {}],
      ['secretsmanager:RotateSecret', secretArn, {}],
      // a URL without authentication, and an Invoke outside the URL that could forge the request context
      ['lambda:InvokeFunctionUrl', deciderArn, { 'lambda:FunctionUrlAuthType': 'NONE' }],
      ['lambda:InvokeFunction', deciderArn, { 'lambda:InvokedViaFunctionUrl': 'false' }],
      ['lambda:InvokeFunction', deciderArn, {}],
    ] as const) {
      refused[`${action} ${JSON.stringify(context)}`] = await asApprover(action, resource, context);
    }
    expect(Object.values(refused).filter((r) => r === 'Allowed')).toEqual([]);
  });

  it('uses every statement of the roles, except those the local mode cannot exercise (reported with why)', async () => {
    // Lambda itself writes the logs and manages network interfaces: no SDK call of ours makes these
    // requests. s3:ListBucket is what makes S3 answer 404 instead of 403 for a JWKS object not yet written:
    // it authorizes the error code, no request names it.
    const notExercised = (s: Record<string, unknown>) =>
      [s.Action]
        .flat()
        .every((a) => String(a).startsWith('logs:') || String(a).startsWith('ec2:') || a === 's3:ListBucket');
    const principals = [...new Set(requests.map((r) => r.principal).filter((p) => p.includes(':role/')))];
    const unused: string[] = [];
    for (const principal of principals) {
      for (const { statement } of statementsOf(principal)) {
        if (notExercised(statement)) continue;
        let used = false;
        for (const request of requests.filter((r) => r.principal === principal)) {
          const only = [{ Version: '2012-10-17', Statement: [statement] }];
          if (
            (await evaluate(request, { identity: only, resource: resourcePolicyOf(request) })) === 'Allowed'
          ) {
            used = true;
            break;
          }
        }
        if (!used)
          unused.push(
            `${principal.split('/').pop()}: ${JSON.stringify(statement.Action)} on ${JSON.stringify(statement.Resource)}`,
          );
      }
    }
    // Over-privilege report: every statement is used by a recorded request.
    expect(unused).toEqual([]);
  });

  it('uses every action of every statement: a statement used for one action grants no idle other', async () => {
    // ListSecretVersionIds: the single-user rotation lists versions only after an outside write made
    // AWSCURRENT's password fail (docs/security.md); a rotation of a healthy secret never needs it. The API key
    // function's sweep does use it (the revocation latency): its roles are held to it like any other action.
    const notExercisedAction = (principal: string, action: string) =>
      action === 'secretsmanager:ListSecretVersionIds' && !principal.includes('ApiKey');
    const principals = [...new Set(requests.map((r) => r.principal).filter((p) => p.includes(':role/')))];
    const unused: string[] = [];
    for (const principal of principals) {
      for (const { statement } of statementsOf(principal)) {
        for (const action of [statement.Action].flat().map(String)) {
          if (
            action.startsWith('logs:') ||
            action.startsWith('ec2:') ||
            action === 's3:ListBucket' ||
            notExercisedAction(principal, action)
          )
            continue;
          const only = [{ Version: '2012-10-17', Statement: [{ ...statement, Action: action }] }];
          let used = false;
          for (const request of requests.filter((r) => r.principal === principal && r.action === action)) {
            if (
              (await evaluate(request, { identity: only, resource: resourcePolicyOf(request) })) === 'Allowed'
            ) {
              used = true;
              break;
            }
          }
          if (!used)
            unused.push(`${principal.split('/').pop()}: ${action} on ${JSON.stringify(statement.Resource)}`);
        }
      }
    }
    expect(unused).toEqual([]);
  });
});

/** The same request aimed at another secret, bucket, bus or key; undefined when nothing can be swapped. */
function swap(
  request: IamRequest,
  other: { secret: string; bucket: string; bus: string },
): IamRequest | undefined {
  if (request.resource === '*') return undefined;
  if (request.action.startsWith('secretsmanager:'))
    return { ...request, resource: other.secret, origin: `${request.origin} (another secret)` };
  if (request.action.startsWith('s3:')) {
    return {
      ...request,
      resource: request.resource.replace(/^arn:aws:s3:::[^/]+/, `arn:aws:s3:::${other.bucket}`),
      origin: `${request.origin} (another bucket)`,
    };
  }
  if (request.action.startsWith('rds:')) {
    return {
      ...request,
      resource: request.resource.replace(/:db:.*$/, ':db:someone-elses'),
      origin: `${request.origin} (another instance)`,
    };
  }
  if (request.action.startsWith('apigateway:')) {
    const tag = `aws:ResourceTag/${API_GATEWAY_KEY_OWNER_TAG}`;
    const requestTag = `aws:RequestTag/${API_GATEWAY_KEY_OWNER_TAG}`;
    if (request.context[tag])
      return {
        ...request,
        context: { ...request.context, [tag]: other.secret },
        origin: `${request.origin} (another secret's key)`,
      };
    if (request.context[requestTag])
      return {
        ...request,
        context: { ...request.context, [requestTag]: other.secret },
        origin: `${request.origin} (a key for another secret)`,
      };
    if (request.resource.includes('/usageplans/'))
      return {
        ...request,
        resource: request.resource.replace(/\/usageplans\/[^/]+/, '/usageplans/someone-elses'),
        origin: `${request.origin} (another usage plan)`,
      };
    return undefined;
  }
  if (request.action.startsWith('dynamodb:'))
    return {
      ...request,
      resource: request.resource.replace(/table\/.*$/, 'table/someone-elses'),
      origin: `${request.origin} (another table)`,
    };
  if (request.action.startsWith('logs:'))
    return {
      ...request,
      resource: request.resource.replace(/log-group:.*$/, 'log-group:someone-elses'),
      origin: `${request.origin} (another log group)`,
    };
  if (request.action.startsWith('kms:') && request.context['kms:EncryptionContext:aws:sns:topicArn']) {
    return {
      ...request,
      context: {
        ...request.context,
        'kms:EncryptionContext:aws:sns:topicArn': `arn:aws:sns:${REGION}:${ACCOUNT}:someone-elses`,
      },
      origin: `${request.origin} (another topic's data key)`,
    };
  }
  if (request.action === 'sns:Publish' && request.principal.includes(':role/'))
    return {
      ...request,
      resource: `arn:aws:sns:${REGION}:${ACCOUNT}:someone-elses`,
      origin: `${request.origin} (another topic)`,
    };
  if (request.action === 'events:PutEvents')
    return { ...request, resource: other.bus, origin: `${request.origin} (another bus)` };
  if (request.action.startsWith('kms:')) {
    return {
      ...request,
      context: { ...request.context, 'kms:EncryptionContext:SecretARN': other.secret },
      origin: `${request.origin} (another secret's data key)`,
    };
  }
  if (request.action.startsWith('lambda:') && request.principal.includes(':role/')) {
    return {
      ...request,
      resource: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:someone-elses`,
      origin: `${request.origin} (another function)`,
    };
  }
  if (request.action === 'lambda:InvokeFunction') {
    return {
      ...request,
      context: { ...request.context, 'aws:SourceArn': other.secret },
      origin: `${request.origin} (for another secret)`,
    };
  }
  if (request.action === 'sns:Publish') {
    return {
      ...request,
      context: {
        ...request.context,
        'aws:SourceArn':
          request.principal === 'events.amazonaws.com'
            ? `arn:aws:events:${REGION}:${ACCOUNT}:rule/someone-elses`
            : `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:someone-elses`,
      },
      origin: `${request.origin} (another alarm or rule)`,
    };
  }
  return undefined;
}
