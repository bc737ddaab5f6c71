import { GetSecretValueCommand, ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import type { HistoryJson } from '../../../cli/commands/history';
import type { RollbackJson } from '../../../cli/commands/rollback';
import type { RotateJson } from '../../../cli/commands/rotate';
import type { StatusJson } from '../../../cli/commands/status';
import {
  type CliRun,
  type CliWorld,
  canLogIn,
  configureRotation,
  createAppUser,
  createSecret,
  databaseSecret,
  labels,
  runCli,
  startWorld,
} from './harness';

const INITIAL = 'Initial-Pa55word';
const SINGLE = 'cli/orders/single-user';
const ALTERNATING = 'cli/orders/alternating-users';
const WRONG_PASSWORD = 'cli/billing/wrong-password';
const NOT_A_DATABASE = 'cli/broken/not-a-database';
const AWS_PATH = 'cli/aws-path';

let world: CliWorld;
/** Every output of every run, to prove at the end that none holds a secret value. */
const outputs: string[] = [];

/** Runs the CLI against moto with `--endpoint-url`, with the database function's configuration. */
async function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  const out = await runCli(world, [...args, '--endpoint-url', world.aws.endpoint], {
    DB_CA_BUNDLE_PATH: world.caPath,
    ...env,
  });
  outputs.push(out.stdout, out.stderr);
  return out;
}

async function currentCredentials(name: string): Promise<{ username: string; password: string }> {
  const out = await world.secrets.send(
    new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }),
  );
  return JSON.parse(out.SecretString ?? '{}');
}

function stepLines(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => /^ +\+\d+\.\d s {2}/.test(line))
    .map((line) => line.trim().split(/\s+/).slice(2, 4).join(' '));
}

beforeAll(async () => {
  world = await startWorld();
  const { db } = world;
  for (const user of ['orders_app', 'orders_alt', 'billing']) await createAppUser(db, user, INITIAL);
  const master = await createSecret(world, 'cli/master', databaseSecret(db, db.adminUser, db.adminPassword));
  await createSecret(world, SINGLE, databaseSecret(db, 'orders_app', INITIAL), {
    'secret-rotation:kind': 'database',
  });
  await createSecret(world, ALTERNATING, databaseSecret(db, 'orders_alt', INITIAL, { masterarn: master }));
  await createSecret(world, WRONG_PASSWORD, databaseSecret(db, 'billing', 'not-the-Pa55word'));
  await createSecret(world, NOT_A_DATABASE, JSON.stringify({ engine: 'postgres' }));
  await createSecret(world, AWS_PATH, JSON.stringify({ token: 'aws-path-value' }));
  await configureRotation(world, ALTERNATING, 30);
  await configureRotation(world, AWS_PATH, 7);
}, 120_000);

afterAll(async () => {
  await world?.stop();
});

