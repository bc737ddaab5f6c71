import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { loadAuditCheckConfig, runAuditCheck } from '../../../functions/audit/check';

const logs = mockClient(CloudWatchLogsClient);
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/orders-AbCdEf';

const line = (event: object) => ({
  eventId: Math.random().toString(36),
  timestamp: 0,
  message: JSON.stringify(event),
});
const succeeded = (time: string) =>
  line({
    id: `svc-${time}`,
    'detail-type': 'AWS Service Event via CloudTrail',
    source: 'aws.secretsmanager',
    time,
    resources: [],
    detail: { eventName: 'RotationSucceeded', additionalEventData: { SecretId: ARN } },
  });
const rotated = (time: string) =>
  line({
    id: `ours-${time}`,
    'detail-type': 'Secret Rotated',
    source: 'secret-rotation',
    time,
    resources: [ARN],
    detail: { secretArn: ARN, versionId: '22222222-2222-4222-8222-222222222222' },
  });

beforeEach(() => logs.reset());

describe('the audit completeness check', () => {
  it('publishes 100 % and 0 missing when every rotation of the window is on both sides, reading every page', async () => {
    // GIVEN two pages of the audit log, one rotation seen by both sides
    logs
      .on(FilterLogEventsCommand)
      .resolvesOnce({ events: [rotated('2026-06-01T10:20:00Z')], nextToken: 'p2' })
      .resolvesOnce({ events: [succeeded('2026-06-01T10:20:05Z')] });
    const metrics = new Metrics({ namespace: 'SecretRotation', serviceName: 'secret-rotation' });
    const published = jest.spyOn(metrics, 'addMetric');
    jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
    // WHEN it runs at 11:00 with the defaults (window 09:45-10:45, 15 minutes behind, read from 09:30 so early counterparts match)
    const config = loadAuditCheckConfig({});
    const report = await runAuditCheck(
      logs as unknown as CloudWatchLogsClient,
      config,
      metrics,
      new Logger({ logLevel: 'SILENT' }),
      new Date('2026-06-01T11:00:00Z'),
    );
    // THEN
    expect(logs.commandCalls(FilterLogEventsCommand)).toHaveLength(2);
    expect(logs.commandCalls(FilterLogEventsCommand)[0]?.args[0].input).toMatchObject({
      logGroupName: '/secret-rotation/audit',
      startTime: Date.parse('2026-06-01T09:30:00Z'),
      endTime: Date.parse('2026-06-01T11:00:00Z'),
    });
    expect(report.completeness).toBe(1);
    expect(published.mock.calls).toEqual([
      ['AuditCompleteness', 'Percent', 100],
      ['AuditRecordsMissing', 'Count', 0],
    ]);
  });

  it('counts a RotationSucceeded without our record as missing, and logs it without any value', async () => {
    logs.on(FilterLogEventsCommand).resolves({ events: [succeeded('2026-06-01T10:30:00Z')] });
    const metrics = new Metrics({ namespace: 'SecretRotation', serviceName: 'secret-rotation' });
    const published = jest.spyOn(metrics, 'addMetric');
    jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
    const logger = new Logger({ logLevel: 'SILENT' });
    const warn = jest.spyOn(logger, 'warn');
    const report = await runAuditCheck(
      logs as unknown as CloudWatchLogsClient,
      loadAuditCheckConfig({}),
      metrics,
      logger,
      new Date('2026-06-01T11:00:00Z'),
    );
    expect(report.missingOurs).toHaveLength(1);
    expect(published.mock.calls).toEqual([
      ['AuditCompleteness', 'Percent', 0],
      ['AuditRecordsMissing', 'Count', 1],
    ]);
    expect(warn).toHaveBeenCalledWith('Audit record without its counterpart', {
      secret: ARN,
      action: 'service:rotation-succeeded',
      time: '2026-06-01T10:30:00.000Z',
      side: 'no record of ours',
    });
  });

  it('leaves a record inside the lag for the next run, when a late counterpart can still arrive', async () => {
    // GIVEN our record at 10:50, inside the last 15 minutes, and no Secrets Manager event yet
    logs.on(FilterLogEventsCommand).resolves({ events: [rotated('2026-06-01T10:50:00Z')] });
    const metrics = new Metrics({ namespace: 'SecretRotation', serviceName: 'secret-rotation' });
    jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
    const report = await runAuditCheck(
      logs as unknown as CloudWatchLogsClient,
      loadAuditCheckConfig({}),
      metrics,
      new Logger({ logLevel: 'SILENT' }),
      new Date('2026-06-01T11:00:00Z'),
    );
    expect(report.missingService).toHaveLength(0);
    expect(report.completeness).toBe(1);
  });

  it('rejects a window under a minute, naming the variable', () => {
    expect(() => loadAuditCheckConfig({ AUDIT_WINDOW_SECONDS: '10' })).toThrow('AUDIT_WINDOW_SECONDS');
  });
});
