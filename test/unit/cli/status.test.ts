import {
  DescribeSecretCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import {
  assessOverdue,
  assessPending,
  type StatusJson,
  scheduleIntervalMs,
  scheduleText,
} from '../../../cli/commands/status';
import type { SecretState } from '../../../cli/secrets';
import { ACCOUNT_ARN, awsError, described, FUNCTION_ARN, run, V1, V2 } from './harness';

const sm = mockClient(SecretsManagerClient);
const NOW = new Date('2026-06-01T12:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

beforeEach(() => sm.reset());

function state(extra: Partial<SecretState> = {}): SecretState {
  return { arn: `${ACCOUNT_ARN}s`, name: 's', rotationEnabled: true, tags: {}, stages: {}, ...extra };
}

describe('overdue', () => {
  it('is overdue when NextRotationDate is further in the past than the margin', () => {
    const result = assessOverdue(
      state({ nextRotationDate: new Date(NOW.getTime() - 7 * HOUR) }),
      NOW,
      6 * HOUR,
    );
    expect(result.overdue).toBe(true);
    expect(result.reason).toBe('next rotation was due 2026-06-01 05:00 UTC, 7h ago');
  });

  it('is not overdue while NextRotationDate is in the past by less than the margin', () => {
    const result = assessOverdue(
      state({ nextRotationDate: new Date(NOW.getTime() - 5 * HOUR) }),
      NOW,
      6 * HOUR,
    );
    expect(result).toEqual({ overdue: false, reason: null });
  });

  it('is never overdue when rotation is disabled, however old the next date', () => {
    const result = assessOverdue(
      state({ rotationEnabled: false, nextRotationDate: new Date(NOW.getTime() - 90 * DAY) }),
      NOW,
      0,
    );
    expect(result.overdue).toBe(false);
  });

  it('is overdue when rotation is enabled but the secret was never rotated and is older than its schedule plus the margin', () => {
    const result = assessOverdue(
      state({ rules: { automaticallyAfterDays: 30 }, createdDate: new Date(NOW.getTime() - 31 * DAY) }),
      NOW,
      6 * HOUR,
    );
    expect(result.overdue).toBe(true);
    expect(result.reason).toBe('never rotated, created 31d ago with a schedule of 30d');
  });

  it('is not overdue when a never-rotated secret is younger than its schedule plus the margin', () => {
    const result = assessOverdue(
      state({
        rules: { automaticallyAfterDays: 30 },
        createdDate: new Date(NOW.getTime() - 30 * DAY - HOUR),
      }),
      NOW,
      6 * HOUR,
    );
    expect(result.overdue).toBe(false);
  });

  it('uses the last rotation and a rate() schedule when there is no next date', () => {
    const late = assessOverdue(
      state({
        rules: { scheduleExpression: 'rate(10 days)' },
        lastRotatedDate: new Date(NOW.getTime() - 11 * DAY),
      }),
      NOW,
      HOUR,
    );
    expect(late).toEqual({ overdue: true, reason: 'last rotated 11d ago with a schedule of 10d' });
  });

  it('reads the schedule interval from days and rate() expressions, not from cron()', () => {
    expect(scheduleIntervalMs({ automaticallyAfterDays: 7 })).toBe(7 * DAY);
    expect(scheduleIntervalMs({ scheduleExpression: 'rate(4 hours)' })).toBe(4 * HOUR);
    expect(scheduleIntervalMs({ scheduleExpression: 'rate(1 day)' })).toBe(DAY);
    expect(scheduleIntervalMs({ scheduleExpression: 'cron(0 3 ? * SUN *)' })).toBeUndefined();
    expect(scheduleIntervalMs(undefined)).toBeUndefined();
  });

  it('shows the schedule with its window', () => {
    expect(scheduleText({ automaticallyAfterDays: 30, duration: '4h' })).toBe('every 30d, window 4h');
    expect(scheduleText({ scheduleExpression: 'cron(0 3 ? * SUN *)' })).toBe('cron(0 3 ? * SUN *)');
    expect(scheduleText(undefined)).toBe('-');
  });
});

describe('pending rotations', () => {
  it('calls an AWSPENDING version stuck once it is older than the threshold', () => {
    const pending = assessPending(V2, new Date(NOW.getTime() - 2 * HOUR), NOW, HOUR);
    expect(pending).toEqual({
      versionId: V2,
      createdDate: '2026-06-01T10:00:00.000Z',
      ageSeconds: 7200,
      stuck: true,
    });
  });

  it('calls a young AWSPENDING version a rotation under way', () => {
    expect(assessPending(V2, new Date(NOW.getTime() - 10 * 60_000), NOW, HOUR)?.stuck).toBe(false);
  });

  it('reports but does not judge a pending version whose creation date is unknown', () => {
    expect(assessPending(V2, undefined, NOW, 0)).toEqual({
      versionId: V2,
      createdDate: null,
      ageSeconds: null,
      stuck: false,
    });
  });
});

describe('status', () => {
  it('lists every secret across ListSecrets pages, sorted by name, with the documented JSON shape', async () => {
    // GIVEN two pages
    sm.on(ListSecretsCommand, { NextToken: undefined }).resolves({
      SecretList: [
        {
          ARN: `${ACCOUNT_ARN}zeta-1`,
          Name: 'zeta',
          RotationEnabled: true,
          RotationLambdaARN: FUNCTION_ARN,
          RotationRules: { AutomaticallyAfterDays: 30, Duration: '4h' },
          LastRotatedDate: new Date('2026-05-01T12:00:00Z'),
          NextRotationDate: new Date('2026-05-31T12:00:00Z'),
          Tags: [
            { Key: 'secret-rotation:kind', Value: 'database' },
            { Key: 'secret-rotation:strategy', Value: 'alternating-users' },
          ],
          SecretVersionsToStages: { [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT'] },
        },
      ],
      NextToken: 'page-2',
    });
    sm.on(ListSecretsCommand, { NextToken: 'page-2' }).resolves({
      SecretList: [
        { ARN: `${ACCOUNT_ARN}alpha-1`, Name: 'alpha', SecretVersionsToStages: { [V1]: ['AWSCURRENT'] } },
      ],
    });
    // WHEN
    const out = await run(['status', '--json']);
    // THEN
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout) as StatusJson;
    expect(report.secrets.map((s) => s.name)).toEqual(['alpha', 'zeta']);
    expect(report).toMatchObject({ overdueMarginSeconds: 21600, stuckAfterSeconds: 3600, errors: [] });
    expect(report.secrets[1]).toEqual({
      name: 'zeta',
      arn: `${ACCOUNT_ARN}zeta-1`,
      kind: 'database',
      strategy: 'alternating-users',
      kindSource: 'tags',
      rotationEnabled: true,
      rotationFunction: FUNCTION_ARN,
      schedule: { automaticallyAfterDays: 30, scheduleExpression: null, duration: '4h' },
      lastRotated: '2026-05-01T12:00:00.000Z',
      nextRotation: '2026-05-31T12:00:00.000Z',
      overdue: true,
      overdueReason: 'next rotation was due 2026-05-31 12:00 UTC, 1d ago',
      pending: null,
    });
    expect(sm.commandCalls(ListSecretsCommand)).toHaveLength(2);
  });

  it('passes --filter to ListSecrets, a bare value as the "all" filter and repeated keys as one filter', async () => {
    sm.on(ListSecretsCommand).resolves({ SecretList: [] });
    const out = await run([
      'status',
      '--filter',
      'name=prod/',
      '--filter',
      'name=stage/',
      '--filter',
      'orders',
    ]);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('No secrets found.\n');
    expect(sm).toHaveReceivedCommandWith(ListSecretsCommand, {
      Filters: [
        { Key: 'name', Values: ['prod/', 'stage/'] },
        { Key: 'all', Values: ['orders'] },
      ],
    });
  });

  it('reports an AWSPENDING version that is not current as stuck, aged from ListSecretVersionIds', async () => {
    sm.on(DescribeSecretCommand).resolves(
      described('orders', { [V1]: ['AWSCURRENT'], [V2]: ['AWSPENDING'] }, { RotationEnabled: true }),
    );
    sm.on(ListSecretVersionIdsCommand).resolves({
      Versions: [
        { VersionId: V1, VersionStages: ['AWSCURRENT'], CreatedDate: new Date('2026-05-01T00:00:00Z') },
        { VersionId: V2, VersionStages: ['AWSPENDING'], CreatedDate: new Date('2026-06-01T09:00:00Z') },
      ],
    });
    const out = await run(['status', 'orders']);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('STUCK 3h (22222222)');
    expect(out.stdout).toContain(`stuck: orders: AWSPENDING on version ${V2} for 3h`);
    expect(out.stdout).toContain('1 secret: 1 with a stuck AWSPENDING. Times are UTC.');
  });

  it('does not count AWSPENDING left on the current version as a rotation under way', async () => {
    sm.on(DescribeSecretCommand).resolves(
      described('orders', { [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT', 'AWSPENDING'] }),
    );
    const out = await run(['status', 'orders', '--json']);
    expect((JSON.parse(out.stdout) as StatusJson).secrets[0]?.pending).toBeNull();
    expect(sm.commandCalls(ListSecretVersionIdsCommand)).toHaveLength(0);
  });

  it('prints an aligned table with a dash rule under the header', async () => {
    sm.on(DescribeSecretCommand, { SecretId: 'a' }).resolves(
      described(
        'a',
        { [V1]: ['AWSCURRENT'] },
        {
          RotationEnabled: true,
          RotationRules: { ScheduleExpression: 'rate(4 hours)' },
          NextRotationDate: new Date('2026-06-01T14:00:00Z'),
        },
      ),
    );
    sm.on(DescribeSecretCommand, { SecretId: 'longer-name' }).resolves(
      described('longer-name', { [V1]: ['AWSCURRENT'] }),
    );
    const out = await run(['status', 'a', 'longer-name']);
    expect(out.stdout.split('\n').slice(0, 4)).toEqual([
      'name         kind  rotation  schedule       last rotated  next rotation             overdue  pending',
      '-----------  ----  --------  -------------  ------------  ------------------------  -------  -------',
      'a            -     enabled   rate(4 hours)  never         2026-06-01 14:00 (in 2h)  no       -',
      'longer-name  -     disabled  -              never         -                         -        -',
    ]);
    expect(out.stdout).not.toContain('\u001b[');
  });

  it('prints the secrets it could read and fails naming the one it could not', async () => {
    sm.on(DescribeSecretCommand, { SecretId: 'there' }).resolves(
      described('there', { [V1]: ['AWSCURRENT'] }),
    );
    sm.on(DescribeSecretCommand, { SecretId: 'gone' }).rejects(
      awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret."),
    );
    const out = await run(['status', 'gone', 'there']);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('there');
    expect(out.stderr).toBe(
      "error: secret gone: not found: Secrets Manager can't find the specified secret.\n",
    );
  });

  it('with --check exits 1 when a secret is overdue, and 0 when none is', async () => {
    const late = described(
      'late',
      { [V1]: ['AWSCURRENT'] },
      {
        RotationEnabled: true,
        NextRotationDate: new Date('2026-05-01T00:00:00Z'),
      },
    );
    sm.on(DescribeSecretCommand).resolves(late);
    const failing = await run(['status', 'late', '--check']);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toBe('error: 1 secret overdue (status --check)\n');
    const lenient = await run(['status', 'late', '--check', '--overdue-margin', '40d']);
    expect(lenient.code).toBe(0);
  });

  it("reads kinds from the rotation function's environment once per function", async () => {
    sm.on(ListSecretsCommand).resolves({
      SecretList: ['a', 'b'].map((name) => ({
        ARN: `${ACCOUNT_ARN}${name}`,
        Name: name,
        RotationEnabled: true,
        RotationLambdaARN: FUNCTION_ARN,
        SecretVersionsToStages: { [V1]: ['AWSCURRENT'] },
      })),
    });
    const describe = jest.fn(async () => ({ environment: { ROTATION_STRATEGY: 'rds-master' } }));
    const out = await run(['status', '--json'], { functions: { describe } });
    const report = JSON.parse(out.stdout) as StatusJson;
    expect(report.secrets.map((s) => [s.kind, s.strategy, s.kindSource])).toEqual([
      ['database', 'rds-master', 'rotation function environment'],
      ['database', 'rds-master', 'rotation function environment'],
    ]);
    expect(describe).toHaveBeenCalledTimes(1);
  });

  it('rejects --filter with named secrets, an unknown filter key and a malformed duration as usage errors', async () => {
    const both = await run(['status', 'a', '--filter', 'x']);
    const key = await run(['status', '--filter', 'colour=blue']);
    const margin = await run(['status', '--overdue-margin', 'soon']);
    for (const out of [both, key, margin]) {
      expect(out.code).toBe(2);
      expect(out.stderr).toMatch(/^error: .+\nRun 'secret-rotation status --help' for usage\.\n$/);
    }
    expect(margin.stderr).toContain(
      "--overdue-margin must be a duration such as 90s, 15m, 6h or 2d (a bare number is seconds), got 'soon'",
    );
    expect(sm.calls()).toHaveLength(0);
  });
});
