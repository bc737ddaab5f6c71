import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { DatabaseSecretRotation, RotationEvents } from '../../infra/constructs';

function fixture() {
  const app = new App();
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  const secret = new secretsmanager.Secret(stack, 'App');
  const master = new secretsmanager.Secret(stack, 'Master');
  const database = new ec2.SecurityGroup(stack, 'Database', { vpc });
  return { app, stack, vpc, secret, master, database };
}

const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);

describe('DatabaseSecretRotation', () => {
  // GIVEN one stack with an alternating-users rotation, synthesized once
  const { stack, vpc, secret, master, database } = fixture();
  const events = new RotationEvents(stack, 'Events');
  const rotation = new DatabaseSecretRotation(stack, 'Rotation', {
    secret,
    strategy: 'alternating-users',
    masterSecret: master,
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    target: database,
    port: 5433,
    schedule: { cron: 'cron(0 4 ? * SUN *)', window: Duration.hours(4) },
    events,
  });
  const template = Template.fromStack(stack);

  it('deploys the database function on the current Node.js runtime, ARM64, JSON logs, with the strategy', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
      Environment: {
        Variables: Match.objectLike({
          ROTATION_KIND: 'database',
          ROTATION_STRATEGY: 'alternating-users',
          // the RDS CAs ship inside the bundle; nothing is read from the runtime's file system
          NODE_EXTRA_CA_CERTS: Match.absent(),
          EVENT_BUS_NAME: Match.anyValue(),
        }),
      },
      VpcConfig: Match.anyValue(),
    });
  });

  it('schedules the rotation with the cron expression and window', () => {
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: { Ref: logicalId(stack, secret) },
      RotationRules: { ScheduleExpression: 'cron(0 4 ? * SUN *)', Duration: '4h' },
      RotateImmediatelyOnUpdate: true,
    });
  });

  it("lets Secrets Manager invoke the function only for this account's secret", () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'secretsmanager.amazonaws.com',
    });
  });

  it('grants the rotation actions on the one secret and read on the master secret, by exact ARN', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: Array<Record<string, unknown>> } } }).Properties
          .PolicyDocument.Statement,
    );
    const onSecret = statements.filter(
      (s) => JSON.stringify(s.Resource) === JSON.stringify({ Ref: logicalId(stack, secret) }),
    );
    const actions = onSecret.flatMap((s) => [s.Action].flat());
    for (const action of [
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ]) {
      expect(actions).toContain(action);
    }
    const onMaster = statements.filter(
      (s) => JSON.stringify(s.Resource) === JSON.stringify({ Ref: logicalId(stack, master) }),
    );
    expect(onMaster.flatMap((s) => [s.Action].flat())).toEqual(
      expect.arrayContaining(['secretsmanager:GetSecretValue']),
    );
    const wildcard = statements.filter((s) => s.Resource === '*');
    // GetRandomPassword and the network interfaces of a function in a VPC: IAM accepts only '*' for both
    expect(wildcard.flatMap((s) => [s.Action].flat()).sort()).toEqual([
      'ec2:AssignPrivateIpAddresses',
      'ec2:CreateNetworkInterface',
      'ec2:DeleteNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:UnassignPrivateIpAddresses',
      'secretsmanager:GetRandomPassword',
    ]);
    expect(statements.some((s) => [s.Action].flat().includes('events:PutEvents'))).toBe(true);
  });

  it('opens the database port, and only that port, to the function', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 5433,
      ToPort: 5433,
      GroupId: { 'Fn::GetAtt': [logicalId(stack, database), 'GroupId'] },
    });
    expect(rotation.connections.securityGroups.length).toBe(1);
  });
});

describe('DatabaseSecretRotation with the RDS master strategy', () => {
  it('may call ModifyDBCluster on the one cluster and needs no VPC', () => {
    const { stack, secret } = fixture();
    new DatabaseSecretRotation(stack, 'MasterRotation', {
      secret,
      strategy: 'rds-master',
      rdsMaster: { type: 'cluster', identifier: 'orders' },
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['rds:ModifyDBCluster', 'rds:DescribeDBClusters'],
            Resource: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':cluster:orders$')])] },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 840,
      Environment: { Variables: Match.objectLike({ ROTATION_STRATEGY: 'rds-master' }) },
    });
  });
});

describe('DatabaseSecretRotation validation', () => {
  it.each([
    [{ strategy: 'alternating-users' }, 'masterSecret is required'],
    [{ strategy: 'rds-master' }, 'rdsMaster is required'],
    [
      { strategy: 'single-user', rdsMaster: { type: 'instance', identifier: 'db' } },
      "rdsMaster is only for the 'rds-master' strategy",
    ],
    [{ strategy: 'single-user', port: 70000 }, 'port must be from 1 to 65535'],
    [{ strategy: 'both' }, 'strategy must be one of'],
  ])('rejects %j with a message naming the prop', (props, message) => {
    const { stack, secret } = fixture();
    expect(() => new DatabaseSecretRotation(stack, 'R', { secret, ...(props as object) } as never)).toThrow(
      message,
    );
  });
});

describe('DatabaseSecretRotation, single-user', () => {
  const policyActions = (template: Template): string[] =>
    Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
      (
        (policy as { Properties: { PolicyDocument: { Statement: Array<{ Action: string | string[] }> } } })
          .Properties.PolicyDocument.Statement ?? []
      ).flatMap((statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action])),
    );

  it('may list the versions of its secret, to find the password that logs in after an outside write', () => {
    // GIVEN
    const { stack, vpc, secret, database } = fixture();
    // WHEN
    new DatabaseSecretRotation(stack, 'Rotation', {
      secret,
      strategy: 'single-user',
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      target: database,
      port: 5432,
    });
    // THEN
    expect(policyActions(Template.fromStack(stack))).toContain('secretsmanager:ListSecretVersionIds');
  });

  it('does not give ListSecretVersionIds to the alternating-users strategy, which does not call it', () => {
    // GIVEN
    const { stack, vpc, secret, master, database } = fixture();
    // WHEN
    new DatabaseSecretRotation(stack, 'Rotation', {
      secret,
      strategy: 'alternating-users',
      masterSecret: master,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      target: database,
      port: 5432,
    });
    // THEN
    expect(policyActions(Template.fromStack(stack))).not.toContain('secretsmanager:ListSecretVersionIds');
  });
});
