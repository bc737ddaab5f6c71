import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createApprovalHandler, loadApprovalConfig } from '../../functions/approval/request';
import { auditMetrics, loadAuditCheckConfig, runAuditCheck } from '../../functions/audit/check';
import { ExampleStack } from '../../infra/stacks/example-stack';
import { type LocalAws, startMoto } from '../../local/moto';

// The dashboard's approval and audit series against what the functions really emit: the EMF of a real run of
// the approval function and of the audit completeness check (against moto), compared with the metrics of the
// example app's synthesized dashboard body. A widget whose namespace or dimensions differ from the EMF's by
// one character shows a flat line forever.

process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
jest.setTimeout(120_000);

type Emitted = { namespace: string; name: string; dimensions: Record<string, string> };
type Charted = { namespace: string; name: string; dimensions: Record<string, string>; widget: string };

/** The metrics of the EMF blobs written to the console. */
function emfMetrics(lines: readonly string[]): Emitted[] {
  const out: Emitted[] = [];
  for (const line of lines.filter((l) => l.includes('"_aws"'))) {
    const blob = JSON.parse(line) as Record<string, unknown> & {
      _aws: {
        CloudWatchMetrics: Array<{
          Namespace: string;
          Dimensions: string[][];
          Metrics: Array<{ Name: string }>;
        }>;
      };
    };
    for (const directive of blob._aws.CloudWatchMetrics) {
      for (const set of directive.Dimensions.length > 0 ? directive.Dimensions : [[]]) {
        const dimensions = Object.fromEntries(set.map((d) => [d, String(blob[d])]));
        for (const m of directive.Metrics)
          out.push({ namespace: directive.Namespace, name: m.Name, dimensions });
      }
    }
  }
  return out;
}

/** A template value as a string: `Fn::Join` joined, a `Ref` as `ref:<id>`, anything else a placeholder. */
const flatten = (v: unknown): string => {
  if (typeof v === 'string') return v;
  const node = v as Record<string, unknown>;
  if (node['Fn::Join']) return ((node['Fn::Join'] as [string, unknown[]])[1] ?? []).map(flatten).join('');
  if (typeof node.Ref === 'string') return `ref:${node.Ref}`;
  return 'TOKEN';
};

/** The metrics of a synthesized dashboard body. */
function dashboardMetrics(template: Template): Charted[] {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as Array<{
    Properties: { DashboardBody: unknown };
  }>;
  const out: Charted[] = [];
  for (const d of dashboards) {
    const body = JSON.parse(flatten(d.Properties.DashboardBody)) as {
      widgets: Array<{ properties: { title?: string; metrics?: unknown[][] } }>;
    };
    for (const w of body.widgets) {
      let previous: string[] = [];
      for (const row of w.properties.metrics ?? []) {
        // CloudWatch's shorthand: '.' repeats the previous row's value at that position
        const cells = row.filter((c) => typeof c === 'string') as string[];
        const full = cells.map((c, i) => (c === '.' ? (previous[i] as string) : c));
        previous = full;
        const [namespace, name, ...dims] = full;
        const dimensions: Record<string, string> = {};
        for (let i = 0; i + 1 < dims.length; i += 2) dimensions[dims[i] as string] = dims[i + 1] as string;
        out.push({
          namespace: namespace as string,
          name: name as string,
          dimensions,
          widget: w.properties.title ?? '',
        });
      }
    }
  }
  return out;
}

describe('the dashboard charts the approval and audit metrics the functions emit', () => {
  let aws: LocalAws;
  let output: string[] = [];
  let emitted: Emitted[] = [];
  let charted: Charted[] = [];

  beforeAll(async () => {
    aws = await startMoto();
    const config = aws.clientConfig;
    await new DynamoDBClient(config).send(
      new CreateTableCommand({
        TableName: 'approvals',
        KeySchema: [
          { AttributeName: 'secretArn', KeyType: 'HASH' },
          { AttributeName: 'requestId', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'secretArn', AttributeType: 'S' },
          { AttributeName: 'requestId', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
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
    charted = dashboardMetrics(template);
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
    emitted = emfMetrics(output);
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
    const fromFunction = emitted.filter((m) => m.name === name);
    expect(fromFunction).toHaveLength(1);
    const onDashboard = charted.filter((m) => m.name === name);
    expect(onDashboard.length).toBeGreaterThan(0);
    for (const m of onDashboard) {
      expect({ namespace: m.namespace, dimensions: m.dimensions }).toEqual({
        namespace: fromFunction[0]?.namespace,
        dimensions: fromFunction[0]?.dimensions,
      });
    }
  });

  it("charts the audit log's metric filters: rollbacks, approvals requested/denied/expired/bypassed, fleet rotations", () => {
    const names = new Set(charted.map((m) => m.name));
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
