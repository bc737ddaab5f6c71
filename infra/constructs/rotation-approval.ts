import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ApprovalTag, FourEyesBy } from '../../functions/approval/approvals';
import {
  APPROVAL_EXPIRED_METRIC,
  APPROVAL_METRIC_DIMENSION,
  APPROVAL_OVERDUE_METRIC,
  APPROVALS_WAITING_METRIC,
} from '../../functions/approval/request';
import { DEFAULT_METRICS_NAMESPACE } from '../../functions/rotation/constants';
import { FUNCTIONS_DIR, RotationFunction } from './rotation-function';
import { secretResourceOf, tagAuditBus } from './secret-tags';

/** Props of a rotation that waits for a person's approval. */
export interface RotationApprovalProps {
  /** The secret, with its rotation function already configured (one of the rotation constructs). */
  readonly secret: secretsmanager.ISecret;
  /** When a rotation is due: the schedule raises an approval request instead of rotating. */
  readonly schedule: events.Schedule;
  /**
   * How long a request waits before it expires (and the overdue alarm fires), from 5 minutes to 30 days.
   * @default Duration.hours(24)
   */
  readonly expiresAfter?: Duration;
  /**
   * The identity that requested cannot approve its own request.
   * @default true
   */
  readonly fourEyes?: boolean;
  /**
   * What four-eyes compares. `'person'`: an assumed-role session is its role and session name; it holds when
   * the session name is the person's (IAM Identity Center sets it to the user name; a trust policy can pin
   * `sts:RoleSessionName`), not when whoever calls `sts:AssumeRole` picks it (a second session under another
   * name would approve the first's request). `'role'`: the role only; the approver must come through
   * another role than the requester (or be another IAM user).
   * @default 'person'
   */
  readonly fourEyesBy?: FourEyesBy;
  /**
   * Where approvers are notified (subscribe e-mail, chat or paging to it).
   * @default - a new topic encrypted with a new key
   */
  readonly approversTopic?: sns.ITopic;
  /**
   * Where the overdue alarm (a request expired or denied) goes.
   * @default - no alarm action
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * The bus audit events go to (`RotationEvents.eventBus`; `RotationAudit` records them).
   * @default - no audit events beyond the table
   */
  readonly eventBus?: events.IEventBus;
  /**
   * How long decided requests are kept in the table (DynamoDB TTL).
   * @default Duration.days(400)
   */
  readonly retention?: Duration;
  /**
   * A dashboard to add the approval widget to (e.g. `RotationAlarms.dashboard`): requests waiting, expired,
   * and the overdue signal the alarm watches.
   * @default - none (`widgets()` returns it)
   */
  readonly dashboard?: cloudwatch.Dashboard;
}

/**
 * Makes a secret's rotation wait for a person: Secrets Manager's automatic rotation is turned off for the
 * secret, and on `schedule` the approval function raises a request in a DynamoDB table and notifies the
 * approvers on SNS. `secret-rotation approve` (as the approver's own AWS identity, with a reason) starts the
 * rotation at once; `deny` records a refusal. Requests expire after `expiresAfter`; an expired or denied
 * request raises the `ApprovalOverdue` alarm and an event. The secret is tagged so that the CLI finds the
 * table, the topic and the bus.
 *
 * Approve, deny, `--emergency` and `request-approval` go through the decider's function URL (AuthType
 * `AWS_IAM`): Lambda authenticates the SigV4-signed call and the decider records and compares (four-eyes)
 * the identity Lambda hands it, `requestContext.authorizer.iam.userArn`. The decider alone writes the table,
 * calls RotateSecret and publishes the audit events; approvers hold `lambda:InvokeFunctionUrl` on it and
 * nothing else (`grantApprove`), so no approver can write a decision under another identity.
 */
export class RotationApproval extends Construct {
  readonly table: dynamodb.Table;
  readonly approversTopic: sns.ITopic;
  readonly approvalFunction: RotationFunction;
  /** The decider: approve, deny, bypass and request as the caller Lambda authenticated. */
  readonly deciderFunction: RotationFunction;
  /** The decider's URL (AuthType AWS_IAM); the secret's `secret-rotation:approval-url` tag holds it. */
  readonly decisionUrl: lambda.FunctionUrl;
  readonly overdueAlarm: cloudwatch.Alarm;
  readonly #secret: secretsmanager.ISecret;
  /** The approvers' topic's key, when this construct made both. */
  readonly #topicKey?: kms.Key;

