import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createApprovalHandler, loadApprovalConfig } from '../../functions/approval/request';
import { auditMetrics, loadAuditCheckConfig, runAuditCheck } from '../../functions/audit/check';
import { ExampleStack } from '../../infra/stacks/example-stack';
import { type LocalAws, startMoto } from '../../local/moto';
import { createApprovalsTable } from '../helpers/approvals-table';
import {
  type ChartedSeries,
  dashboardSeries,
  type EmittedSeries,
  emfSeries,
  flatten,
} from './dashboard-series';

// The dashboard's approval and audit series against what the functions really emit: the EMF of a real run of
// the approval function and of the audit completeness check (against moto), compared with the metrics of the
// example app's synthesized dashboard body. A widget whose namespace or dimensions differ from the EMF's by
// one character shows a flat line forever.

process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
jest.setTimeout(120_000);

describe('the dashboard charts the approval and audit metrics the functions emit', () => {
  let aws: LocalAws;
  let output: string[] = [];
  let emitted: EmittedSeries[] = [];
  let charted: ChartedSeries[] = [];

  beforeAll(async () => {
    aws = await startMoto();
    const config = aws.clientConfig;
    await createApprovalsTable(new DynamoDBClient(config), 'approvals');
    const topicArn = (await new SNSClient(config).send(new CreateTopicCommand({ Name: 'approvers' })))
      .TopicArn as string;
    const logs = new CloudWatchLogsClient(config);
    await logs.send(new CreateLogGroupCommand({ logGroupName: '/secret-rotation/audit' }));
    await logs.send(
      new CreateLogStreamCommand({ logGroupName: '/secret-rotation/audit', logStreamName: 's' }),
    );
    const now = new Date();
    const at = new Date(now.getTime() - 30 * 60_000);
    await logs.send(
      new PutLogEventsCommand({
        logGroupName: '/secret-rotation/audit',
        logStreamName: 's',
        logEvents: [
          {
            timestamp: at.getTime(),
            message: JSON.stringify({
              id: 'a',
              source: 'secret-rotation',
              'detail-type': 'Secret Rotated',
              time: at.toISOString(),
              resources: ['arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-AbCdEf'],
              detail: { secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-AbCdEf' },
            }),
          },
        ],
      }),
    );

    // The example app, synthesized; the approval function runs with its SECRET_ARN as the template has it
    const stack = new ExampleStack(new App(), 'Example', {
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    const template = Template.fromStack(stack);
    charted = dashboardSeries(template);
    const approvalEnv = (
      Object.values(template.findResources('AWS::Lambda::Function')) as Array<{
        Properties: { Environment?: { Variables?: Record<string, unknown> } };
      }>
    )
      .map((f) => f.Properties.Environment?.Variables ?? {})
      .find((v) => v.APPROVAL_TABLE !== undefined) as Record<string, unknown>;
    const secretArn = flatten(approvalEnv.SECRET_ARN);

    // Powertools writes EMF through the console in dev mode: capture it
    jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      output.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
    });
    // WHEN the approval function runs as the schedule runs it, with the environment RotationFunction sets
    process.env.POWERTOOLS_SERVICE_NAME = 'secret-rotation';
    const approval = createApprovalHandler({
      dynamodb: new DynamoDBClient(config),
      sns: new SNSClient(config),
      config: loadApprovalConfig({
        SECRET_ARN: secretArn,
        APPROVAL_TABLE: 'approvals',
        APPROVAL_TOPIC_ARN: topicArn,
      }),
    });
    await approval({ action: 'request' });
    // AND the audit completeness check runs over the log group
    await runAuditCheck(logs, loadAuditCheckConfig({}), auditMetrics(), undefined, now);
    jest.restoreAllMocks();
    emitted = emfSeries(output);
    output = [];
  });

  afterAll(async () => {
    await aws?.stop();
  });

  it.each([
    'ApprovalsWaiting',
    'ApprovalExpired',
    'ApprovalOverdue',
    'AuditCompleteness',
    'AuditRecordsMissing',
  ])('%s: the widget has the namespace and dimensions of the EMF, exactly', (name) => {
    const fromFunction = emitted.filter((m) => m.metricName === name);
    expect(fromFunction).toHaveLength(1);
    const onDashboard = charted.filter((m) => m.metricName === name);
    expect(onDashboard.length).toBeGreaterThan(0);
    for (const m of onDashboard) {
      expect({ namespace: m.namespace, dimensions: m.dimensions }).toEqual({
        namespace: fromFunction[0]?.namespace,
        dimensions: fromFunction[0]?.dimensions,
      });
    }
  });

  it("charts the audit log's metric filters: rollbacks, approvals requested/denied/expired/bypassed, fleet rotations", () => {
    const names = new Set(charted.map((m) => m.metricName));
    for (const name of [
      'Rollbacks',
      'ApprovalsRequested',
      'ApprovalsDenied',
      'ApprovalsExpired',
      'ApprovalBypasses',
      'FleetRotations',
    ]) {
      expect(names).toContain(name);
    }
  });
});
