import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AUDIT_SOURCE, AuditDetailType } from '../../functions/audit/records';
import { RotationAlarms, RotationAudit, RotationEvents } from '../../infra/constructs';
import { matchesAll, resolvePseudo } from './oracles/event-pattern';

// Every rule's pattern, as synthesized, against the sample events AWS documents and against our own events,
// judged by moto's implementation of EventBridge's pattern language (not by our code).

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const ORDERS = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:orders-app-AbCdEf`;
const OTHER = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:billing-app-GhIjKl`;
/** A secret whose name starts like `orders-app` but is another one: the partial-ARN subscription must not match. */
const LOOKALIKE = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:orders-appx-MnOpQr`;

const envelope = (detailType: string, source: string, resources: string[], detail: object) => ({
  version: '0',
  id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
  'detail-type': detailType,
  source,
  account: ACCOUNT,
  time: '2026-12-02T06:43:48Z',
  region: REGION,
  resources,
  detail,
});

/** Secrets Manager's native event, in the shape of AWS's documented example (ARN in `resources`). */
const labelUpdated = (arn: string) =>
  envelope('Secret Label Updated', 'aws.secretsmanager', [arn], {
    name: arn.split(':secret:')[1]?.replace(/-[A-Za-z0-9]{6}$/, ''),
    labelUpdated: 'AWSCURRENT',
    versionId: 'a1b2c3d4-5678-90ab-cdef-EXAMPLE11111',
  });

/** A CloudTrail rotation event: `resources` is empty, the secret is in `detail.additionalEventData`. */
const cloudTrailRotation = (eventName: string, arn: string) =>
  envelope('AWS Service Event via CloudTrail', 'aws.secretsmanager', [], {
    eventVersion: '1.08',
    userIdentity: { accountId: ACCOUNT, invokedBy: 'secretsmanager.amazonaws.com' },
    eventTime: '2026-12-02T06:43:48Z',
    eventSource: 'secretsmanager.amazonaws.com',
    eventName,
    awsRegion: REGION,
    sourceIPAddress: 'secretsmanager.amazonaws.com',
    userAgent: 'secretsmanager.amazonaws.com',
    requestParameters: null,
    responseElements: null,
    additionalEventData: { SecretId: arn },
    requestID: 'f1e2d3c4-b5a6-7890-1234-567890abcdef',
    eventID: 'a1b2c3d4-5678-90ab-cdef-EXAMPLE22222',
    readOnly: false,
    eventType: 'AwsServiceEvent',
    managementEvent: true,
    recipientAccountId: ACCOUNT,
    eventCategory: 'Management',
  });

/** A CloudTrail API call that moves a label: the secret is in `detail.requestParameters.secretId`. */
const cloudTrailApiCall = (eventName: string, secretId: string) =>
  envelope('AWS API Call via CloudTrail', 'aws.secretsmanager', [], {
    eventSource: 'secretsmanager.amazonaws.com',
    eventName,
    requestParameters: { secretId, versionStage: 'AWSCURRENT' },
    eventType: 'AwsApiCall',
  });

/** Our functions' events (functions/rotation/events.ts): the ARN in `resources`. */
const ours = (detailType: string, arn: string) =>
  envelope(detailType, 'secret-rotation', [arn], {
    secretArn: arn,
    kind: 'database',
    strategy: 'single-user',
  });

const ROTATION_EVENTS = ['RotationStarted', 'RotationSucceeded', 'RotationFailed', 'RotationAbandoned'];

describe('EventBridge patterns, judged by moto.events.models.EventPattern', () => {
  // GIVEN the bus with its forwarding rules, per-secret subscriptions (full ARN, imported by name), a
  // subscription to all secrets, and the alarms' rule
  const app = new App();
  const stack = new Stack(app, 'Patterns', { env: { account: ACCOUNT, region: REGION } });
  const events = new RotationEvents(stack, 'Events');
  const full = secretsmanager.Secret.fromSecretCompleteArn(stack, 'Full', ORDERS);
  const byName = secretsmanager.Secret.fromSecretNameV2(stack, 'ByName', 'orders-app');
  const queue = (id: string) => new targets.SqsQueue(new sqs.Queue(stack, id));
  const oneFull = events.subscribe(queue('One'), { secret: full });
  const oneByName = events.subscribe(queue('ByNameQueue'), { secret: byName });
  const all = events.subscribe(queue('All'));
  const fn = new lambda.Function(stack, 'Fn', {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler=async()=>{}'),
  });
  new RotationAlarms(stack, 'Alarms').watch({
    secret: full,
    rotationFunction: fn,
    kind: 'database',
    strategy: 'single-user',
  });
  const rules = Template.fromStack(stack).findResources('AWS::Events::Rule') as Record<
    string,
    { Properties: { EventPattern?: unknown; EventBusName?: unknown } }
  >;
  const patternOf = (construct: { node: { defaultChild?: unknown } }) =>
    resolvePseudo(rules[stack.getLogicalId(construct.node.defaultChild as never)]?.Properties.EventPattern);
  const patternsWithId = (fragment: string) =>
    Object.entries(rules)
      .filter(([id, r]) => id.includes(fragment) && r.Properties.EventPattern)
      .map(([, r]) => resolvePseudo(r.Properties.EventPattern));
  const forwarding = patternsWithId('EventsForward');
  const alarmRule = patternsWithId('SecretsManagerRotationFailed');

  /** Does any of `patterns` match `event`? */
  const anyMatches = (patterns: unknown[], event: unknown) =>
    matchesAll(patterns.map((pattern) => ({ pattern, event }))).some(Boolean);

  it("forwards Secrets Manager's native Secret Label Updated event (AWS's documented sample) to the bus", () => {
    expect(forwarding.length).toBeGreaterThan(0);
    expect(anyMatches(forwarding, labelUpdated(ORDERS))).toBe(true);
  });

  it.each(ROTATION_EVENTS)('forwards the CloudTrail %s event to the bus', (eventName) => {
    expect(anyMatches(forwarding, cloudTrailRotation(eventName, ORDERS))).toBe(true);
  });

  it('forwards the CloudTrail UpdateSecretVersionStage and PutSecretValue API calls, and not GetSecretValue', () => {
    expect(anyMatches(forwarding, cloudTrailApiCall('UpdateSecretVersionStage', ORDERS))).toBe(true);
    expect(anyMatches(forwarding, cloudTrailApiCall('PutSecretValue', ORDERS))).toBe(true);
    expect(anyMatches(forwarding, cloudTrailApiCall('GetSecretValue', ORDERS))).toBe(false);
  });

  describe.each([
    ['a full ARN', () => patternOf(oneFull)],
    ['a secret imported by name (partial ARN)', () => patternOf(oneByName)],
  ])('a per-secret subscription for %s', (_name, pattern) => {
    const cases: Array<[string, unknown, unknown]> = [
      ['our Secret Rotated event', ours('Secret Rotated', ORDERS), ours('Secret Rotated', OTHER)],
      [
        'our Secret Rotation Failed event',
        ours('Secret Rotation Failed', ORDERS),
        ours('Secret Rotation Failed', OTHER),
      ],
      ['Secret Label Updated', labelUpdated(ORDERS), labelUpdated(OTHER)],
      ...ROTATION_EVENTS.map((e): [string, unknown, unknown] => [
        `CloudTrail ${e}`,
        cloudTrailRotation(e, ORDERS),
        cloudTrailRotation(e, OTHER),
      ]),
      [
        'CloudTrail UpdateSecretVersionStage',
        cloudTrailApiCall('UpdateSecretVersionStage', ORDERS),
        cloudTrailApiCall('UpdateSecretVersionStage', OTHER),
      ],
    ];

    it.each(cases)('receives %s of its secret and not of another secret', (_event, mine, theirs) => {
      expect(
        matchesAll([
          { pattern: pattern(), event: mine },
          { pattern: pattern(), event: theirs },
        ]),
      ).toEqual([true, false]);
    });
  });

  it('does not give a secret imported by name the events of a secret whose name only starts like it', () => {
    expect(matchesAll([{ pattern: patternOf(oneByName), event: ours('Secret Rotated', LOOKALIKE) }])).toEqual(
      [false],
    );
  });

  it('gives the subscription to all secrets every rotation event, ours and Secrets Manager’s', () => {
    const events = [
      ours('Secret Rotated', OTHER),
      labelUpdated(OTHER),
      ...ROTATION_EVENTS.map((e) => cloudTrailRotation(e, OTHER)),
    ];
    expect(matchesAll(events.map((event) => ({ pattern: patternOf(all), event })))).toEqual(
      events.map(() => true),
    );
  });

  it("raises the alarm topic on Secrets Manager's RotationFailed and RotationAbandoned only", () => {
    expect(alarmRule).toHaveLength(1);
    expect(
      matchesAll(
        ROTATION_EVENTS.map((e) => ({ pattern: alarmRule[0], event: cloudTrailRotation(e, ORDERS) })),
      ),
    ).toEqual([false, false, true, true]);
  });
});

/** An operator's audit event (cli/audit-events.ts, functions/approval/approvals.ts): the ARN in `resources`. */
const operators = (detailType: string, arn: string) =>
  envelope(detailType, AUDIT_SOURCE, [arn], {
    secretArn: arn,
    actor: 'arn:aws:sts::123456789012:assumed-role/oncall/alice',
    reason: 'INC-1',
  });

describe("RotationAudit's patterns, judged by moto.events.models.EventPattern", () => {
  // GIVEN the audit trail of the rotation bus, archived. Secrets Manager's CloudTrail events have the shape
  // AWS documents ("AWS CloudTrail entries for Secrets Manager", Log entries for rotation: detail-type
  // "AWS Service Event via CloudTrail", the secret in additionalEventData.SecretId; operations: "AWS API Call
  // via CloudTrail" with requestParameters.secretId), as cloudTrailRotation and cloudTrailApiCall build them.
  const app = new App();
  const stack = new Stack(app, 'AuditPatterns', { env: { account: ACCOUNT, region: REGION } });
  const bus = new RotationEvents(stack, 'Events');
  const audit = new RotationAudit(stack, 'Audit', {
    eventBus: bus.eventBus,
    archiveRetention: Duration.days(30),
  });
  const template = Template.fromStack(stack);
  const rules = template.findResources('AWS::Events::Rule') as Record<
    string,
    { Properties: { EventPattern?: unknown; EventBusName?: unknown } }
  >;
  const ruleOf = (id: string) =>
    resolvePseudo(
      rules[stack.getLogicalId(audit.node.findChild(id).node.defaultChild as never)]?.Properties.EventPattern,
    );
  const archives = Object.values(template.findResources('AWS::Events::Archive')) as Array<{
    Properties: { EventPattern: unknown };
  }>;
  const service = ruleOf('SecretsManagerEvents');
  const ours = ruleOf('OurEvents');
  const archive = resolvePseudo(archives[0]?.Properties.EventPattern);
  const operatorTypes = Object.values(AuditDetailType);

  it.each(ROTATION_EVENTS)("logs Secrets Manager's CloudTrail %s from the default bus", (eventName) => {
    expect(matchesAll([{ pattern: service, event: cloudTrailRotation(eventName, ORDERS) }])).toEqual([true]);
  });

  it('logs the API calls that rotate or move labels, with who made them, and never a read', () => {
    const calls = [
      'RotateSecret',
      'CancelRotateSecret',
      'UpdateSecretVersionStage',
      'PutSecretValue',
      'UpdateSecret',
    ];
    expect(
      matchesAll(
        [...calls, 'GetSecretValue', 'DescribeSecret'].map((c) => ({
          pattern: service,
          event: cloudTrailApiCall(c, ORDERS),
        })),
      ),
    ).toEqual([...calls.map(() => true), false, false]);
  });

  it("logs our functions' events and every operator event (rollback, fleet rotation, approvals) from the bus", () => {
    const events = [
      oursEvent('Secret Rotated'),
      oursEvent('Secret Rotation Failed'),
      ...operatorTypes.map((t) => operators(t, ORDERS)),
    ];
    expect(matchesAll(events.map((event) => ({ pattern: ours, event })))).toEqual(events.map(() => true));
  });

  it("does not log Secrets Manager's events from the bus a second time (RotationEvents forwards them there)", () => {
    expect(
      matchesAll([
        { pattern: ours, event: cloudTrailRotation('RotationSucceeded', ORDERS) },
        { pattern: ours, event: labelUpdated(ORDERS) },
      ]),
    ).toEqual([false, false]);
  });

  it("archives ours, the operators' and Secrets Manager's events for replay", () => {
    expect(
      matchesAll([
        { pattern: archive, event: oursEvent('Secret Rotated') },
        { pattern: archive, event: operators(AuditDetailType.ROLLED_BACK, ORDERS) },
        { pattern: archive, event: operators(AuditDetailType.FLEET_ROTATION, ORDERS) },
        { pattern: archive, event: cloudTrailRotation('RotationSucceeded', ORDERS) },
      ]),
    ).toEqual([true, true, true, true]);
  });
});

function oursEvent(detailType: string) {
  return ours(detailType, ORDERS);
}
