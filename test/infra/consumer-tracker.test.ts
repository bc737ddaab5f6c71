import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConsumerTracker, RotationEvents } from '../../infra/constructs';

function fixture(options: { nag?: boolean } = {}) {
  const app = new App();
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'Tracker', { env: { account: '123456789012', region: 'eu-west-1' } });
  const events = new RotationEvents(stack, 'Events', { eventBusName: 'rotations' });
  const topic = new sns.Topic(stack, 'Alarms', { enforceSSL: true });
  Validations.of(topic).acknowledge({ id: 'AwsSolutions::AwsSolutions-SNS2', reason: 'Test topic, no data' });
  const dashboard = new cloudwatch.Dashboard(stack, 'Dashboard');
  return { app, stack, events, topic, dashboard };
}

describe('ConsumerTracker', () => {
  // GIVEN
  const { app, stack, events, topic, dashboard } = fixture();
  const tracker = new ConsumerTracker(stack, 'Tracker', {
    eventBus: events.eventBus,
    lagBound: Duration.minutes(10),
    topic,
    dashboard,
  });
  const consumerRole = new iam.Role(stack, 'Consumer', {
    assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
  });
  tracker.grantReport(consumerRole);
  // WHEN
  const template = Template.fromStack(stack);

  it('keeps consumers in an on-demand table whose TTL forgets the silent ones', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    });
  });

  it('routes consumer reports and our Secret Rotated events from the rotation bus to the tracker, and sweeps every minute', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: Match.anyValue(),
      EventPattern: { source: ['secret-rotation.consumers'], 'detail-type': ['Secret Version In Use'] },
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: Match.anyValue(),
      EventPattern: { source: ['secret-rotation'], 'detail-type': ['Secret Rotated'] },
    });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ LAG_BOUND_SECONDS: '600', UPDATE_WINDOW_SECONDS: '60' }) },
    });
  });

  it('alarms on a consumer still on an old version after the lag bound, to the topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ConsumersOnOldVersion',
      Namespace: 'SecretRotation',
      Dimensions: [{ Name: 'service', Value: 'consumer-tracker' }],
      Statistic: 'Maximum',
      Threshold: 1,
      AlarmActions: [{ Ref: Match.stringLikeRegexp('Alarms') }],
    });
  });

  it('lets a consumer put only consumer reports on the rotation bus', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p).includes('Consumer'),
    );
    expect(JSON.stringify(policies)).toContain('"events:source":"secret-rotation.consumers"');
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('Consumer') }],
      PolicyDocument: {
        Statement: [
          {
            Action: 'events:PutEvents',
            Effect: 'Allow',
            Condition: { StringEquals: { 'events:source': 'secret-rotation.consumers' } },
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('EventsBus'), 'Arn'] },
          },
        ],
      },
    });
  });

  it('shows update latency p50/p99 and the percentage updated within the window on the dashboard', () => {
    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(body).toContain('ConsumerUpdateLatency');
    expect(body).toMatch(/\\"stat\\":\\"p50\\"/);
    expect(body).toMatch(/\\"stat\\":\\"p99\\"/);
    expect(body).toContain('ConsumersUpdatedWithinWindow');
  });

  it("passes cdk-nag's AwsSolutions pack", () => {
    expect(() => app.synth()).not.toThrow();
  });

  it('lets a rotation function count the consumers on the previous version: read access to the table and CONSUMER_TRACKER_TABLE', () => {
    // GIVEN
    const { stack: other, events: bus } = fixture({ nag: false });
    const t = new ConsumerTracker(other, 'T', { eventBus: bus.eventBus });
    const rotation = new lambda.Function(other, 'Rotation', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => {}'),
    });
    // WHEN
    t.informRotation(rotation);
    // THEN
    const template = Template.fromStack(other);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Environment: { Variables: { CONSUMER_TRACKER_TABLE: { Ref: Match.stringLikeRegexp('TTable') } } },
    });
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p).includes('RotationServiceRole'))
      .flatMap(
        (p) =>
          (p as { Properties: { PolicyDocument: { Statement: Array<{ Action: string[] }> } } }).Properties
            .PolicyDocument.Statement,
      );
    const actions = statements.flatMap((st) => [st.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:Query', 'dynamodb:GetItem']));
    expect(actions.some((a) => /Put|Update|Delete|Write/.test(a))).toBe(false);
  });

  it('refuses a lag bound under a minute, naming the prop', () => {
    const { stack: other, events: bus } = fixture();
    expect(
      () => new ConsumerTracker(other, 'T', { eventBus: bus.eventBus, lagBound: Duration.seconds(5) }),
    ).toThrow(/ConsumerTrackerProps.lagBound must be between 60 and 2592000 seconds, got 5 seconds/);
  });
});
