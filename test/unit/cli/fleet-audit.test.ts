import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import {
  DescribeSecretCommand,
  ListSecretsCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { batches, entrySize, PUT_EVENTS_MAX_BYTES } from '../../../cli/audit-events';
import type { FleetRotateJson } from '../../../cli/commands/rotate-fleet';
import {
  AUDIT_SOURCE,
  AuditAction,
  AuditDetailType,
  parseAuditEvent,
} from '../../../functions/audit/records';
import { ACCOUNT_ARN, FUNCTION_ARN, run, V1 } from './harness';

// The fleet rotation's audit records: who started the emergency rotation of which secrets, with which
// selector and reason. PutEvents takes at most 10 entries and 256 KB a call ("PutEvents", EventBridge API
// Reference; "Calculating PutEvents event entry size", EventBridge User Guide).

const sm = mockClient(SecretsManagerClient);
const sts = mockClient(STSClient);
const eb = mockClient(EventBridgeClient);
const ALICE = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
const arnOf = (name: string) => `${ACCOUNT_ARN}${name}-AbCdEf`;

/** Secrets on "AWS" whose RotateSecret finishes at the next poll. */
function givenFleet(secrets: Array<{ name: string; tags?: Record<string, string>; rotation?: boolean }>) {
  const tokens = new Map<string, string>();
  const describe = (id: string) => {
    const s = secrets.find((x) => x.name === id || arnOf(x.name) === id);
    const token = s ? tokens.get(s.name) : undefined;
    return {
      ARN: arnOf(s?.name ?? id),
      Name: s?.name ?? id,
      RotationEnabled: s?.rotation !== false,
      ...(s?.rotation !== false ? { RotationLambdaARN: FUNCTION_ARN } : {}),
      Tags: Object.entries(s?.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
      VersionIdsToStages: token
        ? { [V1]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] }
        : { [V1]: ['AWSCURRENT'] },
    };
  };
  sm.on(ListSecretsCommand).callsFake(() => ({
    SecretList: secrets.map((s) => {
      const d = describe(s.name);
      return { ...d, SecretVersionsToStages: d.VersionIdsToStages };
    }),
  }));
  sm.on(DescribeSecretCommand).callsFake((input: { SecretId: string }) => describe(input.SecretId));
  sm.on(RotateSecretCommand).callsFake((input: { SecretId: string; ClientRequestToken: string }) => {
    const s = secrets.find((x) => arnOf(x.name) === input.SecretId);
    if (s) tokens.set(s.name, input.ClientRequestToken);
    return { ARN: input.SecretId, VersionId: input.ClientRequestToken };
  });
}

const entriesSent = () =>
  eb.commandCalls(PutEventsCommand).map((c) => (c.args[0].input.Entries ?? []) as PutEventsRequestEntry[]);

beforeEach(() => {
  sm.reset();
  sts.reset();
  eb.reset();
  sts.on(GetCallerIdentityCommand).resolves({ Arn: ALICE });
  eb.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
    FailedEntryCount: 0,
    Entries: input.Entries.map((_, i) => ({ EventId: `e-${i}` })),
  }));
});

