import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import {
  ApiKeyRotation,
  DatabaseSecretRotation,
  JwtSigningKeyRotation,
  RotationAlarms,
} from '../../infra/constructs';
import { ExampleStack } from '../../infra/stacks/example-stack';

// Issue 14, "Found in the synthesized templates": one describe per finding. Each test fails on the
// constructs before the fix.

const ENV = { account: '123456789012', region: 'eu-west-1' };
const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-AbCdEf';
const MASTER_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-master-GhIjKl';

type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
};

function stack(id = 'Test'): Stack {
  return new Stack(new App(), id, { env: ENV });
}

function isolatedVpc(scope: Stack, id = 'Vpc'): ec2.Vpc {
  return new ec2.Vpc(scope, id, {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
}

function identityStatements(template: Template): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
        .Statement,
  );
}

const actions = (s: Statement) => [s.Action].flat();

describe('finding 1: alarms can notify', () => {
  it('lets cloudwatch.amazonaws.com publish to the alarm topic, for these alarms of this account only', () => {
    // GIVEN
    const s = stack();
    const fn = new lambda.Function(s, 'Fn', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler=async()=>{}'),
    });
    // WHEN
    new RotationAlarms(s, 'Alarms').watch({
      secret: new secretsmanager.Secret(s, 'Secret'),
      rotationFunction: fn,
      kind: 'database',
      strategy: 'single-user',
    });
    // THEN
    const template = Template.fromStack(s);
    const alarmIds = Object.keys(template.findResources('AWS::CloudWatch::Alarm'));
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: {
              ArnLike: { 'aws:SourceArn': alarmIds.map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] })) },
              StringEquals: { 'aws:SourceAccount': '123456789012' },
            },
          }),
        ]),
      },
    });
  });
});

describe('finding 2: secrets encrypted with an imported or shared KMS key', () => {
  it('grants kms:Decrypt and GenerateDataKey on the key, through Secrets Manager, for this secret only; and Decrypt for the master secret', () => {
    // GIVEN an imported secret and master secret, each with an imported customer-managed key
    const s = stack();
    const key = kms.Key.fromKeyArn(s, 'Key', KEY_ARN);
    const secret = secretsmanager.Secret.fromSecretAttributes(s, 'App', {
      secretCompleteArn: SECRET_ARN,
      encryptionKey: key,
    });
    const masterSecret = secretsmanager.Secret.fromSecretAttributes(s, 'Master', {
      secretCompleteArn: MASTER_ARN,
      encryptionKey: key,
    });
    // WHEN
    new DatabaseSecretRotation(s, 'Rotation', {
      secret,
      masterSecret,
      strategy: 'alternating-users',
      vpc: isolatedVpc(s),
    });
    // THEN
    const kmsStatements = identityStatements(Template.fromStack(s)).filter((st) =>
      actions(st).some((a) => a.startsWith('kms:')),
    );
    expect(kmsStatements).toEqual(
      expect.arrayContaining([
        {
          Effect: 'Allow',
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: KEY_ARN,
          Condition: {
            StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' },
            StringLike: { 'kms:EncryptionContext:SecretARN': SECRET_ARN },
          },
        },
        {
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: KEY_ARN,
          Condition: {
            StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' },
            StringLike: { 'kms:EncryptionContext:SecretARN': MASTER_ARN },
          },
        },
      ]),
    );
  });

  it('scopes the key of a secret imported by name to the name followed by six characters', () => {
    const s = stack();
    const secret = secretsmanager.Secret.fromSecretAttributes(s, 'App', {
      secretPartialArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app',
      encryptionKey: kms.Key.fromKeyArn(s, 'Key', KEY_ARN),
    });
    new ApiKeyRotation(s, 'Rotation', { secret, provider: { type: 'self-issued' } });
    const kmsStatement = identityStatements(Template.fromStack(s)).find((st) =>
      actions(st).includes('kms:GenerateDataKey'),
    );
    expect(kmsStatement?.Condition?.StringLike).toEqual({
      'kms:EncryptionContext:SecretARN':
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-??????',
    });
  });
});

