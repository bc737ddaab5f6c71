import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** The `source` of our functions' events. */
export const ROTATION_EVENT_SOURCE = 'secret-rotation';

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
      new events.Rule(this, 'ForwardSecretsManagerEvents', {
        description: "Forwards Secrets Manager's rotation and label events to the rotation bus",
        eventPattern: {
          source: ['aws.secretsmanager'],
          detailType: [
            'Secret Label Updated',
            'AWS Service Event via CloudTrail',
            'AWS API Call via CloudTrail',
          ],
          detail: {
            eventName: [
              'RotationStarted',
              'RotationSucceeded',
              'RotationFailed',
              'RotationAbandoned',
              'UpdateSecretVersionStage',
              'PutSecretValue',
              'RotateSecret',
            ],
          },
        },
        targets: [new targets.EventBus(this.eventBus)],
      });
    }
  }

  /** The event pattern of a subscription. */
  pattern(options: SubscribeOptions = {}): events.EventPattern {
    const sources = [
      ROTATION_EVENT_SOURCE,
      ...(options.includeSecretsManagerEvents === false ? [] : ['aws.secretsmanager']),
    ];
    return {
      source: sources,
      ...(options.secret ? { resources: [options.secret.secretArn] } : {}),
    };
  }

  /** Subscribes a target (a Lambda, an SQS queue, ...) to rotation events. */
  subscribe(target: events.IRuleTarget, options: SubscribeOptions = {}): events.Rule {
    this.#subscriptions++;
    return new events.Rule(this, `Subscription${this.#subscriptions}`, {
      eventBus: this.eventBus,
      eventPattern: this.pattern(options),
      targets: [target],
    });
  }
}
