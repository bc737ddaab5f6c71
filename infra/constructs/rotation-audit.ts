import * as path from 'node:path';
import { Duration, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  AUDIT_SOURCE,
  AUDITED_API_CALLS,
  AuditDetailType,
  DEFAULT_AUDIT_LOG_GROUP,
} from '../../functions/audit/records';
import { EVENT_SOURCE } from '../../functions/rotation/constants';
import { FUNCTIONS_DIR, RotationFunction } from './rotation-function';

/** Our metrics' namespace (the functions', the checks', the audit metric filters'). */
const NAMESPACE = 'SecretRotation';

/** Props of the audit trail. */
export interface RotationAuditProps {
  /**
   * The bus our functions and the CLI publish to (`RotationEvents.eventBus`, which also receives Secrets
   * Manager's own events). Secrets Manager's CloudTrail events are read from the account's default bus too.
   * @default - the default bus only
   */
  readonly eventBus?: events.IEventBus;
  /**
   * How long audit records are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly retention?: logs.RetentionDays;
  /**
   * Name of the audit log group, which `secret-rotation audit` reads.
   * @default '/secret-rotation/audit'
   */
  readonly logGroupName?: string;
  /**
   * Also keep the events in an EventBridge archive for this long, to replay them to a new consumer.
   * @default - no archive
   */
  readonly archiveRetention?: Duration;
  /**
   * How often the completeness check runs; each run checks the period before the last 15 minutes.
   * @default Duration.hours(1)
   */
  readonly checkEvery?: Duration;
  /**
   * What happens to the audit log group when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * A dashboard to add the audit widgets to (e.g. `RotationAlarms.dashboard`): completeness, records
   * without a counterpart, rollbacks, approvals requested/denied/expired/bypassed, fleet rotations.
   * @default - none (`widgets()` returns them)
   */
  readonly dashboard?: cloudwatch.Dashboard;
}

/**
 * The audit trail of every rotation: our functions' events (started, rotated, failed with the step and
 * error class, follow-up work such as a revoked key), the operators' events (approval requested, approved,
 * denied, expired, bypassed, rolled back, fleet rotation, each with the caller's IAM identity and reason),
 * and Secrets Manager's CloudTrail events (RotationStarted/Succeeded/Failed/Abandoned, and the RotateSecret,
 * CancelRotateSecret, UpdateSecretVersionStage, PutSecretValue and UpdateSecret calls with who made them),
 * delivered by EventBridge rules to one log group with a retention. A scheduled check compares Secrets
 * Manager's rotation events with our records both ways and publishes `AuditCompleteness`.
 *
 * CloudTrail's API-call events reach EventBridge only when a trail records management events in the region.
 */
export class RotationAudit extends Construct {
  readonly logGroup: logs.LogGroup;
  readonly completenessCheck: RotationFunction;
  readonly archive?: events.Archive;