describe("finding 3: the target's own port", () => {
  it('opens 3306 for a MySQL instance, from the engine, without a port prop', () => {
    // GIVEN
    const s = stack();
    const vpc = isolatedVpc(s);
    const instance = new rds.DatabaseInstance(s, 'Db', {
      engine: rds.DatabaseInstanceEngine.mysql({ version: rds.MysqlEngineVersion.VER_8_4_3 }),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    });
    // WHEN
    new DatabaseSecretRotation(s, 'Rotation', {
      secret: new secretsmanager.Secret(s, 'App'),
      strategy: 'single-user',
      vpc,
      target: instance,
    });
    // THEN
    const ingress = Template.fromStack(s).findResources('AWS::EC2::SecurityGroupIngress');
    const ports = Object.values(ingress).map((r) =>
      JSON.stringify((r as { Properties: unknown }).Properties),
    );
    expect(ports.some((p) => p.includes('5432'))).toBe(false);
    Template.fromStack(s).hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Db'), 'Endpoint.Port'] },
      SourceSecurityGroupId: Match.anyValue(),
    });
  });

  it('refuses a target without a default port when no port is given, naming the prop', () => {
    const s = stack();
    const vpc = isolatedVpc(s);
    expect(
      () =>
        new DatabaseSecretRotation(s, 'Rotation', {
          secret: new secretsmanager.Secret(s, 'App'),
          strategy: 'single-user',
          vpc,
          target: new ec2.SecurityGroup(s, 'Db', { vpc }),
        }),
    ).toThrow('DatabaseSecretRotationProps.port is required');
  });
});

describe("finding 4: the example app's first rotation", () => {
  const app = new App();
  const example = new ExampleStack(app, 'Example', { env: ENV });
  const template = Template.fromStack(example);
  const scheduleOf = (construct: { rotationSchedule?: secretsmanager.CfnRotationSchedule }) =>
    template.toJSON().Resources[
      example.getLogicalId(construct.rotationSchedule as secretsmanager.CfnRotationSchedule)
    ];

  it('waits for the database instances and the VPC endpoints before the application user rotates', () => {
    const dependsOn: string[] = scheduleOf(example.rotation).DependsOn ?? [];
    const instances = Object.keys(template.findResources('AWS::RDS::DBInstance'));
    const endpoints = Object.keys(template.findResources('AWS::EC2::VPCEndpoint'));
    expect(instances.length).toBeGreaterThan(0);
    expect(endpoints.length).toBe(2);
    expect(dependsOn).toEqual(expect.arrayContaining([...instances, ...endpoints]));
  });

  it('creates the application user before its first rotation, without any password in the template', () => {
    const bootstrap = Object.entries(template.toJSON().Resources as Record<string, { Type: string }>).find(
      ([, r]) => r.Type === 'Custom::OrdersAppUser',
    );
    expect(bootstrap).toBeDefined();
    expect(scheduleOf(example.rotation).DependsOn).toEqual(expect.arrayContaining([bootstrap?.[0]]));
    expect(JSON.stringify(bootstrap?.[1])).not.toMatch(/PASSWORD\s+'/i);
  });
});

describe('finding 6: a database secret needs the VPC of its database', () => {
  it.each(['single-user', 'alternating-users'] as const)(
    "refuses the '%s' strategy without a VPC, naming the prop",
    (strategy) => {
      const s = stack();
      expect(
        () =>
          new DatabaseSecretRotation(s, 'Rotation', {
            secret: new secretsmanager.Secret(s, 'App'),
            masterSecret: new secretsmanager.Secret(s, 'Master'),
            strategy,
          }),
      ).toThrow(`DatabaseSecretRotationProps.vpc is required for the '${strategy}' strategy`);
    },
  );

  it('runs rds-master without a VPC', () => {
    const s = stack();
    new DatabaseSecretRotation(s, 'Rotation', {
      secret: new secretsmanager.Secret(s, 'App'),
      strategy: 'rds-master',
      rdsMaster: { type: 'instance', identifier: 'orders' },
    });
    Template.fromStack(s).hasResourceProperties('AWS::Lambda::Function', { VpcConfig: Match.absent() });
  });
});

describe("finding 7: Secrets Manager's invoke permission (confused deputy)", () => {
  it.each([
    [
      'a secret of the stack',
      (s: Stack) => new secretsmanager.Secret(s, 'App'),
      { Ref: Match.stringLikeRegexp('^App') },
    ],
    [
      'a secret imported by name',
      (s: Stack) =>
        secretsmanager.Secret.fromSecretPartialArn(
          s,
          'App',
          'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app',
        ),
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-??????',
    ],
  ])('scopes it to the account and the secret for %s', (_name, makeSecret, sourceArn) => {
    const s = stack();
    new ApiKeyRotation(s, 'Rotation', { secret: makeSecret(s), provider: { type: 'self-issued' } });
    const template = Template.fromStack(s);
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).filter(
      (p) =>
        (p as { Properties: { Principal: string } }).Properties.Principal === 'secretsmanager.amazonaws.com',
    );
    expect(permissions).toHaveLength(1);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'secretsmanager.amazonaws.com',
      SourceAccount: '123456789012',
      SourceArn: sourceArn,
    });
  });
});

