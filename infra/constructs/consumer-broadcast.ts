import { Names, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { RotationEvents } from './rotation-events';

/** Environment variables `ConsumerBroadcast.environment` sets for a consumer. */
export const CONSUMER_BROADCAST_ENV = {
  topicArn: 'ROTATION_BROADCAST_TOPIC_ARN',
  queueNamePrefix: 'ROTATION_BROADCAST_QUEUE_PREFIX',
} as const;

/** Props of a consumer broadcast. */
export interface ConsumerBroadcastProps {
  /** The rotation events bus whose events are broadcast. */
  readonly events: RotationEvents;
  /**
   * Only these secrets' events are broadcast.
   * @default - every secret's
   */
  readonly secrets?: readonly secretsmanager.ISecret[];
  /** Also Secrets Manager's own events (label updates, CloudTrail rotation events). @default true */
  readonly includeSecretsManagerEvents?: boolean;
  /**
   * Prefix of the per-replica queues the client library creates (1 to 40 letters, digits, `-` or `_`). The
   * consumer's role may create, read and delete only queues with this prefix, so it must not be shared with
   * other queues of the account.
   * @default - `rotation-` and a hash of this construct's path
   */
  readonly queueNamePrefix?: string;
}

/**
 * A broadcast of rotation events to every replica of a service (and every warm Lambda environment): a rule on
 * the rotation bus sends the events to an SNS topic, and each replica's `RotationBroadcastSubscriber` (client
 * library) creates its own SQS queue under `queueNamePrefix`, subscribes it, and deletes it on shutdown;
 * replicas that die without shutting down are swept by the others. Nothing here scales with the number of
 * replicas, and idle queues cost nothing.
 *
 * Give each consumer's role `grantConsume(role)` and its environment `environment` (topic ARN, queue prefix).
 * The topic is not encrypted with a KMS key: EventBridge could only publish to it with a customer managed key
 * whose policy admits events.amazonaws.com, and the events carry ids and version ids, never a value.
 */
export class ConsumerBroadcast extends Construct {
  readonly topic: sns.Topic;
  /** The rules on the rotation bus that feed the topic (one a secret, or one for every secret). */
  readonly rules: readonly events.Rule[];
  readonly queueNamePrefix: string;

  constructor(scope: Construct, id: string, props: ConsumerBroadcastProps) {
    super(scope, id);
    const prefix = props.queueNamePrefix ?? `rotation-${Names.uniqueId(this).slice(-8).toLowerCase()}-`;
    if (!Token.isUnresolved(prefix) && !/^[A-Za-z0-9_-]{1,40}$/.test(prefix)) {
      throw new Error(
        `ConsumerBroadcast: queueNamePrefix must be 1 to 40 letters, digits, - or _ (it starts SQS queue names); got '${prefix}'`,
      );
    }
    this.queueNamePrefix = prefix;
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Secret rotation broadcast',
      enforceSSL: true,
    });
    Validations.of(this.topic).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SNS2',
      reason:
        'EventBridge publishes only to topics without SSE or with a customer managed key that admits it; the events carry ids and version ids, never a value',
    });
    const include = props.includeSecretsManagerEvents === false ? { includeSecretsManagerEvents: false } : {};
    const target = new targets.SnsTopic(this.topic);
    // One subscription a secret, so that the bus's per-secret pattern (both event shapes) applies.
    const secrets = props.secrets ?? [];
    this.rules =
      secrets.length > 0
        ? secrets.map((secret) => props.events.subscribe(target, { secret, ...include }))
        : [props.events.subscribe(target, include)];
  }

  /** The variables a consumer reads to subscribe: the topic ARN and the queue name prefix. */
  get environment(): Record<string, string> {
    return {
      [CONSUMER_BROADCAST_ENV.topicArn]: this.topic.topicArn,
      [CONSUMER_BROADCAST_ENV.queueNamePrefix]: this.queueNamePrefix,
    };
  }

  /**
   * Lets `grantee` (a service's task role, a Lambda consumer's role) run a `RotationBroadcastSubscriber`:
   * manage and read queues under `queueNamePrefix` only, subscribe them (and nothing else) to this topic,
   * and remove those subscriptions. `sqs:ListQueues` has no resource-level permission; the sweep lists by
   * prefix.
   */
  grantConsume(grantee: iam.IGrantable): iam.Grant {
    const stack = Stack.of(this);
    const queues = stack.formatArn({ service: 'sqs', resource: `${this.queueNamePrefix}*` });
    const queueGrant = iam.Grant.addToPrincipal({
      grantee,
      actions: [
        'sqs:CreateQueue',
        'sqs:DeleteQueue',
        'sqs:GetQueueAttributes',
        'sqs:SetQueueAttributes',
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:TagQueue',
        'sqs:ListQueueTags',
      ],
      resourceArns: [queues],
    });
    iam.Grant.addToPrincipal({ grantee, actions: ['sqs:ListQueues'], resourceArns: ['*'] });
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['sns:Subscribe'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'sns:Protocol': 'sqs' },
          StringLike: { 'sns:Endpoint': queues },
        },
      }),
    );
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['sns:Unsubscribe'],
      // the subscription ARNs of this topic (`<topic ARN>:<id>`), and the topic for authorizers that check it
      resourceArns: [this.topic.topicArn, `${this.topic.topicArn}:*`],
    });
    if (Construct.isConstruct(grantee.grantPrincipal)) {
      const shown = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<${pseudo}>` : value);
      const topicId = stack.getLogicalId(this.topic.node.defaultChild as sns.CfnTopic);
      const evidence: Array<[string, string]> = [
        [
          `arn:<AWS::Partition>:sqs:${shown(stack.region, 'AWS::Region')}:${shown(stack.account, 'AWS::AccountId')}:${this.queueNamePrefix}*`,
          `replica queues are created at run time, each named ${this.queueNamePrefix}<replica>; only those are granted`,
        ],
        ['*', 'sqs:ListQueues has no resource-level permission; the sweep lists by prefix'],
        [
          `<${topicId}>:*`,
          "sns:Unsubscribe on this topic's subscriptions, which replicas create at run time",
        ],
      ];
      for (const [resource, reason] of evidence) {
        Validations.of(grantee.grantPrincipal).acknowledge({
          id: `AwsSolutions::AwsSolutions-IAM5[Resource::${resource}]`,
          reason,
        });
      }
    }
    return queueGrant;
  }
}
