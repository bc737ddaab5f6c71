import * as path from 'node:path';
import { Annotations, Duration, Lazy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { FUNCTIONS_DIR, RotationFunction } from './rotation-function';
import { secretArnForPolicies } from './schedule';

/** Our metrics' namespace and the service dimension the functions use. */
export const METRICS_NAMESPACE = 'SecretRotation';
export const SERVICE_NAME = 'secret-rotation';

/**
 * The `Kind` and `Strategy` dimensions our functions publish (`ROTATION_KIND`, `ROTATION_STRATEGY`): an
 * alarm on any other pair could never fire.
 */
export const ROTATION_STRATEGIES = {
  database: ['single-user', 'alternating-users', 'rds-master'],
  'api-key': ['api-gateway', 'http', 'self-issued'],
  jwt: ['jwks'],
} as const;
export type RotationKind = keyof typeof ROTATION_STRATEGIES;

/** A rotation to watch: a kind and one of its strategies. */
export type WatchedRotation = {
  [K in RotationKind]: {
    readonly secret: secretsmanager.ISecret;
    readonly rotationFunction: lambda.IFunction;
    /** `database`, `api-key`, `jwt`. */
    readonly kind: K;
    /** The strategy's name, e.g. `alternating-users`. */
    readonly strategy: (typeof ROTATION_STRATEGIES)[K][number];
  };
}[RotationKind];

/** How many secrets one scheduled event of the overdue check carries (EventBridge's input limit is 8 KB). */
const SECRETS_PER_CHECK_EVENT = 40;

/**
 * An SNS target whose topic-policy statement lets EventBridge publish for this rule only (`aws:SourceArn`),
 * where `targets.SnsTopic` would allow any rule of any account that can name the topic.
 */
class ScopedSnsTarget implements events.IRuleTarget {
  constructor(private readonly topic: sns.ITopic) {}

  bind(rule: events.IRule): events.RuleTargetConfig {
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EventBridgeRulePublish',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { ArnLike: { 'aws:SourceArn': rule.ruleArn } },
      }),
    );
    return { arn: this.topic.topicArn };
  }
}

/** Props of the rotation alarms. */
export interface RotationAlarmsProps {
  /** Where alarms go. @default - a new encrypted topic */
  readonly topic?: sns.ITopic;
  /**
   * A rotation is overdue when Secrets Manager's next rotation date is this far in the past.
   * @default Duration.hours(6)
   */
  readonly overdueMargin?: Duration;
  /**
   * Name of the dashboard.
   * @default - generated
   */
  readonly dashboardName?: string;
}

/**
 * Alarms to an SNS topic for failed and overdue rotations, and a dashboard of the SLIs. Failures are seen
 * three ways (the function's errors, our `RotationFailed` metric, Secrets Manager's `RotationFailed` event)
 * because each can be missing when another is not. Secrets Manager has no metric for a rotation that never
 * ran, so a small scheduled check (every 30 minutes) publishes `RotationOverdue` per secret; if the check
 * itself stops, the alarm turns INSUFFICIENT_DATA, which notifies the topic too. The topic's policy lets
 * CloudWatch publish for these alarms only, and EventBridge for the rule.
 */
export class RotationAlarms extends Construct {
  readonly topic: sns.ITopic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly overdueCheck: RotationFunction;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly #margin: Duration;
  readonly #watched: WatchedRotation[] = [];
  readonly #secretIds: string[] = [];
  readonly #describable: string[] = [];
  readonly #checkRules: events.Rule[] = [];