describe('finding 9: createVpcEndpoints', () => {
  it('lets two rotations in one VPC share one endpoint a service', () => {
    // GIVEN
    const s = stack();
    const vpc = isolatedVpc(s);
    // WHEN
    for (const id of ['One', 'Two']) {
      new DatabaseSecretRotation(s, id, {
        secret: new secretsmanager.Secret(s, `${id}Secret`),
        strategy: 'single-user',
        vpc,
        createVpcEndpoints: true,
      });
    }
    // THEN
    const template = Template.fromStack(s);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 1);
    // both functions reach it
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).filter(
      (r) => (r as { Properties: { FromPort: number } }).Properties.FromPort === 443,
    );
    expect(ingress).toHaveLength(2);
  });

  it("puts the endpoints in the function's subnets in a VPC with NAT", () => {
    // GIVEN the default VPC layout: public and private-with-egress subnets
    const s = stack();
    const vpc = new ec2.Vpc(s, 'Vpc', { maxAzs: 2, natGateways: 1 });
    // WHEN
    new DatabaseSecretRotation(s, 'Rotation', {
      secret: new secretsmanager.Secret(s, 'App'),
      strategy: 'single-user',
      vpc,
      createVpcEndpoints: true,
    });
    // THEN the endpoint's subnets are the function's
    const template = Template.fromStack(s);
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0] as {
      Properties: { VpcConfig: { SubnetIds: unknown[] } };
    };
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      SubnetIds: fn.Properties.VpcConfig.SubnetIds,
    });
  });

  it('takes an existing endpoint instead, opening its security group to the function', () => {
    const s = stack();
    const vpc = isolatedVpc(s);
    const existing = ec2.InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(s, 'Existing', {
      vpcEndpointId: 'vpce-0123456789abcdef0',
      port: 443,
      securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(s, 'EndpointSg', 'sg-0123456789abcdef0')],
    });
    new DatabaseSecretRotation(s, 'Rotation', {
      secret: new secretsmanager.Secret(s, 'App'),
      strategy: 'single-user',
      vpc,
      vpcEndpoints: [existing],
    });
    const template = Template.fromStack(s);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: 'sg-0123456789abcdef0',
      FromPort: 443,
      ToPort: 443,
    });
  });

  it('fails synth when the VPC already has a Secrets Manager endpoint with private DNS', () => {
    const app = new App();
    const s = new Stack(app, 'Test', { env: ENV });
    const vpc = isolatedVpc(s);
    vpc.addInterfaceEndpoint('Theirs', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
    new DatabaseSecretRotation(s, 'Rotation', {
      secret: new secretsmanager.Secret(s, 'App'),
      strategy: 'single-user',
      vpc,
      createVpcEndpoints: true,
    });
    expect(() => app.synth()).toThrow(/another .*secretsmanager endpoint with private DNS in the same VPC/);
  });
});

