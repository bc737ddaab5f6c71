import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RotationAudit } from '../../infra/constructs/rotation-audit';
import { RotationEvents } from '../../infra/constructs/rotation-events';

describe('RotationAudit', () => {
  const app = new App();
  const stack = new Stack(app, 'Audit');
  const bus = new RotationEvents(stack, 'Events', { eventBusName: 'rotations' });
  const audit = new RotationAudit(stack, 'Audit', {
    eventBus: bus.eventBus,
    retention: logs.RetentionDays.FIVE_YEARS,
    archiveRetention: Duration.days(400),
  });
  const template = Template.fromStack(stack);

  it('keeps the trail in one log group with the configured retention, retained when the stack goes', () => {
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { LogGroupName: '/secret-rotation/audit', RetentionInDays: 1827 },
      DeletionPolicy: 'Retain',
    });
    expect(audit.logGroup).toBeDefined();
  });

  it("sends our functions' and the operators' events from the bus, and Secrets Manager's CloudTrail events from the default bus", () => {
    const toLog = [Match.objectLike({ Arn: Match.anyValue() })];
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: Match.stringLikeRegexp('EventsBus') },
      EventPattern: { source: ['secret-rotation', 'secret-rotation.operations'] },
      Targets: toLog,
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: Match.absent(),
      EventPattern: {
        source: ['aws.secretsmanager'],
        'detail-type': ['AWS Service Event via CloudTrail', 'AWS API Call via CloudTrail'],
        detail: {
          eventName: Match.arrayWith([
            'RotationSucceeded',
            'RotationFailed',
            'RotateSecret',
            'UpdateSecretVersionStage',
          ]),
        },
      },
      Targets: toLog,
    });
  });

  it('archives the events for replay when asked', () => {
    template.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 400 });
  });

  it('runs the completeness check hourly with FilterLogEvents on the audit log group only', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ AUDIT_WINDOW_SECONDS: '3600', AUDIT_LAG_SECONDS: '900' }),
      },
    });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
    const policies = template.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap(
      (p) =>
        (
          p as {
            Properties: { PolicyDocument: { Statement: Array<{ Action: unknown; Resource: unknown }> } };
          }
        ).Properties.PolicyDocument.Statement,
    );
    const read = statements.find((s) => s.Action === 'logs:FilterLogEvents');
    // The log group's ARN, with and without the ':*' of its streams: nothing else
    expect(read?.Resource).toHaveLength(2);
    expect(
      JSON.stringify(read?.Resource).match(/"Ref":"AuditLogs[0-9A-F]+"|"AuditLogs[0-9A-F]+","Arn"/g),
    ).toHaveLength(2);
  });

  it('turns rollbacks and approval outcomes in the trail into metrics', () => {
    for (const name of ['Rollbacks', 'ApprovalsExpired', 'ApprovalBypasses', 'FleetRotations']) {
      template.hasResourceProperties('AWS::Logs::MetricFilter', {
        MetricTransformations: [Match.objectLike({ MetricName: name, MetricNamespace: 'SecretRotation' })],
      });
    }
    expect(audit.widgets()).toHaveLength(3);
  });

  it('adds its widgets to the dashboard it is given', () => {
    const other = new Stack(new App(), 'WithDashboard');
    const dashboard = new cloudwatch.Dashboard(other, 'Dashboard');
    new RotationAudit(other, 'Audit', { dashboard });
    const body = JSON.stringify(Template.fromStack(other).toJSON());
    for (const name of [
      'AuditCompleteness',
      'AuditRecordsMissing',
      'Rollbacks',
      'FleetRotations',
      'ApprovalsDenied',
    ])
      expect(body).toContain(`\\"${name}\\"`);
  });

  it('rejects a check schedule under 5 minutes and an archive under a day, naming the prop', () => {
    const other = new Stack(new App(), 'Bad');
    expect(() => new RotationAudit(other, 'A', { checkEvery: Duration.minutes(1) })).toThrow(
      'RotationAuditProps.checkEvery must be from 5 minutes to 24 hours, got 1 minute',
    );
    expect(() => new RotationAudit(other, 'B', { archiveRetention: Duration.hours(2) })).toThrow(
      'RotationAuditProps.archiveRetention must be at least 1 day, got 2 hours',
    );
  });
});
