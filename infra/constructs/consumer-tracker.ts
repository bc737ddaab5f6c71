import * as path from 'node:path';
import { Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from './rotation-alarms';
import { FUNCTIONS_DIR, RotationFunction } from './rotation-function';

/** `source` and `detail-type` of the reports our client's `VersionReporter` puts on the rotation bus. */
export const CONSUMER_REPORT_PATTERN = {
  source: 'secret-rotation.consumers',
  detailType: 'Secret Version In Use',
} as const;

/** The `service` dimension of the tracker's metrics. */
export const CONSUMER_TRACKER_SERVICE = 'consumer-tracker';

/** Props of the consumer tracker. */
export interface ConsumerTrackerProps {
  /** The rotation bus (`RotationEvents.eventBus`): consumers report on it, our `Secret Rotated` events arrive on it. */
  readonly eventBus: events.IEventBus;
  /**
   * A consumer still on an older version this long after a rotation is lagging: counted in
   * `ConsumersOnOldVersion` and alarmed.
   * @default Duration.minutes(15)
   */
  readonly lagBound?: Duration;
  /**
   * The window of "% of consumers updated within the window" on the dashboard.
   * @default Duration.minutes(1)
   */
  readonly updateWindow?: Duration;
  /**
   * How often the sweep publishes the lag metrics and forgets silent consumers.
   * @default Duration.minutes(1)
   */
  readonly sweepInterval?: Duration;
  /** Where the alarms go. @default - no action (the alarms are still created) */
  readonly topic?: sns.ITopic;
  /** A dashboard to add the consumer widgets to (e.g. `RotationAlarms.dashboard`). @default - none */
  readonly dashboard?: cloudwatch.Dashboard;
  /**
   * What happens to the table when the stack is deleted. Its content is soft state that heartbeats rebuild
   * within one interval.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Knows which consumers use which version of each secret: a DynamoDB table (on demand, TTL forgetting
 * consumers that stopped reporting), a small function fed by two rules on the rotation bus (consumer reports,
 * our `Secret Rotated` events) and a schedule (the sweep), a `ConsumersOnOldVersion` alarm, and dashboard
 * widgets for update latency (p50/p99 from finishSecret to a consumer's first use) and the percentage of
 * consumers updated within the window.
 */
export class ConsumerTracker extends Construct {
  readonly table: dynamodb.Table;
  readonly trackerFunction: RotationFunction;
  /** Fires when a live consumer is still on an older version `lagBound` after a rotation. */
  readonly laggingAlarm: cloudwatch.Alarm;
  /** Fires when the tracker function fails. */
  readonly errorsAlarm: cloudwatch.Alarm;
  readonly eventBus: events.IEventBus;

  constructor(scope: Construct, id: string, props: ConsumerTrackerProps) {
    super(scope, id);
    const lagBound = props.lagBound ?? Duration.minutes(15);
    const updateWindow = props.updateWindow ?? Duration.minutes(1);
    const sweepInterval = props.sweepInterval ?? Duration.minutes(1);
    checkRange('lagBound', lagBound, 60, 30 * 86_400);
    checkRange('updateWindow', updateWindow, 1, 86_400);
    checkRange('sweepInterval', sweepInterval, 60, 86_400);
    this.eventBus = props.eventBus;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
    Validations.of(this.table).acknowledge({
      id: 'AwsSolutions::AwsSolutions-DDB3',
      reason:
        'Point-in-time recovery is not needed: the table holds soft state (versions in use, heartbeats) that consumers rebuild within one heartbeat interval',
    });

    this.trackerFunction = new RotationFunction(this, 'Function', {
      entry: path.join(FUNCTIONS_DIR, 'consumer-tracker', 'handler.ts'),
      timeout: Duration.seconds(60),
      memorySize: 256,
      serviceName: CONSUMER_TRACKER_SERVICE,
      environment: {
        TRACKER_TABLE: this.table.tableName,
        LAG_BOUND_SECONDS: String(lagBound.toSeconds()),
        UPDATE_WINDOW_SECONDS: String(updateWindow.toSeconds()),
      },
    });
    const fn = this.trackerFunction.function;
    this.table.grantReadWriteData(fn);

    const target = new targets.LambdaFunction(fn, { retryAttempts: 2, maxEventAge: Duration.hours(1) });
    new events.Rule(this, 'ConsumerReports', {
      description: 'Consumer version reports (client VersionReporter) to the consumer tracker',
      eventBus: props.eventBus,
      eventPattern: {
        source: [CONSUMER_REPORT_PATTERN.source],
        detailType: [CONSUMER_REPORT_PATTERN.detailType],
      },
      targets: [target],
    });
    new events.Rule(this, 'Rotations', {
      description: 'When each version became current, for the consumer update latency',
      eventBus: props.eventBus,
      eventPattern: { source: ['secret-rotation'], detailType: ['Secret Rotated'] },
      targets: [target],
    });
    new events.Rule(this, 'Sweep', {
      description: 'Lagging consumers and update windows, every interval',
      schedule: events.Schedule.rate(sweepInterval),
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 0 })],
    });

    this.laggingAlarm = new cloudwatch.Alarm(this, 'LaggingConsumers', {
      metric: this.metric('ConsumersOnOldVersion', 'Maximum', sweepInterval),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `A consumer is still on an older secret version ${lagBound.toHumanString()} after a rotation (secret-rotation consumers <secret> shows which)`,
    });
    this.errorsAlarm = new cloudwatch.Alarm(this, 'TrackerErrors', {
      metric: fn.metricErrors({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'The consumer tracker failed',
    });
    if (props.topic) {
      for (const alarm of [this.laggingAlarm, this.errorsAlarm])
        alarm.addAlarmAction(new actions.SnsAction(props.topic));
    }
    if (props.dashboard) this.addWidgets(props.dashboard, updateWindow);
  }

  /** A metric of the tracker (namespace `SecretRotation`, dimension `service` = `consumer-tracker`). */
  metric(metricName: string, statistic: string, period = Duration.minutes(5)): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { service: CONSUMER_TRACKER_SERVICE },
      statistic,
      period,
    });
  }

  /**
   * Lets a consumer report the versions it uses: `events:PutEvents` on the rotation bus, only with the
   * consumer reports' source, so a consumer cannot forge rotation events.
   */
  grantReport(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['events:PutEvents'],
      resourceArns: [this.eventBus.eventBusArn],
      conditions: { StringEquals: { 'events:source': CONSUMER_REPORT_PATTERN.source } },
    });
  }

  /** Lets a principal (the CLI's role, a rotation function) read the table. */
  grantReadConsumers(grantee: iam.IGrantable): iam.Grant {
    return this.table.grantReadData(grantee);
  }

  /**
   * Lets a rotation function (`rotation.rotationFunction` of the rotation constructs) count the consumers still
   * on the previous version: read access to the table and `CONSUMER_TRACKER_TABLE` in its environment.
   */
  informRotation(rotationFunction: lambda.IFunction): void {
    if (!(rotationFunction instanceof lambda.Function)) {
      throw new Error(
        `ConsumerTracker.informRotation needs a function of this app (to set CONSUMER_TRACKER_TABLE), got an imported one: ${rotationFunction.node.path}`,
      );
    }
    this.grantReadConsumers(rotationFunction);
    rotationFunction.addEnvironment('CONSUMER_TRACKER_TABLE', this.table.tableName);
  }

  /** Adds the consumer widgets to a dashboard. */
  addWidgets(dashboard: cloudwatch.Dashboard, updateWindow: Duration): void {
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Consumer update latency, finishSecret to first use (ms)',
        left: [
          this.metric('ConsumerUpdateLatency', 'p50', Duration.hours(1)).with({ label: 'p50' }),
          this.metric('ConsumerUpdateLatency', 'p99', Duration.hours(1)).with({ label: 'p99' }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: `Consumers updated within ${updateWindow.toHumanString()} of a rotation (%)`,
        left: [
          this.metric('ConsumersUpdatedWithinWindow', 'Minimum', Duration.hours(1)).with({
            label: 'worst rotation',
          }),
        ],
        leftYAxis: { min: 0, max: 100 },
      }),
      new cloudwatch.GraphWidget({
        title: 'Live consumers, and consumers on an older version past the lag bound',
        left: [this.metric('ConsumersLive', 'Maximum')],
        right: [this.metric('ConsumersOnOldVersion', 'Maximum')],
      }),
    );
  }
}

function checkRange(prop: string, value: Duration, minSeconds: number, maxSeconds: number): void {
  if (Token.isUnresolved(value)) return;
  const seconds = value.toSeconds();
  if (seconds < minSeconds || seconds > maxSeconds) {
    throw new Error(
      `ConsumerTrackerProps.${prop} must be between ${minSeconds} and ${maxSeconds} seconds, got ${value.toHumanString()}`,
    );
  }
}
