import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { RotationAlarms, RotationEvents } from '../../infra/constructs';

describe('RotationEvents', () => {
  const app = new App();
  const stack = new Stack(app, 'Events');
  const secret = new secretsmanager.Secret(stack, 'Secret');
  const events = new RotationEvents(stack, 'Events', { eventBusName: 'rotations' });
  events.subscribe(new targets.SqsQueue(new sqs.Queue(stack, 'One')), { secret });
  events.subscribe(new targets.SqsQueue(new sqs.Queue(stack, 'All')));
  const template = Template.fromStack(stack);

  it('creates the bus and forwards Secrets Manager rotation and label events to it', () => {
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'rotations' });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.secretsmanager'],
        'detail-type': ['AWS Service Event via CloudTrail', 'AWS API Call via CloudTrail'],
        detail: {
          eventName: Match.arrayWith(['RotationSucceeded', 'RotationFailed', 'UpdateSecretVersionStage']),
        },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('EventsBus'), 'Arn'] } })],
    });
    // the native event has no detail.eventName: a rule of its own
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.secretsmanager'],
        'detail-type': ['Secret Label Updated'],
        detail: Match.absent(),
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('EventsBus'), 'Arn'] } })],
    });
  });

  it("subscribes a consumer to one secret's rotations, and another to all", () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: Match.anyValue(),
      EventPattern: {
        source: ['secret-rotation', 'aws.secretsmanager'],
        $or: Match.arrayWith([{ resources: [{ Ref: Match.stringLikeRegexp('Secret') }] }]),
      },
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: Match.anyValue(),
      EventPattern: { source: ['secret-rotation', 'aws.secretsmanager'], resources: Match.absent() },
    });
  });
});

describe('RotationAlarms', () => {
  const app = new App();
  const stack = new Stack(app, 'Alarms');
  const secret = new secretsmanager.Secret(stack, 'Secret');
  const fn = new lambda.Function(stack, 'Fn', {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler=async()=>{}'),
  });
  const alarms = new RotationAlarms(stack, 'Alarms').watch({
    secret,
    rotationFunction: fn,
    kind: 'database',
    strategy: 'single-user',
  });
  const template = Template.fromStack(stack);

  it('alarms on function errors, our RotationFailed metric and overdue rotation, into the topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'RotationFailed',
      Namespace: 'SecretRotation',
      Dimensions: Match.arrayWith([
        { Name: 'Kind', Value: 'database' },
        { Name: 'Strategy', Value: 'single-user' },
      ]),
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmsTopic') }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'RotationOverdue',
      TreatMissingData: 'missing',
      InsufficientDataActions: [{ Ref: Match.stringLikeRegexp('AlarmsTopic') }],
      Statistic: 'Maximum',
    });
    expect(alarms.alarms.length).toBe(4);
  });

  it("sends Secrets Manager's RotationFailed events to the topic", () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.secretsmanager'],
        detail: { eventName: ['RotationFailed', 'RotationAbandoned'] },
      },
      Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('AlarmsTopic') } })],
    });
  });

  it('runs the overdue check every 30 minutes with DescribeSecret on the watched secret only', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(30 minutes)' });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 'secretsmanager:DescribeSecret',
            Effect: 'Allow',
            Resource: [{ Ref: Match.stringLikeRegexp('Secret') }],
          },
        ]),
      },
    });
  });

  it('builds a dashboard', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('refuses to synthesize without a watched rotation', () => {
    const app2 = new App();
    const stack2 = new Stack(app2, 'Empty');
    new RotationAlarms(stack2, 'Alarms');
    expect(() => app2.synth()).toThrow('call watch() for at least one rotation');
  });
});