  constructor(scope: Construct, id: string, props: RotationAlarmsProps = {}) {
    super(scope, id);
    this.#margin = props.overdueMargin ?? Duration.hours(6);
    if (this.#margin.toSeconds() > 30 * 86400) {
      throw new Error(
        `RotationAlarmsProps.overdueMargin must be at most 30 days, got ${this.#margin.toHumanString()}`,
      );
    }
    if (props.topic) {
      this.topic = props.topic;
    } else {
      const key = new kms.Key(this, 'TopicKey', {
        enableKeyRotation: true,
        description: 'Rotation alarm topic',
      });
      key.grantEncryptDecrypt(new iam.ServicePrincipal('events.amazonaws.com'));
      key.grantEncryptDecrypt(new iam.ServicePrincipal('cloudwatch.amazonaws.com'));
      this.topic = new sns.Topic(this, 'Topic', {
        masterKey: key,
        enforceSSL: true,
        displayName: 'Secret rotation alarms',
      });
    }
    // A topic policy replaces SNS's default one: without this statement CloudWatch could not publish, and no
    // alarm would notify anyone. Scoped to this construct's alarms.
    const stack = Stack.of(this);
    const added = this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          ArnLike: { 'aws:SourceArn': Lazy.list({ produce: () => this.alarms.map((a) => a.alarmArn) }) },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    );
    if (!added.statementAdded) {
      Annotations.of(this).addWarningV2(
        'secret-rotation:alarm-topic-policy',
        'RotationAlarmsProps.topic is imported: its policy must allow cloudwatch.amazonaws.com to sns:Publish (and its KMS key to be used by it), or no alarm notifies anyone',
      );
    }
    new events.Rule(this, 'SecretsManagerRotationFailed', {
      description: "Secrets Manager's own RotationFailed and RotationAbandoned events",
      eventPattern: {
        source: ['aws.secretsmanager'],
        detailType: ['AWS Service Event via CloudTrail'],
        detail: { eventName: ['RotationFailed', 'RotationAbandoned'] },
      },
      targets: [new ScopedSnsTarget(this.topic)],
    });
    this.overdueCheck = new RotationFunction(this, 'OverdueCheck', {
      entry: path.join(FUNCTIONS_DIR, 'overdue', 'handler.ts'),
      timeout: Duration.seconds(60),
      environment: { OVERDUE_MARGIN_SECONDS: String(this.#margin.toSeconds()) },
    });
    // The secrets travel in the scheduled events, not in an environment variable (4 KB for all of them).
    this.overdueCheck.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:DescribeSecret'],
        resources: Lazy.list({ produce: () => this.#describable }),
      }),
    );
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      ...(props.dashboardName ? { dashboardName: props.dashboardName } : {}),
    });
    this.node.addValidation({
      validate: () =>
        this.#watched.length === 0 ? ['RotationAlarms: call watch() for at least one rotation'] : [],
    });
    this.alarms.push(
      this.#alarm(
        'OverdueCheckErrors',
        this.overdueCheck.function.metricErrors({ period: Duration.hours(1) }),
        'The overdue-rotation check failed',
      ),
    );
  }

  /** Watches one rotation: alarms on its function's errors, our failure metric, and overdue rotation. */
  watch(rotation: WatchedRotation): this {
    const strategies = ROTATION_STRATEGIES[rotation.kind] as readonly string[] | undefined;
    if (!strategies) {
      throw new Error(
        `RotationAlarms.watch: kind must be one of ${Object.keys(ROTATION_STRATEGIES).join(', ')}, got '${rotation.kind}'`,
      );
    }
    if (!strategies.includes(rotation.strategy)) {
      throw new Error(
        `RotationAlarms.watch: strategy of kind '${rotation.kind}' must be one of ${strategies.join(', ')}, got '${rotation.strategy}' (an alarm on it could never fire)`,
      );
    }
    const n = this.#watched.push(rotation);
    const dimensions = { service: SERVICE_NAME, Kind: rotation.kind, Strategy: rotation.strategy };
    this.alarms.push(
      this.#alarm(
        `FunctionErrors${n}`,
        rotation.rotationFunction.metricErrors({ period: Duration.minutes(5) }),
        'The rotation function failed',
      ),
      this.#alarm(
        `RotationFailed${n}`,
        new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: 'RotationFailed',
          dimensionsMap: dimensions,
          statistic: 'Sum',
          period: Duration.minutes(5),
        }),
        `A ${rotation.kind} rotation (${rotation.strategy}) step failed`,
      ),
    );
    const overdue = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: 'RotationOverdue',
      dimensionsMap: { service: SERVICE_NAME, SecretName: rotation.secret.secretName },
      statistic: 'Maximum',
      period: Duration.hours(1),
    });
    // The check runs every 30 minutes, so every hour has a datapoint while it works. Missing data keeps the
    // state (no ALARM right after deploy, no flapping on a late run); a check that stops turns the alarm to
    // INSUFFICIENT_DATA, which notifies too, as do the check's own errors.
    const overdueAlarm = this.#alarm(
      `Overdue${n}`,
      overdue,
      'A secret has not rotated on schedule (INSUFFICIENT_DATA: the overdue check has stopped reporting)',
      cloudwatch.TreatMissingData.MISSING,
    );
    overdueAlarm.addInsufficientDataAction(new actions.SnsAction(this.topic));
    this.alarms.push(overdueAlarm);
    this.#secretIds.push(rotation.secret.secretArn);
    this.#describable.push(secretArnForPolicies(rotation.secret));
    this.#scheduleChecks();
    this.#addWidgets(rotation, dimensions, overdue);
    return this;
  }

  /** One schedule rule per group of secrets, each sending its group in the event (EventBridge's 8 KB input). */
  #scheduleChecks(): void {
    const groups = Math.ceil(this.#secretIds.length / SECRETS_PER_CHECK_EVENT);
    while (this.#checkRules.length < groups) {
      const i = this.#checkRules.length;
      this.#checkRules.push(
        new events.Rule(this, i === 0 ? 'OverdueSchedule' : `OverdueSchedule${i + 1}`, {
          schedule: events.Schedule.rate(Duration.minutes(30)),
          targets: [
            new targets.LambdaFunction(this.overdueCheck.function, {
              event: events.RuleTargetInput.fromObject({
                SecretIds: Lazy.list({
                  produce: () =>
                    this.#secretIds.slice(i * SECRETS_PER_CHECK_EVENT, (i + 1) * SECRETS_PER_CHECK_EVENT),
                }),
              }),
            }),
          ],
        }),
      );
    }
  }

  #alarm(
    id: string,
    metric: cloudwatch.IMetric,
    description: string,
    treatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
  ) {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    return alarm;
  }

  #addWidgets(
    rotation: WatchedRotation,
    dimensions: Record<string, string>,
    overdue: cloudwatch.Metric,
  ): void {
    const metric = (metricName: string, statistic: string, extra: Record<string, string> = {}) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { ...dimensions, ...extra },
        statistic,
        period: Duration.days(1),
      });
    const succeeded = metric('RotationSucceeded', 'Sum');
    const failed = metric('RotationFailed', 'Sum');
    const title = `${rotation.kind} / ${rotation.strategy}`;
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `${title}: success rate (%)`,
        left: [
          new cloudwatch.MathExpression({
            expression: '100 * s / (s + f)',
            usingMetrics: { s: succeeded, f: failed },
            label: 'success rate',
            period: Duration.days(1),
          }),
        ],
      }),
      new cloudwatch.GraphWidget({ title: `${title}: rotations and failures`, left: [succeeded, failed] }),
      new cloudwatch.GraphWidget({
        title: `${title}: step duration p99 (ms)`,
        left: ['createSecret', 'setSecret', 'testSecret', 'finishSecret'].map((step) =>
          metric('StepDuration', 'p99', { Step: step }).with({ label: step, period: Duration.hours(1) }),
        ),
      }),
      new cloudwatch.GraphWidget({
        title: `${title}: time since last rotation (s) and overdue`,
        left: [
          new cloudwatch.Metric({
            namespace: METRICS_NAMESPACE,
            metricName: 'SecondsSinceLastRotation',
            dimensionsMap: { service: SERVICE_NAME, SecretName: rotation.secret.secretName },
            statistic: 'Maximum',
            period: Duration.hours(1),
          }),
        ],
        right: [overdue],
      }),
      new cloudwatch.GraphWidget({
        // ThrottledRequests: one value per step invocation (0 included), attempts the SDK retried counted too.
        title: `${title}: throttled requests to AWS during rotations`,
        left: [
          metric('ThrottledRequests', 'Sum').with({ label: 'throttled attempts', period: Duration.hours(1) }),
        ],
      }),
    );
    if (rotation.kind === 'api-key') {
      // RevocationLatency: per superseded key revoked, from the creation of the version that superseded it.
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: `${title}: time from new version to revocation of the old key (ms)`,
          left: [
            metric('RevocationLatency', 'p50').with({ label: 'p50' }),
            metric('RevocationLatency', 'Maximum').with({ label: 'maximum' }),
          ],
        }),
      );
    }
  }
}
