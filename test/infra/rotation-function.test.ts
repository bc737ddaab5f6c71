import * as path from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import {
  DatabaseSecretRotation,
  FUNCTIONS_DIR,
  RotationEvents,
  RotationFunction,
} from '../../infra/constructs';

const OVERDUE_ENTRY = path.join(FUNCTIONS_DIR, 'overdue', 'handler.ts');

function stack(): Stack {
  return new Stack(new App(), 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
}

describe('RotationFunction', () => {
  it('runs on Node.js 24, ARM64, with JSON logs and the service name, without parsing the source map at cold start', () => {
    // GIVEN
    const s = stack();
    // WHEN
    new RotationFunction(s, 'Fn', { entry: OVERDUE_ENTRY, environment: { EXTRA: '1' } });
    // THEN
    Template.fromStack(s).hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Timeout: 60,
      MemorySize: 256,
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
      Environment: {
        Variables: {
          NODE_OPTIONS: Match.absent(),
          POWERTOOLS_SERVICE_NAME: 'secret-rotation',
          EXTRA: '1',
        },
      },
    });
  });

  it('keeps its logs for a year by default, in a log group it owns', () => {
    const s = stack();
    new RotationFunction(s, 'Fn', { entry: OVERDUE_ENTRY });
    const template = Template.fromStack(s);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
    template.hasResource('AWS::Logs::LogGroup', { DeletionPolicy: 'Retain' });
  });

  it('takes a shorter log retention and a longer timeout', () => {
    const s = stack();
    new RotationFunction(s, 'Fn', {
      entry: OVERDUE_ENTRY,
      logRetention: logs.RetentionDays.ONE_MONTH,
      timeout: Duration.minutes(14),
    });
    const template = Template.fromStack(s);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 840 });
  });

  it('refuses a timeout Lambda cannot run, naming the prop', () => {
    expect(
      () => new RotationFunction(stack(), 'Fn', { entry: OVERDUE_ENTRY, timeout: Duration.minutes(16) }),
    ).toThrow('RotationFunctionProps.timeout must be at most 15 minutes');
  });
});

describe('VPC endpoints for subnets without NAT', () => {
  it('creates Secrets Manager and EventBridge interface endpoints the function may reach', () => {
    // GIVEN a VPC with isolated subnets only
    const s = stack();
    const vpc = new ec2.Vpc(s, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    // WHEN
    new DatabaseSecretRotation(s, 'Rotation', {
      secret: new secretsmanager.Secret(s, 'App'),
      strategy: 'single-user',
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      events: new RotationEvents(s, 'Events'),
      createVpcEndpoints: true,
    });
    // THEN
    const template = Template.fromStack(s);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 2);
    for (const service of ['secretsmanager', 'events']) {
      template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Interface',
        PrivateDnsEnabled: true,
        ServiceName: `com.amazonaws.eu-west-1.${service}`,
      });
    }
    // the endpoints admit HTTPS from the function's security group
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      SourceSecurityGroupId: Match.anyValue(),
    });
  });

  it('creates no endpoint unless asked', () => {
    const s = stack();
    const vpc = new ec2.Vpc(s, 'Vpc', { maxAzs: 2, natGateways: 0 });
    new DatabaseSecretRotation(s, 'Rotation', {
      secret: new secretsmanager.Secret(s, 'App'),
      strategy: 'single-user',
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    });
    Template.fromStack(s).resourceCountIs('AWS::EC2::VPCEndpoint', 0);
  });
});
