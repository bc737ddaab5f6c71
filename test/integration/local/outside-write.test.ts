import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { createDatabaseHandler } from '../../../functions/database/create-handler';
import type { LocalDatabase } from '../../../local/databases/common';
import { startPostgres } from '../../../local/databases/postgres';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';
import { adminFor, appSecret } from '../database/harness';

let aws: LocalAws;
let db: LocalDatabase;
let secrets: SecretsManagerClient;
let dir: string;
let caPath: string;

beforeAll(async () => {
  [aws, db] = await Promise.all([startMoto(), startPostgres({ tls: true })]);
  secrets = new SecretsManagerClient(aws.clientConfig);
  dir = mkdtempSync(join(tmpdir(), 'outside-write-ca-'));
  caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, db.caPem ?? '');
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([aws?.stop(), db?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

async function currentValue(name: string): Promise<{ username: string; password: string }> {
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }));
  return JSON.parse(out.SecretString ?? '{}');
}

describe('an outside AWSPENDING during a single-user rotation, on PostgreSQL through moto (finding 13)', () => {
  it('the next rotation finds the working password in the version that lost its label, and AWSCURRENT logs in again', async () => {
    // GIVEN a rotation whose setSecret changed the password, then another version staged AWSPENDING
    const admin = adminFor(db);
    const name = 'db/outside-write/single-user';
    await admin.createAppUser('outside1', 'Initial-outside-password-1');
    await secrets.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: JSON.stringify(appSecret(db, 'outside1', 'Initial-outside-password-1')),
      }),
    );
    const driver = new RotationDriver(aws.clientConfig);
    const handler = createDatabaseHandler({
      secretsManager: driver.client,
      env: { ROTATION_STRATEGY: 'single-user', DB_CA_BUNDLE_PATH: caPath },
      sleep: async () => {},
    });
    const { secretArn, token } = await driver.startRotation(name);
    for (const Step of ['createSecret', 'setSecret'])
      await handler({ SecretId: secretArn, ClientRequestToken: token, Step });
    const outside = '00000000-0000-4000-8000-0000000000aa';
    await secrets.send(
      new PutSecretValueCommand({
        SecretId: secretArn,
        ClientRequestToken: outside,
        SecretString: JSON.stringify(appSecret(db, 'outside1', 'someone-elses-password-1')),
        VersionStages: ['AWSPENDING'],
      }),
    );
    await expect(
      handler({ SecretId: secretArn, ClientRequestToken: token, Step: 'testSecret' }),
    ).rejects.toThrow('has AWSPENDING on version 00000000-0000-4000-8000-0000000000aa');
    const locked = await currentValue(name);
    expect(await admin.canUse(locked.username, locked.password)).toBe(false);
    await secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretArn,
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: outside,
      }),
    );
    // WHEN the next rotation runs
    const next = await driver.rotate(name, handler, { maxAttempts: 1 });
    // THEN
    expect(next).toMatchObject({ succeeded: true, attempts: 1 });
    const current = await currentValue(name);
    expect(await admin.canUse(current.username, current.password)).toBe(true);
  });
});
