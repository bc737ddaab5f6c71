import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConsumerBroadcast } from '../../infra/constructs/consumer-broadcast';
import { RotationEvents } from '../../infra/constructs/rotation-events';

function setUp(props: { queueNamePrefix?: string; secrets?: number } = {}) {
  const app = new App();
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const events = new RotationEvents(stack, 'Events');
  const secrets = Array.from(
    { length: props.secrets ?? 0 },
    (_, i) => new secretsmanager.Secret(stack, `S${i}`),
  );
  const broadcast = new ConsumerBroadcast(stack, 'Broadcast', {
    events,
    ...(secrets.length ? { secrets } : {}),
    ...(props.queueNamePrefix ? { queueNamePrefix: props.queueNamePrefix } : {}),
  });
  const role = new iam.Role(stack, 'ServiceRole', {
    assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
  });
  return { app, stack, broadcast, role, secrets };
}

describe('ConsumerBroadcast', () => {
  it('sends the rotation events of each listed secret to an SNS topic that refuses plain HTTP', () => {
    // GIVEN / WHEN
    const { stack } = setUp({ secrets: 2 });
    // THEN
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    const rules = template.findResources('AWS::Events::Rule', {
      Properties: {
        Targets: Match.arrayWith([
          Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('BroadcastTopic') } }),
        ]),
      },
    });
    expect(Object.keys(rules)).toHaveLength(2);
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Action: 'sns:Publish', Principal: { Service: 'events.amazonaws.com' } }),
        ]),
      },
    });
  });

  it("grants a consumer's role queues under its prefix only, Subscribe to this topic for those queues only, and Unsubscribe on this topic", () => {
    const { stack, broadcast, role } = setUp({ queueNamePrefix: 'orders-rotation-' });
    broadcast.grantConsume(role);
    const template = Template.fromStack(stack);
    const queues = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':sqs:eu-west-1:123456789012:orders-rotation-*']],
    };
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('ServiceRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith([
              'sqs:CreateQueue',
              'sqs:DeleteQueue',
              'sqs:ReceiveMessage',
              'sqs:TagQueue',
            ]),
            Resource: queues,
          }),
          Match.objectLike({ Action: 'sqs:ListQueues', Resource: '*' }),
          Match.objectLike({
            Action: 'sns:Subscribe',
            Resource: { Ref: Match.stringLikeRegexp('BroadcastTopic') },
            Condition: { StringEquals: { 'sns:Protocol': 'sqs' }, StringLike: { 'sns:Endpoint': queues } },
          }),
          Match.objectLike({ Action: 'sns:Unsubscribe' }),
        ]),
      },
    });
    // nothing beyond the prefix and the topic, and no sqs:* or sns:*
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).not.toMatch(/"(sqs|sns):\*"/);
    expect(policies).not.toMatch(/sqs:SendMessage|sns:Publish/);
    expect(broadcast.environment).toEqual({
      ROTATION_BROADCAST_TOPIC_ARN: expect.any(String),
      ROTATION_BROADCAST_QUEUE_PREFIX: 'orders-rotation-',
    });
  });

  it('refuses a queue name prefix that SQS would refuse, naming the prop and the value', () => {
    expect(() => setUp({ queueNamePrefix: 'orders.rotation' })).toThrow(
      /queueNamePrefix .* got 'orders.rotation'/,
    );
    expect(() => setUp({ queueNamePrefix: 'x'.repeat(41) })).toThrow(/queueNamePrefix/);
  });

  it('derives a default prefix that is a valid, stable queue name start', () => {
    const a = setUp().broadcast.queueNamePrefix;
    const b = setUp().broadcast.queueNamePrefix;
    expect(a).toMatch(/^rotation-[a-z0-9]{1,16}-$/);
    expect(a).toBe(b);
  });

  it("passes cdk-nag's AwsSolutions pack, the acknowledgements carrying their reason", () => {
    const { app, broadcast, role, secrets } = setUp({ secrets: 1 });
    broadcast.grantConsume(role);
    for (const secret of secrets) {
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions::AwsSolutions-SMG4',
        reason: 'a test secret, not rotated here',
      });
    }
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });
});
