import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { RollbackJson } from '../../../cli/commands/rollback';
import { type Captured, described, FUNCTION_ARN, run, V1, V2, V3 } from './harness';

const sm = mockClient(SecretsManagerClient);
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

beforeEach(() => sm.reset());

describe('rollback', () => {
  it('moves AWSCURRENT to AWSPREVIOUS with RemoveFromVersionId = the current version for alternating users', async () => {
    // GIVEN a database secret with masterarn: rotated by alternating users
    const secret = givenSecret({
      values: { [V2]: databaseValue({ masterarn: MASTER }), [V1]: databaseValue() },
    });
    // WHEN
    const out = await run(['rollback', 'orders', '--yes']);
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
    const out = await run(['rollback', 'orders', '--yes']);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      "error: secret orders: rollback refused: single-user rotation changed the user's password at the database: the previous password no longer works there; rotate again instead\n",
    );
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  it("refuses an rds-master secret whose strategy comes from the rotation function's environment", async () => {
    givenSecret({ rotationFunction: FUNCTION_ARN, values: { [V2]: databaseValue({ masterarn: MASTER }) } });
    const describe = jest.fn(async () => ({ environment: { ROTATION_STRATEGY: 'rds-master' } }));
    const out = await run(['rollback', 'orders', '--yes'], { functions: { describe } });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(
      'rollback refused: rds-master rotation changed the master password through the RDS API',
    );
    expect(describe).toHaveBeenCalledWith(FUNCTION_ARN);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('refuses a database secret without masterarn: single-user and rds-master both break the old password', async () => {
    givenSecret({ values: { [V2]: databaseValue(), [V1]: databaseValue() } });
    const out = await run(['rollback', 'orders', '--yes']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(
      'rollback refused: it is rotated by single-user or rds-master (from the secret value shape), and neither allows a rollback',
    );
    expectNoValue(out);
  });

  it('takes --strategy over the tags', async () => {
    givenSecret({ tags: { 'secret-rotation:strategy': 'single-user' } });
    const out = await run(['rollback', 'orders', '--yes', '--strategy', 'alternating-users']);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('kind:     database/alternating-users (from --strategy)');
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(1);
  });

  it('refuses while a rotation is in progress, before looking at the kind', async () => {
    givenSecret({
      stages: { [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT'], [V3]: ['AWSPENDING'] },
      tags: { 'secret-rotation:strategy': 'alternating-users' },
    });
    const out = await run(['rollback', 'orders', '--yes']);
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
    const out = await run(['rollback', 'orders', '--yes']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('rollback refused: there is no AWSPREVIOUS version to go back to');
  });

  it('refuses a secret whose kind cannot be told, without quoting its value', async () => {
    givenSecret({ values: { [V2]: PASSWORD } });
    const out = await run(['rollback', 'orders', '--yes']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('rollback refused: cannot tell how this secret is rotated: pass --strategy');
    expectNoValue(out);
  });

  it('first removes AWSPENDING left on the current version, so the rolled-back version does not look like a rotation in progress', async () => {
    const secret = givenSecret({
      stages: { [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT', 'AWSPENDING'] },
      tags: { 'secret-rotation:strategy': 'alternating-users' },
    });
    const out = await run(['rollback', 'orders', '--yes']);
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
    const out = await run(['rollback', 'orders', '--yes']);
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
    const out = await run(['rollback', 'orders', '--yes']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(
      'the previous signing key (kid k-old) has been dropped from the published key set',
    );
  });

  it("allows an API key rollback before the previous key's revocation deadline and refuses it after", async () => {
    const tag = `secret-rotation:api-key:revoke-after:${V1}`;
    givenSecret({ tags: { 'secret-rotation:kind': 'api-key', [tag]: '2026-06-02T00:00:00Z' } });
    const before = await run(['rollback', 'orders', '--yes']);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain('its grace period runs until 2026-06-02T00:00:00Z');

    sm.reset();
    givenSecret({ tags: { 'secret-rotation:kind': 'api-key', [tag]: '2026-06-01T11:00:00Z' } });
    const after = await run(['rollback', 'orders', '--yes']);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain(
      "rollback refused: the previous API key's grace period ended at 2026-06-01T11:00:00Z",
    );
  });

  it('refuses an API key rollback while an emergency revocation is requested', async () => {
    givenSecret({ tags: { 'secret-rotation:kind': 'api-key', 'secret-rotation:api-key:emergency': 'yes' } });
    const out = await run(['rollback', 'orders', '--yes']);
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
    const out = await run(['rollback', 'orders'], { interactive: true, confirm });
    expect(confirm).toHaveBeenCalledWith(`Move AWSCURRENT of orders back to ${V1}? [y/N] `);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe('error: secret orders: rollback not confirmed; nothing changed\n');
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  it('prints the documented JSON for a rollback and for a refusal', async () => {
    const secret = givenSecret({ tags: { 'secret-rotation:strategy': 'alternating-users' } });
    const done = await run(['rollback', 'orders', '--yes', '--json']);
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
    });

    sm.reset();
    givenSecret({ tags: { 'secret-rotation:strategy': 'single-user' } });
    const refused = await run(['rollback', 'orders', '--yes', '--json']);
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
    const strategy = await run(['rollback', 'orders', '--yes', '--strategy', 'magic']);
    expect(strategy.code).toBe(2);
    expect(strategy.stderr).toContain(
      "--strategy must be one of single-user, alternating-users, rds-master, jwks, api-gateway, http, self-issued, database, jwt, api-key or <kind>/<strategy>, got 'magic'",
    );
    const both = await run(['rollback', 'orders', '--yes', '--dry-run']);
    expect(both.code).toBe(2);
    expect(sm.calls()).toHaveLength(0);
  });
});
