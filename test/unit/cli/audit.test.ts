import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { LogEvent, LogReader } from '../../../cli/aws';
import type { AuditJson } from '../../../cli/commands/audit';
import { checkCompleteness, parseAuditEvent } from '../../../functions/audit/records';
import { ACCOUNT_ARN, awsError, run, V1, V2 } from './harness';

const sm = mockClient(SecretsManagerClient);
const ARN = `${ACCOUNT_ARN}prod/orders-AbCdEf`;

beforeEach(() => sm.reset());

/** EventBridge events as the audit rule writes them to the log group. */
const ours = (detailType: string, time: string, detail: Record<string, unknown>) => ({
  version: '0',
  id: `ours-${detailType}-${time}`,
  'detail-type': detailType,
  source: 'secret-rotation',
  time,
  resources: [ARN],
  detail: { secretArn: ARN, kind: 'database', strategy: 'single-user', ...detail },
});
const service = (eventName: string, time: string, secretId = 'prod/orders') => ({
  version: '0',
  id: `svc-${eventName}-${time}`,
  'detail-type': 'AWS Service Event via CloudTrail',
  source: 'aws.secretsmanager',
  time,
  resources: [],
  detail: {
    eventName,
    eventSource: 'secretsmanager.amazonaws.com',
    userIdentity: { invokedBy: 'secretsmanager.amazonaws.com' },
    additionalEventData: { SecretId: secretId },
  },
});
const apiCall = (time: string) => ({
  version: '0',
  id: `api-${time}`,
  'detail-type': 'AWS API Call via CloudTrail',
  source: 'aws.secretsmanager',
  time,
  resources: [],
  detail: {
    eventName: 'RotateSecret',
    userIdentity: { arn: 'arn:aws:sts::123456789012:assumed-role/oncall/alice' },
    requestParameters: { secretId: 'prod/orders', clientRequestToken: V2 },
  },
});
const operator = (detailType: string, time: string, detail: Record<string, unknown>) => ({
  version: '0',
  id: `op-${detailType}-${time}`,
  'detail-type': detailType,
  source: 'secret-rotation.operations',
  time,
  resources: [ARN],
  detail: { secretArn: ARN, ...detail },
});

function logsWith(events: object[]) {
  const calls: Array<{ group: string; pattern: string; start: number }> = [];
  const reader: LogReader = {
    async filter(group, pattern, start) {
      calls.push({ group, pattern, start });
      return events.map(
        (e, i): LogEvent => ({ eventId: String(i), timestamp: i, message: JSON.stringify(e) }),
      );
    },
  };
  return { reader, calls };
}

const TRAIL = [
  apiCall('2026-06-01T10:00:00Z'),
  service('RotationStarted', '2026-06-01T10:00:01Z'),
  ours('Secret Rotation Started', '2026-06-01T10:00:02Z', { versionId: V2, previousVersionId: V1 }),
  ours('Secret Rotated', '2026-06-01T10:00:09Z', { versionId: V2, previousVersionId: V1 }),
  service('RotationSucceeded', '2026-06-01T10:00:10Z'),
  operator('Secret Rolled Back', '2026-06-01T11:00:00Z', {
    actor: 'arn:aws:sts::123456789012:assumed-role/oncall/bob',
    versionId: V1,
    reason: 'orders-app rejects the new password',
  }),
];

