import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { DatabaseSecretRotation, RotationEvents } from '../../infra/constructs';
import { RotationApproval } from '../../infra/constructs/rotation-approval';

describe('RotationApproval', () => {
  // GIVEN a database rotation made to wait for approval
  const app = new App();
  const stack = new Stack(app, 'Approval', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  const secret = new secretsmanager.Secret(stack, 'Payments');
  const bus = new RotationEvents(stack, 'Events');
  new DatabaseSecretRotation(stack, 'Rotation', {
    secret,
    strategy: 'single-user',
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    target: new ec2.SecurityGroup(stack, 'Db', { vpc }),
    port: 5432,
  });
  const alarms = new sns.Topic(stack, 'Alarms');
  const approval = new RotationApproval(stack, 'Approval', {
    secret,
    schedule: events.Schedule.cron({ minute: '0', hour: '9', weekDay: 'MON' }),
    expiresAfter: Duration.hours(8),
    alarmTopic: alarms,
    eventBus: bus.eventBus,
  });
  const approvers = new iam.Role(stack, 'Approvers', { assumedBy: new iam.AccountRootPrincipal() });
  approval.grantApprove(approvers);
  const template = Template.fromStack(stack);

  it("turns Secrets Manager's own schedule off, keeping the rotation function, so only an approval rotates", () => {
    const schedules = template.findResources('AWS::SecretsManager::RotationSchedule');
    expect(Object.values(schedules)).toHaveLength(1);
    const props = (Object.values(schedules)[0] as { Properties: Record<string, unknown> }).Properties;
    expect(props.RotationRules).toBeUndefined();
    expect(props.RotationLambdaARN).toBeDefined();
    expect(props.RotateImmediatelyOnUpdate).toBe(false);
  });

  it('raises a request on the schedule and sweeps expiries hourly', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 9 ? * MON *)',
      Targets: [Match.objectLike({ Input: '{"action":"request"}' })],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [Match.objectLike({ Input: '{"action":"sweep"}' })],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ APPROVAL_EXPIRES_SECONDS: '28800', FOUR_EYES: 'true' }) },
    });
  });

  it('keeps requests in a retained table with TTL and point-in-time recovery', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: 'secretArn', KeyType: 'HASH' },
          { AttributeName: 'requestId', KeyType: 'RANGE' },
        ],
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
      DeletionPolicy: 'Retain',
    });
  });

  it('tags the secret so the CLI finds the table, topic and bus', () => {
    for (const tag of [
      { Key: 'secret-rotation:approval', Value: 'required' },
      { Key: 'secret-rotation:four-eyes', Value: 'true' },
      { Key: 'secret-rotation:approval-expires-seconds', Value: '28800' },
      Match.objectLike({ Key: 'secret-rotation:approval-table' }),
      Match.objectLike({ Key: 'secret-rotation:approval-topic' }),
      Match.objectLike({ Key: 'secret-rotation:event-bus' }),
      Match.objectLike({ Key: 'secret-rotation:approval-url' }),
    ]) {
      template.hasResourceProperties('AWS::SecretsManager::Secret', { Tags: Match.arrayWith([tag]) });
    }
  });

  it('alarms when the last request expired or was denied, to the alarm topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApprovalOverdue',
      Namespace: 'SecretRotation',
      Threshold: 1,
      AlarmActions: [{ Ref: Match.stringLikeRegexp('Alarms') }],
    });
  });

  const statementsOf = (roleName: string) =>
    Object.values(
      template.findResources('AWS::IAM::Policy', {
        Properties: { Roles: [{ Ref: Match.stringLikeRegexp(roleName) }] },
      }),
    ).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: Array<Record<string, unknown>> } } }).Properties
          .PolicyDocument.Statement,
    );

  it("grants approvers only the invoke of the decider's URL (AuthType AWS_IAM), and its Invoke only through the URL", () => {
    const decider = { 'Fn::GetAtt': [expect.stringMatching(/^ApprovalDecider/), 'Arn'] };
    expect(statementsOf('Approvers')).toEqual([
      {
        Effect: 'Allow',
        Action: 'lambda:InvokeFunctionUrl',
        Resource: decider,
        Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
      },
      {
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Resource: decider,
        Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
      },
    ]);
  });

  it('puts the decider behind a function URL with AuthType AWS_IAM, and tags the secret with the URL', () => {
    template.resourceCountIs('AWS::Lambda::Url', 1);
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      TargetFunctionArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ApprovalDecider'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Tags: Match.arrayWith([
        {
          Key: 'secret-rotation:approval-url',
          Value: {
            'Fn::GetAtt': [Match.stringLikeRegexp('^ApprovalDeciderFunctionFunctionUrl'), 'FunctionUrl'],
          },
        },
      ]),
    });
  });

  it('lets the decider, not the approvers, write the table and rotate this one secret (no SNS beyond the topic)', () => {
    const decider = statementsOf('ApprovalDeciderRole');
    const actions = decider.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    expect(actions).toEqual(
      expect.arrayContaining([
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:Query',
        'dynamodb:GetItem',
        'secretsmanager:RotateSecret',
        'secretsmanager:DescribeSecret',
        'events:PutEvents',
        'sns:Publish',
      ]),
    );
    const rotate = decider.find((s) => JSON.stringify(s.Action).includes('secretsmanager:RotateSecret'));
    expect(rotate?.Resource).toEqual({ Ref: expect.stringMatching(/^Payments/) });
    expect(actions.filter((a) => String(a).includes('*'))).toEqual([]);
  });

  it("publishes to the approvers' topic with kms:GenerateDataKey and kms:Decrypt of its key through SNS, no wildcard action", () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: Array<Record<string, unknown>> } } }).Properties
          .PolicyDocument.Statement,
    );
    const kmsStatements = statements.filter((s) => JSON.stringify(s.Action).includes('kms:'));
    expect(kmsStatements.length).toBeGreaterThan(0);
    for (const s of kmsStatements) {
      expect(s.Action).toEqual(['kms:GenerateDataKey', 'kms:Decrypt']);
      expect(s.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^ApprovalApproversKey/), 'Arn'] });
      expect(JSON.stringify(s.Condition)).toContain('kms:EncryptionContext:aws:sns:topicArn');
      expect(JSON.stringify(s.Condition)).toContain('kms:ViaService');
    }
  });

  it('adds the approvals widget (waiting, expired, overdue) to the dashboard it is given', () => {
    const widgets = approval.widgets();
    expect(widgets).toHaveLength(1);
    const other = new Stack(new App(), 'WithDashboard', {
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    const dashboard = new cloudwatch.Dashboard(other, 'Dashboard');
    const otherSecret = new secretsmanager.Secret(other, 'S');
    otherSecret.addRotationSchedule('R', {
      rotationLambda: lambda.Function.fromFunctionArn(
        other,
        'Fn',
        'arn:aws:lambda:eu-west-1:123456789012:function:rotation',
      ),
    });
    new RotationApproval(other, 'Approval', {
      secret: otherSecret,
      schedule: events.Schedule.rate(Duration.days(7)),
      dashboard,
    });
    const body = JSON.stringify(Template.fromStack(other).toJSON());
    for (const name of ['ApprovalsWaiting', 'ApprovalExpired', 'ApprovalOverdue']) {
      expect(body).toContain(
        `\\"SecretRotation\\",\\"${name}\\",\\"secretArn\\",\\"",{"Ref":"S509448A1"},"\\",\\"service\\",\\"secret-rotation\\"`,
      );
    }
  });

  it("gives each gated secret its own approval series: two approvals' overdue alarms do not share one metric", () => {
    const other = new Stack(new App(), 'Two', { env: { account: '123456789012', region: 'eu-west-1' } });
    const fn = lambda.Function.fromFunctionArn(
      other,
      'Fn',
      'arn:aws:lambda:eu-west-1:123456789012:function:r',
    );
    for (const id of ['A', 'B']) {
      const s = new secretsmanager.Secret(other, id);
      s.addRotationSchedule('R', { rotationLambda: fn });
      new RotationApproval(other, `${id}Approval`, {
        secret: s,
        schedule: events.Schedule.rate(Duration.days(7)),
      });
    }
    const alarms = Object.values(Template.fromStack(other).findResources('AWS::CloudWatch::Alarm')) as Array<{
      Properties: { Dimensions: Array<{ Name: string; Value: unknown }> };
    }>;
    expect(alarms).toHaveLength(2);
    const dimensions = alarms.map((a) => JSON.stringify(a.Properties.Dimensions));
    expect(new Set(dimensions).size).toBe(2);
    for (const a of alarms)
      expect(a.Properties.Dimensions).toEqual([
        { Name: 'secretArn', Value: { Ref: expect.stringMatching(/^[AB][0-9A-F]{8}$/) } },
        { Name: 'service', Value: 'secret-rotation' },
      ]);
  });

  it("compares four-eyes by person unless told 'role': the function's FOUR_EYES_BY and the secret's tag say which", () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ FOUR_EYES: 'true', FOUR_EYES_BY: 'person' }) },
    });
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Tags: Match.arrayWith([{ Key: 'secret-rotation:four-eyes-by', Value: 'person' }]),
    });
    const other = new Stack(new App(), 'ByRole', { env: { account: '123456789012', region: 'eu-west-1' } });
    const s = new secretsmanager.Secret(other, 'S');
    s.addRotationSchedule('R', {
      rotationLambda: lambda.Function.fromFunctionArn(
        other,
        'Fn',
        'arn:aws:lambda:eu-west-1:123456789012:function:r',
      ),
    });
    new RotationApproval(other, 'Approval', {
      secret: s,
      schedule: events.Schedule.rate(Duration.days(7)),
      fourEyesBy: 'role',
    });
    const t = Template.fromStack(other);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ FOUR_EYES_BY: 'role' }) },
    });
    t.hasResourceProperties('AWS::SecretsManager::Secret', {
      Tags: Match.arrayWith([{ Key: 'secret-rotation:four-eyes-by', Value: 'role' }]),
    });
  });

  it('rejects an expiry outside 5 minutes to 30 days, and a secret without a rotation yet, naming the prop', () => {
    const other = new Stack(new App(), 'Bad');
    const bare = new secretsmanager.Secret(other, 'Bare');
    const schedule = events.Schedule.rate(Duration.days(30));
    expect(
      () => new RotationApproval(other, 'A', { secret: bare, schedule, expiresAfter: Duration.minutes(1) }),
    ).toThrow('RotationApprovalProps.expiresAfter must be from 5 minutes to 30 days, got 1 minute');
    expect(() => new RotationApproval(other, 'B', { secret: bare, schedule })).toThrow(
      'RotationApprovalProps.secret: Bad/Bare has no rotation schedule yet',
    );
  });
});