describe('finding 10: alarms', () => {
  const fixture = () => {
    const s = stack();
    const fn = new lambda.Function(s, 'Fn', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler=async()=>{}'),
    });
    return { s, fn, alarms: new RotationAlarms(s, 'Alarms') };
  };

  it("refuses a strategy our functions never publish ('jwt' for 'jwks')", () => {
    const { s, fn, alarms } = fixture();
    expect(() =>
      alarms.watch({
        secret: new secretsmanager.Secret(s, 'Secret'),
        rotationFunction: fn,
        kind: 'jwt',
        strategy: 'jwt',
      } as never),
    ).toThrow("RotationAlarms.watch: strategy of kind 'jwt' must be one of jwks, got 'jwt'");
  });

  it('keeps the overdue alarm out of ALARM when no data has come yet, and notifies when the check stops', () => {
    const { s, fn, alarms } = fixture();
    alarms.watch({
      secret: new secretsmanager.Secret(s, 'Secret'),
      rotationFunction: fn,
      kind: 'database',
      strategy: 'single-user',
    });
    const template = Template.fromStack(s);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'RotationOverdue',
      TreatMissingData: 'missing',
      InsufficientDataActions: [{ Ref: Match.stringLikeRegexp('AlarmsTopic') }],
    });
    // the check runs twice per alarm period, so a late run leaves no period without a datapoint
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(30 minutes)' });
  });

  it('watches 120 secrets without putting their ids in the environment (4 KB)', () => {
    const { s, fn, alarms } = fixture();
    for (let i = 0; i < 120; i++) {
      alarms.watch({
        secret: secretsmanager.Secret.fromSecretCompleteArn(
          s,
          `S${i}`,
          `arn:aws:secretsmanager:eu-west-1:123456789012:secret:service-${i}-with-a-long-name-AbCdEf`,
        ),
        rotationFunction: fn,
        kind: 'database',
        strategy: 'single-user',
      });
    }
    const template = Template.fromStack(s);
    const check = Object.values(template.findResources('AWS::Lambda::Function')).find((f) =>
      JSON.stringify(f).includes('OVERDUE_MARGIN_SECONDS'),
    ) as { Properties: { Environment: { Variables: Record<string, string> } } };
    expect(check.Properties.Environment.Variables.SECRET_IDS).toBeUndefined();
    const inputs = Object.values(template.findResources('AWS::Events::Rule'))
      .map(
        (r) => (r as { Properties: { Targets?: Array<{ Input?: string }> } }).Properties.Targets?.[0]?.Input,
      )
      .filter((input): input is string => typeof input === 'string' && input.includes('SecretIds'))
      .map((input) => JSON.parse(input) as { SecretIds: string[] });
    expect(inputs.flatMap((i) => i.SecretIds)).toHaveLength(120);
    for (const input of inputs) expect(JSON.stringify(input).length).toBeLessThan(8192);
  });
});

describe('finding 11: stacks', () => {
  it('puts a database in one stack and its rotation in another without a cyclic reference', () => {
    // GIVEN
    const app = new App();
    const data = new Stack(app, 'Data', { env: ENV });
    const vpc = isolatedVpc(data);
    const key = new kms.Key(data, 'Key', { enableKeyRotation: true });
    const instance = new rds.DatabaseInstance(data, 'Db', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16_4 }),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      credentials: rds.Credentials.fromGeneratedSecret('postgres', { encryptionKey: key }),
    });
    const rotations = new Stack(app, 'Rotations', { env: ENV });
    // WHEN
    new DatabaseSecretRotation(rotations, 'Rotation', { database: instance, strategy: 'single-user' });
    // THEN
    expect(() => app.synth()).not.toThrow();
    expect(rotations.dependencies.map((d) => d.stackName)).toContain('Data');
    Template.fromStack(rotations).resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
  });

  it("refuses our rotation and the database's addRotationSingleUser() on one secret", () => {
    const app = new App();
    const s = new Stack(app, 'Test', { env: ENV });
    const vpc = isolatedVpc(s);
    const instance = new rds.DatabaseInstance(s, 'Db', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16_4 }),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    });
    instance.addRotationSingleUser();
    new DatabaseSecretRotation(s, 'Rotation', { database: instance, strategy: 'single-user' });
    expect(() => app.synth()).toThrow(
      /already has the rotation schedule .*a secret has exactly one rotation/,
    );
  });
});