describe('audit <secret>', () => {
  it("prints who did what, in time order, from our events, the operators' and Secrets Manager's", async () => {
    // GIVEN a trail of a rotation started by alice and a rollback by bob
    sm.on(DescribeSecretCommand).resolves({ ARN, Name: 'prod/orders' });
    const logs = logsWith([...TRAIL].reverse());
    // WHEN
    const out = await run(['audit', 'prod/orders', '--since', '7d'], { logs: logs.reader });
    // THEN
    expect(out.code).toBe(0);
    expect(logs.calls).toEqual([
      {
        group: '/secret-rotation/audit',
        pattern: '"prod/orders"',
        start: Date.parse('2026-05-25T12:00:00Z'),
      },
    ]);
    const rows = out.stdout.split('\n').filter((l) => l.startsWith('2026-'));
    expect(rows.map((r) => r.split(/\s{2,}/).slice(1, 3))).toEqual([
      ['api-call', 'arn:aws:sts::123456789012:assumed-role/oncall/alice'],
      ['service:rotation-started', 'secretsmanager.amazonaws.com'],
      ['rotation-started', 'rotation function'],
      ['rotated', 'rotation function'],
      ['service:rotation-succeeded', 'secretsmanager.amazonaws.com'],
      ['rolled-back', 'arn:aws:sts::123456789012:assumed-role/oncall/bob'],
    ]);
    expect(rows[0]).toContain('RotateSecret');
    expect(rows[5]).toContain('reason: orders-app rejects the new password');
  });

  it('checks completeness both ways and exits 1 naming what is missing', async () => {
    // GIVEN a RotationFailed with no record of ours, and a Secret Rotated that Secrets Manager never confirmed
    sm.on(DescribeSecretCommand).resolves({ ARN, Name: 'prod/orders' });
    const trail = [
      ...TRAIL,
      service('RotationFailed', '2026-06-01T12:00:00Z'),
      ours('Secret Rotated', '2026-06-01T14:00:00Z', { versionId: V1 }),
    ];
    // WHEN
    const out = await run(['audit', 'prod/orders', '--check', '--json'], { logs: logsWith(trail).reader });
    // THEN
    expect(out.code).toBe(1);
    const report = JSON.parse(out.stdout) as AuditJson;
    expect(report.completeness).toMatchObject({ complete: false, serviceEvents: 2, ourRecords: 2 });
    expect(report.completeness?.missingOurs.map((r) => [r.action, r.time])).toEqual([
      ['service:rotation-failed', '2026-06-01T12:00:00.000Z'],
    ]);
    expect(report.completeness?.missingService.map((r) => [r.action, r.versionId])).toEqual([
      ['rotated', V1],
    ]);
    expect(out.stderr).toContain(
      'the audit trail is incomplete: 1 Secrets Manager event(s) without our record, 1 record(s)',
    );
  });

  it('passes the check when every rotation is on both sides, duplicates and a late CloudTrail event included', async () => {
    sm.on(DescribeSecretCommand).resolves({ ARN, Name: 'prod/orders' });
    const trail = [
      ...TRAIL,
      service('RotationSucceeded', '2026-06-01T10:00:10Z'),
      service('RotationSucceeded', '2026-06-01T10:09:00Z'),
    ];
    const out = await run(['audit', 'prod/orders', '--check'], { logs: logsWith(trail).reader });
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(
      'Completeness: complete (2 Secrets Manager rotation event(s), 1 record(s) of ours, ratio 1)',
    );
  });

  it('still prints the trail of a deleted secret, by the name given', async () => {
    sm.on(DescribeSecretCommand).rejects(
      awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret."),
    );
    const out = await run(['audit', 'prod/orders', '--json'], { logs: logsWith(TRAIL).reader });
    expect(out.code).toBe(0);
    expect((JSON.parse(out.stdout) as AuditJson).records).toHaveLength(6);
  });

  it('refuses a bad --since without reading anything', async () => {
    const logs = logsWith(TRAIL);
    const out = await run(['audit', 'prod/orders', '--since', 'yesterday'], { logs: logs.reader });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(
      "--since must be a duration such as 90s, 15m, 6h or 2d (a bare number is seconds), got 'yesterday'",
    );
    expect(logs.calls).toHaveLength(0);
  });
});

describe('audit records', () => {
  it('ignores lines that are not audit events, and events of other sources', () => {
    expect(parseAuditEvent('START RequestId: 1')).toBeUndefined();
    expect(
      parseAuditEvent(
        JSON.stringify({ ...service('RotationSucceeded', '2026-06-01T10:00:00Z'), source: 'aws.kms' }),
      ),
    ).toBeUndefined();
  });

  it('matches a partial ARN, a full ARN and a name of the same secret', () => {
    const report = checkCompleteness(
      [
        parseAuditEvent(
          JSON.stringify(service('RotationSucceeded', '2026-06-01T10:00:00Z', `${ACCOUNT_ARN}prod/orders`)),
        ),
        parseAuditEvent(JSON.stringify(ours('Secret Rotated', '2026-06-01T10:00:01Z', { versionId: V2 }))),
      ].filter((r) => r !== undefined),
    );
    expect(report.completeness).toBe(1);
  });
});
