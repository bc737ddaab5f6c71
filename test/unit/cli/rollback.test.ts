import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import type { RollbackJson } from '../../../cli/commands/rollback';
import { AUDIT_SOURCE, AuditAction, parseAuditEvent } from '../../../functions/audit/records';
import { type Captured, described, FUNCTION_ARN, run, V1, V2, V3 } from './harness';

const sm = mockClient(SecretsManagerClient);
const sts = mockClient(STSClient);
const eb = mockClient(EventBridgeClient);
const ALICE = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
const PASSWORD = 'Pa55-never-print-me';
const MASTER = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-XyZ';

function databaseValue(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    engine: 'postgres',
    host: 'db',
    port: 5432,
    username: 'app',
    password: PASSWORD,
    ...extra,
  });
}

/** A secret after one rotation: V1 previous, V2 current; `after` is what DescribeSecret says after a move. */
function givenSecret(options: {
  tags?: Record<string, string>;
  values?: Record<string, string>;
  stages?: Record<string, string[]>;
  rotationFunction?: string;
}) {
  const stages = options.stages ?? { [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT'] };
  const secret = described('orders', stages, {
    RotationEnabled: true,
    ...(options.rotationFunction ? { RotationLambdaARN: options.rotationFunction } : {}),
    ...(options.tags ? { Tags: Object.entries(options.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
  });
  sm.on(DescribeSecretCommand)
    .resolvesOnce(secret)
    .resolves(described('orders', { [V1]: ['AWSCURRENT'], [V2]: ['AWSPREVIOUS'] }));
  const values = options.values ?? {};
  sm.on(GetSecretValueCommand).callsFake((input: { VersionId?: string; VersionStage?: string }) => {
    const id =
      input.VersionId ??
      (input.VersionStage === 'AWSCURRENT' ? V2 : input.VersionStage === 'AWSPREVIOUS' ? V1 : '');
    const value = values[id];
    return { VersionId: id, ...(value !== undefined ? { SecretString: value } : {}) };
  });
  sm.on(UpdateSecretVersionStageCommand).resolves({});
  return secret;
}

function expectNoValue(out: Captured): void {
  expect(out.stdout + out.stderr).not.toContain(PASSWORD);
}

beforeEach(() => {
  sm.reset();
  sts.reset();
  eb.reset();
  sts.on(GetCallerIdentityCommand).resolves({ Arn: ALICE });
  eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
});

describe('rollback', () => {
  it('moves AWSCURRENT to AWSPREVIOUS with RemoveFromVersionId = the current version for alternating users', async () => {
    // GIVEN a database secret with masterarn: rotated by alternating users
    const secret = givenSecret({
      values: { [V2]: databaseValue({ masterarn: MASTER }), [V1]: databaseValue() },
    });
    // WHEN
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    // THEN
    expect(out.code).toBe(0);
    expect(sm.commandCalls(UpdateSecretVersionStageCommand).map((c) => c.args[0].input)).toEqual([
      { SecretId: secret.ARN, VersionStage: 'AWSCURRENT', MoveToVersionId: V1, RemoveFromVersionId: V2 },
    ]);
    expect(out.stdout).toContain('kind:     database/alternating-users (from secret value shape)');
    expect(out.stdout).toContain(`AWSCURRENT   ${V2} -> ${V1}`);
    expect(out.stdout).toContain(`AWSPREVIOUS  ${V1} -> ${V2}  (moved by Secrets Manager)`);
    expectNoValue(out);
  });

  it('refuses a single-user secret, names the reason, and changes nothing', async () => {
    givenSecret({ tags: { 'secret-rotation:kind': 'database', 'secret-rotation:strategy': 'single-user' } });
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      "error: secret orders: rollback refused: single-user rotation changed the user's password at the database: the previous password no longer works there; rotate again instead\n",
    );
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  it("refuses an rds-master secret whose strategy comes from the rotation function's environment", async () => {
    givenSecret({ rotationFunction: FUNCTION_ARN, values: { [V2]: databaseValue({ masterarn: MASTER }) } });
    const describe = jest.fn(async () => ({ environment: { ROTATION_STRATEGY: 'rds-master' } }));
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1'], { functions: { describe } });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(
      'rollback refused: rds-master rotation changed the master password through the RDS API',
    );
    expect(describe).toHaveBeenCalledWith(FUNCTION_ARN);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('refuses a database secret without masterarn: single-user and rds-master both break the old password', async () => {
    givenSecret({ values: { [V2]: databaseValue(), [V1]: databaseValue() } });
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(
      'rollback refused: it is rotated by single-user or rds-master (from the secret value shape), and neither allows a rollback',
    );
    expectNoValue(out);
  });

  it('takes --strategy over the tags', async () => {
    givenSecret({ tags: { 'secret-rotation:strategy': 'single-user' } });
    const out = await run([
      'rollback',
      'orders',
      '--yes',
      '--reason',
      'INC-1',
      '--strategy',
      'alternating-users',
    ]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('kind:     database/alternating-users (from --strategy)');
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(1);
  });

  it('refuses while a rotation is in progress, before looking at the kind', async () => {
    givenSecret({
      stages: { [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT'], [V3]: ['AWSPENDING'] },
      tags: { 'secret-rotation:strategy': 'alternating-users' },
    });
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      `error: secret orders: rollback refused: a rotation is in progress (AWSPENDING is on version ${V3}, which is not AWSCURRENT); let it finish or clear it first\n`,
    );
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  it('refuses when there is no AWSPREVIOUS', async () => {
    givenSecret({
      stages: { [V2]: ['AWSCURRENT'] },
      tags: { 'secret-rotation:strategy': 'alternating-users' },
    });
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('rollback refused: there is no AWSPREVIOUS version to go back to');
  });

  it('refuses a secret whose kind cannot be told, without quoting its value', async () => {
    givenSecret({ values: { [V2]: PASSWORD } });
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('rollback refused: cannot tell how this secret is rotated: pass --strategy');
    expectNoValue(out);
  });

  it('first removes AWSPENDING left on the current version, so the rolled-back version does not look like a rotation in progress', async () => {
    const secret = givenSecret({
      stages: { [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT', 'AWSPENDING'] },
      tags: { 'secret-rotation:strategy': 'alternating-users' },
    });
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(0);
    expect(sm.commandCalls(UpdateSecretVersionStageCommand).map((c) => c.args[0].input)).toEqual([
      { SecretId: secret.ARN, VersionStage: 'AWSPENDING', RemoveFromVersionId: V2 },
      { SecretId: secret.ARN, VersionStage: 'AWSCURRENT', MoveToVersionId: V1, RemoveFromVersionId: V2 },
    ]);
  });

  it('allows a JWT rollback while the previous signing key is still in the published key set', async () => {
    const keySet = (keys: Array<[string, string]>) =>
      JSON.stringify({ format: 'jwt-signing-key-set', keys: keys.map(([kid, state]) => ({ kid, state })) });
    givenSecret({
      tags: { 'secret-rotation:kind': 'jwt' },
      values: {
        [V1]: keySet([
          ['k-old', 'current'],
          ['k-mid', 'next'],
        ]),
        [V2]: keySet([
          ['k-old', 'previous'],
          ['k-mid', 'current'],
          ['k-new', 'next'],
        ]),
      },
    });
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('allowed:  the previous signing key (kid k-old) is still published');
  });

  it('refuses a JWT rollback once the previous signing key has been dropped', async () => {
    const keySet = (keys: Array<[string, string]>) =>
      JSON.stringify({ keys: keys.map(([kid, state]) => ({ kid, state })) });
    givenSecret({
      tags: { 'secret-rotation:kind': 'jwt' },
      values: {
        [V1]: keySet([['k-old', 'current']]),
        [V2]: keySet([
          ['k-mid', 'current'],
          ['k-new', 'next'],
        ]),
      },
    });
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(
      'the previous signing key (kid k-old) has been dropped from the published key set',
    );
  });

  it("allows an API key rollback before the previous key's revocation deadline and refuses it after", async () => {
    const tag = `secret-rotation:api-key:revoke-after:${V1}`;
    givenSecret({ tags: { 'secret-rotation:kind': 'api-key', [tag]: '2026-06-02T00:00:00Z' } });
    const before = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain('its grace period runs until 2026-06-02T00:00:00Z');

    sm.reset();
    givenSecret({ tags: { 'secret-rotation:kind': 'api-key', [tag]: '2026-06-01T11:00:00Z' } });
    const after = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain(
      "rollback refused: the previous API key's grace period ended at 2026-06-01T11:00:00Z",
    );
  });

  it('refuses an API key rollback while an emergency revocation is requested', async () => {
    givenSecret({ tags: { 'secret-rotation:kind': 'api-key', 'secret-rotation:api-key:emergency': 'yes' } });
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('an emergency revocation is requested');
  });

  it('with --dry-run shows the plan and changes nothing', async () => {
    givenSecret({ tags: { 'secret-rotation:strategy': 'alternating-users' } });
    const out = await run(['rollback', 'orders', '--dry-run']);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`plan:     AWSCURRENT ${V2} -> ${V1}`);
    expect(out.stdout).toContain('Dry run: nothing changed.');
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  it('without --yes and no terminal to ask on is a usage error that calls nothing', async () => {
    const out = await run(['rollback', 'orders']);
    expect(out.code).toBe(2);
    expect(out.stderr).toBe(
      "error: rollback moves AWSCURRENT: pass --yes to confirm, or --dry-run to see what would move\nRun 'secret-rotation rollback --help' for usage.\n",
    );
    expect(sm.calls()).toHaveLength(0);
  });

  it('asks on a terminal and changes nothing when the answer is no', async () => {
    givenSecret({ tags: { 'secret-rotation:strategy': 'alternating-users' } });
    const confirm = jest.fn(async () => false);
    const out = await run(['rollback', 'orders', '--reason', 'INC-1'], { interactive: true, confirm });
    expect(confirm).toHaveBeenCalledWith(`Move AWSCURRENT of orders back to ${V1}? [y/N] `);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe('error: secret orders: rollback not confirmed; nothing changed\n');
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  it('prints the documented JSON for a rollback and for a refusal', async () => {
    const secret = givenSecret({ tags: { 'secret-rotation:strategy': 'alternating-users' } });
    const done = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1', '--json']);
    expect(JSON.parse(done.stdout) as RollbackJson).toEqual({
      secret: 'orders',
      arn: secret.ARN,
      kind: 'database',
      strategy: 'alternating-users',
      kindSource: 'tags',
      allowed: true,
      reason:
        'alternating users: the previous user keeps its password at the database until the next rotation',
      dryRun: false,
      rolledBack: true,
      fromVersionId: V2,
      toVersionId: V1,
      moves: [
        { stage: 'AWSCURRENT', from: V2, to: V1 },
        { stage: 'AWSPREVIOUS', from: V1, to: V2 },
      ],
      notes: [],
      audit: { reason: 'INC-1', actor: null, eventBus: null, published: false, error: 'no event bus' },
    });

    sm.reset();
    givenSecret({ tags: { 'secret-rotation:strategy': 'single-user' } });
    const refused = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1', '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      allowed: false,
      rolledBack: false,
      strategy: 'single-user',
      moves: [],
    });
    expect(refused.stderr).toMatch(/^error: secret orders: rollback refused: single-user rotation/);
  });

  it('rejects an unknown --strategy and contradictory --dry-run --yes as usage errors', async () => {
    const strategy = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1', '--strategy', 'magic']);
    expect(strategy.code).toBe(2);
    expect(strategy.stderr).toContain(
      "--strategy must be one of single-user, alternating-users, rds-master, jwks, api-gateway, http, self-issued, database, jwt, api-key or <kind>/<strategy>, got 'magic'",
    );
    const both = await run(['rollback', 'orders', '--yes', '--reason', 'INC-1', '--dry-run']);
    expect(both.code).toBe(2);
    expect(sm.calls()).toHaveLength(0);
  });
});

describe('rollback in the audit trail', () => {
  const alternating = { 'secret-rotation:strategy': 'alternating-users' };

  it("publishes Secret Rolled Back with who, why and both versions on the secret's bus, and audit reads it back", async () => {
    // GIVEN a secret whose audit events go to the bus named by its tag
    const secret = givenSecret({
      tags: { ...alternating, 'secret-rotation:event-bus': 'ops-bus' },
      values: { [V2]: databaseValue({ masterarn: MASTER }) },
    });
    // WHEN
    const out = await run([
      'rollback',
      'orders',
      '--yes',
      '--reason',
      'INC-7 reporting job broken',
      '--json',
    ]);
    // THEN one event, on that bus, from the operators' source, with the caller's STS identity
    expect(out.code).toBe(0);
    const entries = eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []);
    expect(entries).toHaveLength(1);
    const entry = entries[0] as { EventBusName: string; Source: string; DetailType: string; Detail: string };
    expect(entry).toMatchObject({
      EventBusName: 'ops-bus',
      Source: AUDIT_SOURCE,
      DetailType: 'Secret Rolled Back',
      Resources: [secret.ARN],
    });
    expect(JSON.parse(entry.Detail)).toMatchObject({
      secretArn: secret.ARN,
      actor: ALICE,
      reason: 'INC-7 reporting job broken',
      fromVersionId: V2,
      toVersionId: V1,
    });
    expect(entry.Detail).not.toContain(PASSWORD);
    // the audit log line (the event as EventBridge delivers it) reads back as a rollback by alice
    const record = parseAuditEvent(
      JSON.stringify({
        id: 'e-1',
        source: entry.Source,
        'detail-type': entry.DetailType,
        time: '2026-06-01T12:00:00Z',
        resources: [secret.ARN],
        detail: JSON.parse(entry.Detail),
      }),
    );
    expect(record).toMatchObject({
      action: AuditAction.ROLLED_BACK,
      actor: ALICE,
      versionId: V1,
      reason: 'INC-7 reporting job broken',
      detail: `AWSCURRENT back from ${V2}`,
    });
    expect((JSON.parse(out.stdout) as RollbackJson).audit).toEqual({
      reason: 'INC-7 reporting job broken',
      actor: ALICE,
      eventBus: 'ops-bus',
      published: true,
      error: null,
    });
    expectNoValue(out);
  });

  it('takes --event-bus over the tag, and SECRET_ROTATION_EVENT_BUS when neither names one', async () => {
    givenSecret({ tags: { ...alternating, 'secret-rotation:event-bus': 'tagged-bus' } });
    await run(['rollback', 'orders', '--yes', '--reason', 'r', '--event-bus', 'flag-bus']);
    sm.reset();
    givenSecret({ tags: alternating });
    await run(['rollback', 'orders', '--yes', '--reason', 'r'], {
      env: { SECRET_ROTATION_EVENT_BUS: 'env-bus' },
    });
    expect(eb.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries?.[0]?.EventBusName)).toEqual([
      'flag-bus',
      'env-bus',
    ]);
  });

  it('needs --reason for a rollback (not for --dry-run), before calling anything', async () => {
    const out = await run(['rollback', 'orders', '--yes']);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('rollback: --reason is required');
    expect(sm.calls()).toHaveLength(0);
  });

  it('does not move a label when the caller cannot be identified', async () => {
    givenSecret({ tags: { ...alternating, 'secret-rotation:event-bus': 'ops-bus' } });
    sts.on(GetCallerIdentityCommand).rejects(new Error('ExpiredToken'));
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'r']);
    expect(out.code).toBe(1);
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  it('keeps a done rollback when the event is rejected, and exits 1 saying so loudly', async () => {
    givenSecret({ tags: { ...alternating, 'secret-rotation:event-bus': 'ops-bus' } });
    eb.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }],
    });
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'r', '--json']);
    expect(out.code).toBe(1);
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(1);
    const json = JSON.parse(out.stdout) as RollbackJson;
    expect(json.rolledBack).toBe(true);
    expect(json.audit).toMatchObject({ published: false, error: 'InternalFailure: try again' });
    expect(out.stderr).toContain(
      `rolled back (AWSCURRENT ${V2} -> ${V1}; the rollback stands), but its audit event was NOT published to ops-bus: InternalFailure: try again`,
    );
  });

  it('keeps a done rollback when EventBridge cannot be reached', async () => {
    givenSecret({ tags: { ...alternating, 'secret-rotation:event-bus': 'ops-bus' } });
    eb.on(PutEventsCommand).rejects(new Error('connect ECONNREFUSED'));
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'r']);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('Rolled back');
    expect(out.stderr).toContain('the rollback stands');
    expect(out.stderr).toContain('ECONNREFUSED');
  });

  it('warns on stderr that a rollback with no bus known is not in the audit trail', async () => {
    givenSecret({ tags: alternating });
    const out = await run(['rollback', 'orders', '--yes', '--reason', 'r']);
    expect(out.code).toBe(0);
    expect(out.stderr).toContain('the rollback is NOT in the audit trail: no event bus');
    expect(sts.calls()).toHaveLength(0);
  });
});