  constructor(scope: Construct, id: string, props: RotationAuditProps = {}) {
    super(scope, id);
    if (props.checkEvery && (props.checkEvery.toMinutes() < 5 || props.checkEvery.toHours() > 24)) {
      throw new Error(
        `RotationAuditProps.checkEvery must be from 5 minutes to 24 hours, got ${props.checkEvery.toHumanString()}`,
      );
    }
    if (props.archiveRetention && props.archiveRetention.toHours() < 24) {
      throw new Error(
        `RotationAuditProps.archiveRetention must be at least 1 day, got ${props.archiveRetention.toHumanString()}`,
      );
    }
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: props.logGroupName ?? DEFAULT_AUDIT_LOG_GROUP,
      retention: props.retention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    // The target installs the log group's resource policy for EventBridge at deploy, with the SDK the
    // provider's runtime has (no download at deploy).
    const toLog = new targets.CloudWatchLogGroup(this.logGroup, { installLatestAwsSdk: false });
    const servicePattern: events.EventPattern = {
      source: ['aws.secretsmanager'],
      detailType: ['AWS Service Event via CloudTrail', 'AWS API Call via CloudTrail'],
      detail: {
        eventName: [
          'RotationStarted',
          'RotationSucceeded',
          'RotationFailed',
          'RotationAbandoned',
          ...AUDITED_API_CALLS,
        ],
      },
    };
    const rules = [
      new events.Rule(this, 'SecretsManagerEvents', { eventPattern: servicePattern, targets: [toLog] }),
    ];
    if (props.eventBus) {
      // RotationEvents forwards Secrets Manager's events to this bus as well; the log would hold them twice,
      // so only ours and the operators' are taken from it.
      rules.push(
        new events.Rule(this, 'OurEvents', {
          eventBus: props.eventBus,
          eventPattern: { source: [EVENT_SOURCE, AUDIT_SOURCE] },
          targets: [toLog],
        }),
      );
      if (props.archiveRetention) {
        this.archive = new events.Archive(this, 'Archive', {
          sourceEventBus: props.eventBus,
          eventPattern: { source: [EVENT_SOURCE, AUDIT_SOURCE, 'aws.secretsmanager'] },
          retention: props.archiveRetention,
          description: 'Secret rotation audit events, for replay',
        });
      }
    }
    // aws-cdk-lib names the custom resource that writes the log group's resource policy after the rule.
    for (const rule of rules) {
      const policy = Stack.of(this).node.tryFindChild(`EventsLogGroupPolicy${Names.nodeUniqueId(rule.node)}`);
      if (policy) {
        Validations.of(policy).acknowledge({
          id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
          reason:
            "logs:PutResourcePolicy and logs:DeleteResourcePolicy have no resource-level permissions: aws-cdk-lib's deploy-time call that lets EventBridge write to the audit log group",
        });
      }
    }
    const filters: ReadonlyArray<readonly [string, string]> = [
      ['Rollbacks', AuditDetailType.ROLLED_BACK],
      ['ApprovalsRequested', AuditDetailType.APPROVAL_REQUESTED],
      ['ApprovalsExpired', AuditDetailType.EXPIRED],
      ['ApprovalsDenied', AuditDetailType.DENIED],
      ['ApprovalBypasses', AuditDetailType.BYPASSED],
      ['FleetRotations', AuditDetailType.FLEET_ROTATION],
    ];
    for (const [metricName, detailType] of filters) {
      new logs.MetricFilter(this, `${metricName}Filter`, {
        logGroup: this.logGroup,
        metricNamespace: NAMESPACE,
        metricName,
        filterPattern: logs.FilterPattern.literal(`"${detailType}"`),
        metricValue: '1',
        defaultValue: 0,
      });
    }
    this.completenessCheck = new RotationFunction(this, 'CompletenessCheck', {
      entry: path.join(FUNCTIONS_DIR, 'audit', 'handler.ts'),
      environment: {
        AUDIT_LOG_GROUP: this.logGroup.logGroupName,
        AUDIT_WINDOW_SECONDS: String((props.checkEvery ?? Duration.hours(1)).toSeconds()),
        AUDIT_LAG_SECONDS: '900',
      },
      timeout: Duration.minutes(5),
    });
    // Reading the trail is all the check does: FilterLogEvents on this one log group.
    this.logGroup.grant(this.completenessCheck.function, 'logs:FilterLogEvents');
    new events.Rule(this, 'CheckSchedule', {
      schedule: events.Schedule.rate(props.checkEvery ?? Duration.hours(1)),
      targets: [new targets.LambdaFunction(this.completenessCheck.function)],
    });
    if (props.dashboard) props.dashboard.addWidgets(...this.widgets());
  }

  /** `AuditCompleteness`: percentage of rotation events found on both sides in the last check. */
  metricCompleteness(props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.#metric('AuditCompleteness', { statistic: 'Minimum', ...props });
  }

  /** `AuditRecordsMissing`: rotation events with no counterpart in the last check. */
  metricRecordsMissing(props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.#metric('AuditRecordsMissing', { statistic: 'Maximum', ...props });
  }

  /** Rollbacks recorded (`secret-rotation rollback`), from the audit log. */
  metricRollbacks(props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: NAMESPACE,
      metricName: 'Rollbacks',
      statistic: 'Sum',
      ...props,
    });
  }

  /** Dashboard widgets of the audit trail, to add to the rotation dashboard (`dashboard.addWidgets(...)`). */
  widgets(): cloudwatch.IWidget[] {
    const fromLog = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: NAMESPACE,
        metricName,
        statistic: 'Sum',
        period: Duration.days(1),
        label: metricName,
      });
    return [
      new cloudwatch.GraphWidget({
        title: 'Audit completeness (%) and records without a counterpart',
        left: [this.metricCompleteness({ period: Duration.hours(1) })],
        right: [this.metricRecordsMissing({ period: Duration.hours(1) })],
        leftYAxis: { min: 0, max: 100 },
      }),
      new cloudwatch.GraphWidget({
        title: 'Approvals requested, denied, expired, bypassed (audit log, per day)',
        left: ['ApprovalsRequested', 'ApprovalsDenied', 'ApprovalsExpired', 'ApprovalBypasses'].map(fromLog),
      }),
      new cloudwatch.GraphWidget({
        title: 'Rollbacks and secrets started by fleet rotations (audit log, per day)',
        left: ['Rollbacks', 'FleetRotations'].map(fromLog),
      }),
    ];
  }

  #metric(metricName: string, props: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: NAMESPACE,
      metricName,
      dimensionsMap: { service: 'secret-rotation' },
      period: Duration.hours(1),
      ...props,
    });
  }
}
