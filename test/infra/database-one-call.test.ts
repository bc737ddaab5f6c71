import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { DatabaseSecretRotation } from '../../infra/constructs';

// Issue 13: the common case in one call. VPC, subnets, the engine's port, the security group rule and the
// secret come from the database itself.

const ENV = { account: '123456789012', region: 'eu-west-1' };

function fixture() {
  const stack = new Stack(new App(), 'Test', { env: ENV });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  return { stack, vpc };
}

describe('DatabaseSecretRotation from the database alone', () => {
  it.each([
    [
      'a DatabaseInstance',
      (stack: Stack, vpc: ec2.IVpc) =>
        new rds.DatabaseInstance(stack, 'Db', {
          engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16_4 }),
          vpc,
          vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        }),
    ],
    [
      'a DatabaseCluster',
      (stack: Stack, vpc: ec2.IVpc) =>
        new rds.DatabaseCluster(stack, 'Db', {
          engine: rds.DatabaseClusterEngine.auroraPostgres({
            version: rds.AuroraPostgresEngineVersion.VER_16_4,
          }),
          writer: rds.ClusterInstance.serverlessV2('Writer'),
          vpc,
          vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        }),
    ],
    [
      'a ServerlessCluster',
      (stack: Stack, vpc: ec2.IVpc) =>
        new rds.ServerlessCluster(stack, 'Db', {
          engine: rds.DatabaseClusterEngine.AURORA_MYSQL,
          vpc,
          vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        }),
    ],
  ])('rotates the secret of %s with its VPC, subnets, port and security group', (_name, makeDatabase) => {
    // GIVEN
    const { stack, vpc } = fixture();
    const database = makeDatabase(stack, vpc);
    // WHEN
    const rotation = new DatabaseSecretRotation(stack, 'Rotation', { database, strategy: 'single-user' });
    // THEN
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: { Ref: Match.stringLikeRegexp('^DbSecretAttachment') },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: {
        SubnetIds: vpc.isolatedSubnets.map((s) => ({
          Ref: stack.getLogicalId(s.node.defaultChild as never),
        })),
        SecurityGroupIds: Match.anyValue(),
      },
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Db'), 'Endpoint.Port'] },
      GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DbSecurityGroup'), 'GroupId'] },
    });
    expect(rotation.secret).toBe((database as { secret?: unknown }).secret);
  });

  it("takes the database's secret as the master secret for alternating users, and its identifier for rds-master", () => {
    const { stack, vpc } = fixture();
    const cluster = new rds.DatabaseCluster(stack, 'Db', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_4 }),
      writer: rds.ClusterInstance.serverlessV2('Writer'),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    });
    const app = new rds.DatabaseSecret(stack, 'AppSecret', {
      username: 'app',
      masterSecret: cluster.secret,
    }).attach(cluster);
    new DatabaseSecretRotation(stack, 'App', {
      database: cluster,
      secret: app,
      strategy: 'alternating-users',
    });
    new DatabaseSecretRotation(stack, 'Master', { database: cluster, strategy: 'rds-master' });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'secretsmanager:GetSecretValue',
            Resource: { Ref: Match.stringLikeRegexp('^DbSecretAttachment') },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['rds:ModifyDBCluster', 'rds:DescribeDBClusters'],
            Resource: {
              'Fn::Join': [
                '',
                Match.arrayWith([
                  ':rds:eu-west-1:123456789012:cluster:',
                  { Ref: Match.stringLikeRegexp('^Db') },
                ]),
              ],
            },
          }),
        ]),
      },
    });
  });

  it("refuses alternating users without the application user's secret, naming the prop", () => {
    const { stack, vpc } = fixture();
    const instance = new rds.DatabaseInstance(stack, 'Db', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16_4 }),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    });
    expect(
      () =>
        new DatabaseSecretRotation(stack, 'Rotation', { database: instance, strategy: 'alternating-users' }),
    ).toThrow("DatabaseSecretRotationProps.secret is required for the 'alternating-users' strategy");
  });
});

describe('our rotation plugged into secret.addRotationSchedule()', () => {
  it('makes one schedule with the scoped invoke permission, and no unscoped one from CDK', () => {
    // GIVEN
    const { stack, vpc } = fixture();
    const instance = new rds.DatabaseInstance(stack, 'Db', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16_4 }),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    });
    // WHEN the user schedules it the aws-cdk-lib way
    const rotation = new DatabaseSecretRotation(stack, 'Rotation', {
      database: instance,
      strategy: 'single-user',
      createSchedule: false,
    });
    instance.secret?.addRotationSchedule('Rotation', { rotationLambda: rotation.rotationLambda });
    // THEN
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission'));
    expect(permissions).toHaveLength(1);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'secretsmanager.amazonaws.com',
      SourceAccount: '123456789012',
      SourceArn: { Ref: Match.stringLikeRegexp('^DbSecretAttachment') },
    });
    expect(rotation.rotationSchedule).toBeUndefined();
  });
});