  constructor(scope: Construct, id: string, props: RotationApprovalProps) {
    super(scope, id);
    const expiresAfter = props.expiresAfter ?? Duration.hours(24);
    if (expiresAfter.toSeconds() < 300 || expiresAfter.toSeconds() > 30 * 86400) {
      throw new Error(
        `RotationApprovalProps.expiresAfter must be from 5 minutes to 30 days, got ${expiresAfter.toHumanString()}`,
      );
    }
    const retention = props.retention ?? Duration.days(400);
    if (retention.toSeconds() < 86400) {
      throw new Error(
        `RotationApprovalProps.retention must be at least 1 day, got ${retention.toHumanString()}`,
      );
    }
    const fourEyes = props.fourEyes ?? true;
    const fourEyesBy = props.fourEyesBy ?? FourEyesBy.PERSON;
    if (fourEyesBy !== FourEyesBy.PERSON && fourEyesBy !== FourEyesBy.ROLE) {
      throw new Error(
        `RotationApprovalProps.fourEyesBy must be 'person' or 'role', got '${String(fourEyesBy)}'`,
      );
    }
    this.#secret = props.secret;
    this.table = new dynamodb.Table(this, 'Requests', {
      partitionKey: { name: 'secretArn', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'requestId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (props.approversTopic) this.approversTopic = props.approversTopic;
    else {
      this.#topicKey = new kms.Key(this, 'ApproversKey', {
        enableKeyRotation: true,
        description: "Approvers' notifications of secret rotations waiting for approval",
      });
      this.approversTopic = new sns.Topic(this, 'Approvers', { masterKey: this.#topicKey, enforceSSL: true });
    }
    // The rules both functions apply (functions/approval/request.ts loadApprovalRules).
    const rules: Record<string, string> = {
      APPROVAL_TABLE: this.table.tableName,
      APPROVAL_TOPIC_ARN: this.approversTopic.topicArn,
      APPROVAL_EXPIRES_SECONDS: String(expiresAfter.toSeconds()),
      APPROVAL_RETENTION_DAYS: String(Math.ceil(retention.toDays({ integral: false }))),
      FOUR_EYES: String(fourEyes),
      FOUR_EYES_BY: fourEyesBy,
      ...(props.eventBus ? { EVENT_BUS_NAME: props.eventBus.eventBusName } : {}),
    };
    this.approvalFunction = new RotationFunction(this, 'Function', {
      entry: path.join(FUNCTIONS_DIR, 'approval', 'handler.ts'),
      environment: { SECRET_ARN: props.secret.secretArn, ...rules },
    });
    const fn = this.approvalFunction.function;
    // What the function calls (the IAM replay records it): Query the secret's requests, PutItem a new one,
    // UpdateItem an expiry. GetItem is the decider's (a refused decision reads the request back), not this one's.
    this.table.grant(fn, 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query');
    this.#grantPublish(fn);
    props.eventBus?.grantPutEventsTo(fn);
    // The decider. No SECRET_ARN: the secret is tagged with this function's URL, so a reference to the secret
    // in the function (its environment, or the role's default policy that the function waits for) would be a
    // cycle. It takes the secret from each call and checks that the secret names this table; the statement
    // on the secret is a policy of its own, which the function does not depend on.
    this.deciderFunction = new RotationFunction(this, 'Decider', {
      entry: path.join(FUNCTIONS_DIR, 'approval', 'decide-handler.ts'),
      environment: rules,
    });
    const decider = this.deciderFunction.function;
    // What the decider calls (the IAM replay records it): Query pending requests, GetItem after a refused
    // write, PutItem a request or a bypass, UpdateItem a decision; SNS for a person's request; the events.
    this.table.grant(
      decider,
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:Query',
      'dynamodb:GetItem',
    );
    this.#grantPublish(decider);
    props.eventBus?.grantPutEventsTo(decider);
    const role = decider.role;
    if (!role) throw new Error('RotationApproval: the decider has no role');
    new iam.Policy(this, 'DeciderSecret', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          actions: ['secretsmanager:DescribeSecret', 'secretsmanager:RotateSecret'],
          resources: [props.secret.secretArn],
        }),
      ],
    });
    this.decisionUrl = decider.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    new events.Rule(this, 'Due', {
      schedule: props.schedule,
      targets: [
        new targets.LambdaFunction(fn, { event: events.RuleTargetInput.fromObject({ action: 'request' }) }),
      ],
    });
    new events.Rule(this, 'Sweep', {
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [
        new targets.LambdaFunction(fn, { event: events.RuleTargetInput.fromObject({ action: 'sweep' }) }),
      ],
    });
    this.overdueAlarm = new cloudwatch.Alarm(this, 'Overdue', {
      alarmDescription: `The rotation of ${props.secret.secretName} waits for approval and its last request expired or was denied`,
      metric: this.metric(APPROVAL_OVERDUE_METRIC, { statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    if (props.alarmTopic) this.overdueAlarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
    // The CLI finds everything from the secret's tags. A database's attached secret (`cluster.secret`) is a
    // SecretTargetAttachment: its tags would land on no AWS::SecretsManager::Secret, so tag the secret it wraps.
    const tagged = secretResourceOf(props.secret);
    Tags.of(tagged).add(ApprovalTag.REQUIRED, 'required');
    Tags.of(tagged).add(ApprovalTag.TABLE, this.table.tableName);
    Tags.of(tagged).add(ApprovalTag.TOPIC, this.approversTopic.topicArn);
    Tags.of(tagged).add(ApprovalTag.FOUR_EYES, String(fourEyes));
    Tags.of(tagged).add(ApprovalTag.FOUR_EYES_BY, fourEyesBy);
    Tags.of(tagged).add(ApprovalTag.EXPIRES_SECONDS, String(expiresAfter.toSeconds()));
    Tags.of(tagged).add(ApprovalTag.URL, this.decisionUrl.url);
    if (props.eventBus) tagAuditBus(props.secret, props.eventBus);
    RotationApproval.disableAutomaticRotation(props.secret);
    if (props.dashboard) props.dashboard.addWidgets(...this.widgets());
  }

  /**
   * One of the approval function's metrics, as it emits them (EMF): namespace `SecretRotation`, dimensions
   * `service` = `secret-rotation` and `secretArn` = this secret's ARN (the function's SECRET_ARN), published
   * by every run (the schedule's and the hourly sweep's).
   */
  metric(metricName: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: DEFAULT_METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { service: 'secret-rotation', [APPROVAL_METRIC_DIMENSION]: this.#secret.secretArn },
      period: Duration.hours(1),
      ...props,
    });
  }

  /** `ApprovalsWaiting`: pending requests at the last run. */
  metricApprovalsWaiting(props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.metric(APPROVALS_WAITING_METRIC, { statistic: 'Maximum', ...props });
  }

  /** The approval widget: requests waiting, and the expired and overdue signals (the alarm's). */
  widgets(): cloudwatch.IWidget[] {
    return [
      new cloudwatch.GraphWidget({
        title: `Approvals waiting, expired, overdue: ${this.#secret.secretName}`,
        left: [this.metricApprovalsWaiting({ label: 'ApprovalsWaiting' })],
        right: [
          this.metric(APPROVAL_EXPIRED_METRIC, { statistic: 'Maximum', label: 'ApprovalExpired' }),
          this.metric(APPROVAL_OVERDUE_METRIC, { statistic: 'Maximum', label: 'ApprovalOverdue' }),
        ],
        leftYAxis: { min: 0 },
        rightYAxis: { min: 0, max: 1 },
      }),
    ];
  }

  /**
   * Turns off Secrets Manager's own schedule for the secret (the rotation function stays configured, so
   * RotateSecret still works): an `AWS::SecretsManager::RotationSchedule` without `RotationRules` rotates
   * only when asked.
   */
  static disableAutomaticRotation(secret: secretsmanager.ISecret): void {
    // The schedule lives with the rotation construct (so that a database in one stack and its rotation in
    // another make no cycle), or under the secret for aws-cdk-lib's own addRotationSchedule: look everywhere.
    const stack = Stack.of(secret);
    const targets = (schedule: secretsmanager.CfnRotationSchedule): boolean =>
      schedule.secretId === secret.secretArn ||
      (Stack.of(schedule) === stack &&
        JSON.stringify(stack.resolve(schedule.secretId)) === JSON.stringify(stack.resolve(secret.secretArn)));
    const schedules = secret.node.root.node
      .findAll()
      .filter(
        (c): c is secretsmanager.CfnRotationSchedule =>
          c instanceof secretsmanager.CfnRotationSchedule && targets(c),
      );
    if (schedules.length === 0) {
      throw new Error(
        `RotationApprovalProps.secret: ${secret.node.path} has no rotation schedule yet; create the rotation construct first, then RotationApproval`,
      );
    }
    for (const schedule of schedules) {
      schedule.addPropertyDeletionOverride('RotationRules');
      schedule.addPropertyOverride('RotateImmediatelyOnUpdate', false);
    }
  }

  /**
   * Lets `grantee` approve, deny, bypass and request through the decider's URL, and nothing else: no table,
   * secret or topic access (the decider does those, as the identity Lambda authenticated).
   * `lambda:InvokeFunctionUrl` on the decider when its URL's auth type is `AWS_IAM`, and
   * `lambda:InvokeFunction` only when invoked through a function URL (`lambda:InvokedViaFunctionUrl`): new
   * function URLs need both since October 2025 (AWS Lambda Developer Guide, "Control access to Lambda function
   * URLs"), and without the condition a direct Invoke could hand the decider a forged request context.
   */
  grantApprove(grantee: iam.IGrantable): void {
    const decider = this.deciderFunction.function.functionArn;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunctionUrl'],
        resources: [decider],
        conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': lambda.FunctionUrlAuthType.AWS_IAM } },
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [decider],
        conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
      }),
    );
  }

  /**
   * sns:Publish on the approvers' topic and, for the topic this construct encrypts, the two KMS actions a
   * publisher to an encrypted topic needs (kms:GenerateDataKey, kms:Decrypt), through SNS, for this topic's
   * encryption context only, instead of aws-cdk-lib's `kms:GenerateDataKey*`.
   */
  #grantPublish(grantee: iam.IGrantable): void {
    if (!this.#topicKey) {
      this.approversTopic.grantPublish(grantee);
      return;
    }
    const stack = Stack.of(this);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.approversTopic.topicArn] }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [this.#topicKey.keyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `sns.${stack.region}.${stack.urlSuffix}`,
            'kms:EncryptionContext:aws:sns:topicArn': this.approversTopic.topicArn,
          },
        },
      }),
    );
  }
}