describe('secret-rotation against moto and a real PostgreSQL', () => {
  it('rotates a single-user secret in-process, prints each step, and the new password is the one the database takes', async () => {
    const before = await currentCredentials(SINGLE);
    const out = await cli(['rotate', SINGLE, '--local-function', 'database'], {
      ROTATION_STRATEGY: 'single-user',
    });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(stepLines(out.stdout)).toEqual([
      'createSecret ok',
      'setSecret ok',
      'testSecret ok',
      'finishSecret ok',
    ]);
    const after = await currentCredentials(SINGLE);
    expect(out.stdout).toContain(`Rotated ${SINGLE} in `);
    expect(out.stdout).toContain(`AWSCURRENT is now version ${(await labels(world, SINGLE)).AWSCURRENT}`);
    expect(after.password).not.toBe(before.password);
    expect(await canLogIn(world.db, after.username, after.password)).toBe(true);
    expect(await canLogIn(world.db, before.username, before.password)).toBe(false);
  }, 120_000);

  it('prints the documented JSON for a rotation with --json, and nothing else on stdout', async () => {
    const out = await cli(['rotate', ALTERNATING, '--local-function', 'database', '--json'], {
      ROTATION_STRATEGY: 'alternating-users',
    });
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as RotateJson;
    const now = await labels(world, ALTERNATING);
    expect(result).toMatchObject({
      secret: ALTERNATING,
      mode: 'local',
      rotationFunction: 'local:database',
      outcome: 'rotated',
      succeeded: true,
      versionId: now.AWSCURRENT,
      previousVersionId: now.AWSPREVIOUS,
      error: null,
    });
    expect(result.steps.map((s) => `${s.attempt}:${s.step}:${s.status}`)).toEqual([
      '1:createSecret:done',
      '1:setSecret:done',
      '1:testSecret:done',
      '1:finishSecret:done',
    ]);
    expect((await currentCredentials(ALTERNATING)).username).toBe('orders_alt_clone');
  }, 120_000);

  it('exits 1 with one line naming the failed step when createSecret rejects the secret, in text and in JSON', async () => {
    const text = await cli(['rotate', NOT_A_DATABASE, '--local-function', 'database'], {
      ROTATION_STRATEGY: 'single-user',
    });
    expect(text.code).toBe(1);
    expect(stepLines(text.stdout)).toEqual(['createSecret FAILED']);
    expect(text.stderr.split('\n')).toHaveLength(2);
    expect(text.stderr).toMatch(
      new RegExp(
        `^error: secret ${NOT_A_DATABASE}: rotation failed at createSecret \\(version [0-9a-f-]{36}\\): InvalidSecretValueError: `,
      ),
    );

    const json = await cli(['rotate', NOT_A_DATABASE, '--local-function', 'database', '--json'], {
      ROTATION_STRATEGY: 'single-user',
    });
    expect(json.code).toBe(1);
    const result = JSON.parse(json.stdout) as RotateJson;
    expect(result).toMatchObject({
      outcome: 'failed',
      succeeded: false,
      error: { step: 'createSecret', name: 'InvalidSecretValueError' },
    });
  }, 120_000);

  it('exits 1 when setSecret cannot log in, leaves AWSCURRENT alone, and then refuses a new rotation over the pending version', async () => {
    const before = await labels(world, WRONG_PASSWORD);
    const failed = await cli(['rotate', WRONG_PASSWORD, '--local-function', 'database'], {
      ROTATION_STRATEGY: 'single-user',
    });
    expect(failed.code).toBe(1);
    expect(stepLines(failed.stdout)).toEqual(['createSecret ok', 'setSecret FAILED']);
    expect(failed.stderr).toMatch(
      new RegExp(`^error: secret ${WRONG_PASSWORD}: rotation failed at setSecret `),
    );
    const after = await labels(world, WRONG_PASSWORD);
    expect(after.AWSCURRENT).toBe(before.AWSCURRENT);
    expect(after.AWSPENDING).toBeDefined();

    const again = await cli(['rotate', WRONG_PASSWORD, '--local-function', 'database'], {
      ROTATION_STRATEGY: 'single-user',
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      `a previous rotation is not complete: AWSPENDING is on version ${after.AWSPENDING}`,
    );
  }, 120_000);

  it('shows every secret in a table, and the documented JSON with the failed rotation as stuck', async () => {
    const text = await cli(['status']);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^name +kind +rotation +schedule +last rotated +next rotation +overdue +pending$/,
    );
    expect(lines.find((l) => l.startsWith(`${ALTERNATING} `))).toMatch(
      / enabled +every 30d +never +\d{4}-\d\d-\d\d \d\d:\d\d \(in 29d\) +no +-$/,
    );
    expect(lines.find((l) => l.startsWith(`${SINGLE} `))).toMatch(/ database +disabled +- +never +- +- +-$/);
    expect(lines.find((l) => l.startsWith(`${WRONG_PASSWORD} `))).toMatch(/ rotating \d+s \([0-9a-f]{8}\)$/);

    const json = await cli(['status', '--json', '--stuck-after', '0s', '--filter', 'name=cli/billing']);
    const report = JSON.parse(json.stdout) as StatusJson;
    expect(report.secrets.map((s) => s.name)).toEqual([WRONG_PASSWORD]);
    expect(report.secrets[0]).toMatchObject({
      rotationEnabled: false,
      overdue: false,
      pending: { versionId: (await labels(world, WRONG_PASSWORD)).AWSPENDING, stuck: true },
    });

    const check = await cli(['status', '--check', '--stuck-after', '0s']);
    expect(check.code).toBe(1);
    expect(check.stderr).toBe('error: 1 with a stuck AWSPENDING (status --check)\n');
  }, 120_000);

  it("lists a secret's versions with their labels, in text and in JSON", async () => {
    const now = await labels(world, ALTERNATING);
    const text = await cli(['history', ALTERNATING]);
    expect(text.code).toBe(0);
    // finishSecret leaves AWSPENDING on the version it made current (a finished rotation, not one in progress).
    expect(text.stdout).toMatch(new RegExp(`\\n${now.AWSCURRENT} +AWSPENDING, AWSCURRENT +\\d{4}-`));
    expect(text.stdout).not.toContain('which is not AWSCURRENT');
    expect(text.stdout).toMatch(new RegExp(`\\n${now.AWSPREVIOUS} +AWSPREVIOUS +\\d{4}-`));
    expect(text.stdout).toContain('(none: deprecated)');

    const json = JSON.parse((await cli(['history', ALTERNATING, '--json'])).stdout) as HistoryJson;
    expect(json.secret).toBe(ALTERNATING);
    expect(json.versions[0]).toMatchObject({ versionId: now.AWSCURRENT });
    expect([...(json.versions[0]?.stages ?? [])].sort()).toEqual(['AWSCURRENT', 'AWSPENDING']);
    expect(json.versions[1]).toMatchObject({ versionId: now.AWSPREVIOUS, stages: ['AWSPREVIOUS'] });
  }, 120_000);

  it('rolls an alternating-users secret back, and the rolled-back credentials still log in', async () => {
    const before = await labels(world, ALTERNATING);
    const dryRun = await cli(['rollback', ALTERNATING, '--dry-run']);
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain('kind:     database/alternating-users (from secret value shape)');
    expect(dryRun.stdout).toContain('Dry run: nothing changed.');
    expect(await labels(world, ALTERNATING)).toEqual(before);

    const out = await cli(['rollback', ALTERNATING, '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`  AWSCURRENT   ${before.AWSCURRENT} -> ${before.AWSPREVIOUS}\n`);
    const after = await labels(world, ALTERNATING);
    expect(after.AWSCURRENT).toBe(before.AWSPREVIOUS);
    expect(after.AWSPREVIOUS).toBe(before.AWSCURRENT);
    const credentials = await currentCredentials(ALTERNATING);
    expect(credentials.username).toBe('orders_alt');
    expect(await canLogIn(world.db, credentials.username, credentials.password)).toBe(true);

    const forward = JSON.parse(
      (await cli(['rollback', ALTERNATING, '--yes', '--reason', 'INC-1', '--json'])).stdout,
    ) as RollbackJson;
    expect(forward).toMatchObject({
      allowed: true,
      rolledBack: true,
      strategy: 'alternating-users',
      kindSource: 'secret value shape',
      fromVersionId: before.AWSPREVIOUS,
      toVersionId: before.AWSCURRENT,
    });
    expect(forward.moves).toEqual([
      { stage: 'AWSCURRENT', from: before.AWSPREVIOUS, to: before.AWSCURRENT },
      { stage: 'AWSPREVIOUS', from: before.AWSCURRENT, to: before.AWSPREVIOUS },
    ]);
  }, 120_000);

  it('refuses to roll a single-user secret back, in text and in JSON, and leaves its labels alone', async () => {
    const before = await labels(world, SINGLE);
    const out = await cli(['rollback', SINGLE, '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      `error: secret ${SINGLE}: rollback refused: it is rotated by single-user or rds-master (from the secret value shape), and neither allows a rollback: single-user rotation changed the user's password at the database: the previous password no longer works there; rotate again instead\n`,
    );
    const json = await cli(['rollback', SINGLE, '--yes', '--reason', 'INC-1', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      allowed: false,
      rolledBack: false,
      kind: 'database',
      kindSource: 'tags',
    });
    expect(await labels(world, SINGLE)).toEqual(before);
  }, 120_000);

  it('refuses to roll back a secret whose rotation is in progress', async () => {
    const out = await cli(['rollback', WRONG_PASSWORD, '--yes', '--reason', 'INC-1']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('rollback refused: a rotation is in progress');
  }, 60_000);

  it('follows RotateSecret on the AWS path to AWSCURRENT (moto copies the value instead of invoking a function)', async () => {
    const before = await labels(world, AWS_PATH);
    const out = await cli(['rotate', AWS_PATH, '--json', '--interval', '200ms', '--timeout', '30s']);
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as RotateJson;
    expect(result).toMatchObject({ mode: 'aws', outcome: 'rotated', previousVersionId: before.AWSCURRENT });
    expect((await labels(world, AWS_PATH)).AWSCURRENT).toBe(result.versionId);
    // moto has no such Lambda function: the CLI says where it looked for the logs instead
    expect(result.notes).toContain(
      "could not read the function's log group (ResourceNotFoundException); using /aws/lambda/cli-aws-path-rotation",
    );
  }, 60_000);

  it('works with AWS_ENDPOINT_URL alone, and names a missing secret in one line with exit code 1', async () => {
    const env = await runCli(world, ['history', SINGLE], { AWS_ENDPOINT_URL: world.aws.endpoint });
    expect(env.code).toBe(0);
    expect(env.stdout).toContain(SINGLE);
    const missing = await runCli(world, ['history', 'cli/nope'], { AWS_ENDPOINT_URL: world.aws.endpoint });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `error: secret cli/nope: not found (region us-east-1, endpoint ${world.aws.endpoint}): Secrets Manager can't find the specified secret.\n`,
    );
    outputs.push(env.stdout, env.stderr, missing.stdout, missing.stderr);
  }, 60_000);

  it('exits 2 on a usage error without touching anything', async () => {
    const out = await cli(['rollback', ALTERNATING]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('pass --yes to confirm, or --dry-run');
  }, 60_000);

  it('never printed a secret value in any output', async () => {
    const values = new Set<string>();
    for (const name of [SINGLE, ALTERNATING, WRONG_PASSWORD, NOT_A_DATABASE, AWS_PATH]) {
      const versions = await world.secrets.send(
        new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }),
      );
      for (const v of versions.Versions ?? []) {
        // moto cannot read a version that lost every label (AWS can); here those are the copies its
        // RotateSecret made of values that other versions still hold.
        const out = await world.secrets
          .send(new GetSecretValueCommand({ SecretId: name, VersionId: v.VersionId }))
          .catch(() => undefined);
        const parsed = JSON.parse(out?.SecretString ?? '{}') as Record<string, unknown>;
        for (const key of ['password', 'token'])
          if (typeof parsed[key] === 'string') values.add(parsed[key] as string);
      }
    }
    expect(values.size).toBeGreaterThan(5);
    const all = outputs.join('\n');
    for (const value of values) expect(all).not.toContain(value);
  }, 60_000);
});