describe('fleet rotation in the audit trail', () => {
  it('publishes one Secret Fleet Rotation Started a secret started, 10 a PutEvents call, with who, run id, selector and reason', async () => {
    // GIVEN 23 secrets to rotate and one without a rotation function
    const names = Array.from({ length: 23 }, (_, i) => `s${String(i).padStart(2, '0')}`);
    givenFleet([...names.map((name) => ({ name })), { name: 'norot', rotation: false }]);
    // WHEN an operator starts an emergency rotation of all of them
    const out = await run(
      ['rotate', '--all', '--reason', 'INC-9 leak', '--event-bus', 'ops-bus', '--json', '--interval', '1s'],
      {},
    );
    // THEN 23 records (not the skipped secret) in calls of 10, 10 and 3, before any rotation started
    expect(out.code).toBe(0);
    const sent = entriesSent();
    expect(sent.map((b) => b.length)).toEqual([10, 10, 3]);
    const all = sent.flat();
    expect(all.map((e) => e.Resources?.[0]).sort()).toEqual(names.map(arnOf));
    const details = all.map((e) => JSON.parse(e.Detail as string) as Record<string, string>);
    const runIds = new Set(details.map((d) => d.runId));
    expect(runIds.size).toBe(1);
    for (const [i, e] of all.entries()) {
      expect(e).toMatchObject({
        EventBusName: 'ops-bus',
        Source: AUDIT_SOURCE,
        DetailType: AuditDetailType.FLEET_ROTATION,
      });
      expect(details[i]).toMatchObject({ actor: ALICE, selector: '--all', reason: 'INC-9 leak' });
    }
    const report = JSON.parse(out.stdout) as FleetRotateJson;
    expect(report.audit).toMatchObject({ actor: ALICE, published: 23, unpublished: [], unrecorded: [] });
    expect(report.audit?.runId).toBe([...runIds][0]);
    // and `audit` reads each back as a fleet rotation by alice, with the reason
    const record = parseAuditEvent(
      JSON.stringify({
        id: 'x',
        source: all[0]?.Source,
        'detail-type': all[0]?.DetailType,
        time: '2026-06-01T12:00:00Z',
        resources: all[0]?.Resources,
        detail: details[0],
      }),
    );
    expect(record).toMatchObject({
      action: AuditAction.FLEET_ROTATION,
      actor: ALICE,
      reason: 'INC-9 leak',
    });
    expect(record?.detail).toContain(`fleet run ${report.audit?.runId} (--all)`);
  });

  it('records on each secret its own tagged bus, and names the tag selector', async () => {
    givenFleet([
      { name: 'a', tags: { team: 'pay', 'secret-rotation:event-bus': 'bus-a' } },
      { name: 'b', tags: { team: 'pay', 'secret-rotation:event-bus': 'bus-b' } },
    ]);
    const out = await run(['rotate', '--tag', 'team=pay', '--interval', '1s']);
    expect(out.code).toBe(0);
    const all = entriesSent().flat();
    expect(all.map((e) => [e.EventBusName, e.Resources?.[0]])).toEqual([
      ['bus-a', arnOf('a')],
      ['bus-b', arnOf('b')],
    ]);
    expect(JSON.parse(all[0]?.Detail as string).selector).toBe('--tag team=pay');
    expect(out.stdout).toContain('Recorded in the audit trail: 2 record(s) of run');
  });

  it('publishes nothing and asks STS nothing for --dry-run', async () => {
    givenFleet([{ name: 'a' }]);
    const out = await run(['rotate', '--all', '--dry-run', '--event-bus', 'ops-bus']);
    expect(out.code).toBe(0);
    expect(eb.calls()).toHaveLength(0);
    expect(sts.calls()).toHaveLength(0);
  });

  it('goes on rotating when EventBridge rejects records, names them, and exits 1', async () => {
    givenFleet([{ name: 'a' }, { name: 'b' }]);
    eb.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ EventId: 'e-0' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }],
    });
    const out = await run(['rotate', '--all', '--event-bus', 'ops-bus', '--json', '--interval', '1s']);
    expect(out.code).toBe(1);
    const report = JSON.parse(out.stdout) as FleetRotateJson;
    expect(report.counts.rotated).toBe(2);
    expect(report.audit?.unpublished).toEqual([{ secret: 'b', error: 'ThrottlingException: slow down' }]);
    expect(out.stderr).toContain('1 audit record(s) were NOT published (b: ThrottlingException: slow down)');
  });

  it('warns that secrets with no bus known rotated without a record', async () => {
    givenFleet([{ name: 'a' }]);
    const out = await run(['rotate', '--all', '--interval', '1s']);
    expect(out.code).toBe(0);
    expect(out.stderr).toContain('1 secret(s) rotated without an audit record: no event bus');
    expect(sts.calls()).toHaveLength(0);
  });
});

describe('PutEvents batches', () => {
  const entry = (detailBytes: number): PutEventsRequestEntry => ({
    Source: AUDIT_SOURCE,
    DetailType: AuditDetailType.FLEET_ROTATION,
    Resources: [arnOf('a')],
    Detail: JSON.stringify({ note: 'é'.repeat(detailBytes / 2) }),
  });

  it('counts an entry as EventBridge does: UTF-8 bytes of Source, DetailType, Detail, Resources; 14 for Time', () => {
    const e = entry(10);
    const expected =
      AUDIT_SOURCE.length +
      AuditDetailType.FLEET_ROTATION.length +
      arnOf('a').length +
      (10 + '{"note":""}'.length);
    expect(entrySize(e)).toBe(expected);
    expect(entrySize({ ...e, Time: new Date() })).toBe(expected + 14);
  });

  it('keeps each call at 10 entries and under 256 KB', () => {
    const big = Array.from({ length: 7 }, () => entry(60_000));
    const split = batches(big);
    expect(split.map((b) => b.length)).toEqual([4, 3]);
    for (const b of split)
      expect(b.reduce((n, e) => n + entrySize(e), 0)).toBeLessThanOrEqual(PUT_EVENTS_MAX_BYTES);
    expect(batches(Array.from({ length: 25 }, () => entry(10))).map((b) => b.length)).toEqual([10, 10, 5]);
  });
});