describe('finding 12: least privilege', () => {
  it('conditions API Gateway key reads and deletes on the owner tag the function writes', () => {
    const s = stack();
    const api = new apigateway.RestApi(s, 'Api');
    api.root.addMethod('GET');
    const plan = api.addUsagePlan('Plan', { apiStages: [{ api, stage: api.deploymentStage }] });
    const secret = new secretsmanager.Secret(s, 'Key');
    new ApiKeyRotation(s, 'Rotation', { secret, provider: { type: 'api-gateway', usagePlans: [plan] } });
    const onKeys = identityStatements(Template.fromStack(s)).filter((st) =>
      JSON.stringify(st.Resource).includes('/apikeys/*'),
    );
    expect(onKeys).toHaveLength(1);
    expect(onKeys[0]?.Condition).toEqual({
      StringLike: {
        'aws:ResourceTag/secret-rotation:api-key:secret': {
          Ref: s.getLogicalId(secret.node.defaultChild as never),
        },
      },
    });
  });

  it("writes logs to the function's own log group only, without AWSLambdaBasicExecutionRole", () => {
    const s = stack();
    new JwtSigningKeyRotation(s, 'Jwt');
    const template = Template.fromStack(s);
    expect(JSON.stringify(template.findResources('AWS::IAM::Role'))).not.toContain(
      'AWSLambdaBasicExecutionRole',
    );
    const logs = identityStatements(template).filter((st) => actions(st).some((a) => a.startsWith('logs:')));
    const logGroups = Object.keys(template.findResources('AWS::Logs::LogGroup'));
    expect(logs).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [logGroups[0], 'Arn'] },
      },
    ]);
  });

  it("denies the API key revocation tags to every principal but the rotation role in the secret's resource policy", () => {
    const s = stack();
    const secret = new secretsmanager.Secret(s, 'Key');
    const rotation = new ApiKeyRotation(s, 'Rotation', { secret, provider: { type: 'self-issued' } });
    const roleId = s.getLogicalId(rotation.rotationFunction.role?.node.defaultChild as never);
    Template.fromStack(s).hasResourceProperties('AWS::SecretsManager::ResourcePolicy', {
      ResourcePolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: ['secretsmanager:TagResource', 'secretsmanager:UntagResource'],
            Condition: {
              'ForAnyValue:StringLike': { 'aws:TagKeys': ['secret-rotation:api-key:*'] },
              ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [roleId, 'Arn'] } },
            },
          }),
        ]),
      },
    });
  });

  it('warns at synth when the secret is imported and its tag keys cannot be protected here', () => {
    const s = stack();
    new ApiKeyRotation(s, 'Rotation', {
      secret: secretsmanager.Secret.fromSecretCompleteArn(s, 'Key', SECRET_ARN),
      provider: { type: 'self-issued' },
    });
    Annotations.fromStack(s).hasWarning(
      '/Test/Rotation',
      Match.stringLikeRegexp('controls when its API keys are revoked'),
    );
  });
});

describe('issue 16, finding 16: EdDSA signing keys', () => {
  it('warns at synth that jsonwebtoken/jwks-rsa verifiers refuse EdDSA', () => {
    const s = stack();
    new JwtSigningKeyRotation(s, 'Jwt', { algorithm: 'EdDSA', schedule: { every: Duration.days(7) } });
    Annotations.fromStack(s).hasWarning('/Test/Jwt', Match.stringLikeRegexp('jsonwebtoken with jwks-rsa'));
  });

  it('does not warn for ES256', () => {
    const s = stack();
    new JwtSigningKeyRotation(s, 'Jwt', { algorithm: 'ES256' });
    Annotations.fromStack(s).hasNoWarning('/Test/Jwt', Match.stringLikeRegexp('EdDSA'));
  });
});
