import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** The `source` of our functions' events. */
export const ROTATION_EVENT_SOURCE = 'secret-rotation';

/** The CloudTrail event names the forwarding rule passes on (rotation events and label-changing API calls). */
export const SECRETS_MANAGER_EVENT_NAMES = [
  'RotationStarted',
  'RotationSucceeded',
  'RotationFailed',
  'RotationAbandoned',
  'UpdateSecretVersionStage',
  'PutSecretValue',
  'RotateSecret',
] as const;

/** Props of the rotation events. */
export interface RotationEventsProps {
  /**
   * Name of the bus.
   * @default - generated
   */
  readonly eventBusName?: string;
  /**
   * Also forward Secrets Manager's own events (label updates, CloudTrail rotation events) from the
   * default bus to this one, so consumers subscribe in one place.
   * @default true
   */
  readonly forwardSecretsManagerEvents?: boolean;
}

/** Which rotations a subscription receives. */
export interface SubscribeOptions {
  /** Only this secret's rotations. @default - every secret's */
  readonly secret?: secretsmanager.ISecret;
  /** Also Secrets Manager's own events. @default true */
  readonly includeSecretsManagerEvents?: boolean;
}

/**
 * The bus our rotation functions publish to, Secrets Manager's own rotation events forwarded to it, and a
 * way to subscribe consumers (a Lambda, an SQS queue, any EventBridge target) to one or all secrets.
 */
export class RotationEvents extends Construct {
  readonly eventBus: events.EventBus;
  #subscriptions = 0;

  constructor(scope: Construct, id: string, props: RotationEventsProps = {}) {
    super(scope, id);
    this.eventBus = new events.EventBus(this, 'Bus', {
      ...(props.eventBusName ? { eventBusName: props.eventBusName } : {}),
    });
    if (props.forwardSecretsManagerEvents ?? true) {
      // Two rules: the native `Secret Label Updated` event has no detail.eventName (its detail is
      // {name, labelUpdated, versionId}), so a pattern requiring one would never match it.
      new events.Rule(this, 'ForwardSecretsManagerEvents', {
        description:
          "Forwards Secrets Manager's CloudTrail rotation and label-change events to the rotation bus",
        eventPattern: {
          source: ['aws.secretsmanager'],
          detailType: ['AWS Service Event via CloudTrail', 'AWS API Call via CloudTrail'],
          detail: { eventName: [...SECRETS_MANAGER_EVENT_NAMES] },
        },
        targets: [new targets.EventBus(this.eventBus)],
      });
      new events.Rule(this, 'ForwardSecretLabelUpdated', {
        description: "Forwards Secrets Manager's native Secret Label Updated events to the rotation bus",
        eventPattern: { source: ['aws.secretsmanager'], detailType: ['Secret Label Updated'] },
        targets: [new targets.EventBus(this.eventBus)],
      });
    }
  }

  /**
   * The event pattern of a subscription, as CloudFormation takes it. For one secret it matches the secret
   * wherever each event carries it: top-level `resources` (our events, `Secret Label Updated`),
   * `detail.additionalEventData.SecretId` (CloudTrail rotation events, whose `resources` is empty) and
   * `detail.requestParameters.secretId` (CloudTrail API calls). A secret imported by name (a partial ARN)
   * is matched by prefix `<partial ARN>-`, which also matches a secret whose name continues with `-`
   * (`orders-app` for `orders`): give the full ARN for an exact match.
   */
  pattern(options: SubscribeOptions = {}): Record<string, unknown> {
    const sources = [
      ROTATION_EVENT_SOURCE,
      ...(options.includeSecretsManagerEvents === false ? [] : ['aws.secretsmanager']),
    ];
    if (!options.secret) return { source: sources };
    const secret = options.secret;
    const match = secret.secretFullArn ? [secret.secretFullArn] : [{ prefix: `${secret.secretArn}-` }];
    return {
      source: sources,
      $or: [
        { resources: match },
        { detail: { additionalEventData: { SecretId: match } } },
        { detail: { requestParameters: { secretId: match } } },
      ],
    };
  }

  /** Subscribes a target (a Lambda, an SQS queue, ...) to rotation events. */
  subscribe(target: events.IRuleTarget, options: SubscribeOptions = {}): events.Rule {
    this.#subscriptions++;
    const rule = new events.Rule(this, `Subscription${this.#subscriptions}`, {
      eventBus: this.eventBus,
      // replaced below: events.EventPattern has no `$or`
      eventPattern: { source: [ROTATION_EVENT_SOURCE] },
      targets: [target],
    });
    (rule.node.defaultChild as events.CfnRule).addPropertyOverride('EventPattern', this.pattern(options));
    return rule;
  }
}
