import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createDatabaseHandler } from '../../../functions/database/create-handler';
import type { LocalDatabase } from '../../../local/databases/common';
import { startMariaDb } from '../../../local/databases/mariadb';
import { startPostgres } from '../../../local/databases/postgres';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';
import { stagesAfterConfigurationTest } from '../../helpers/finished-labels';
import { adminFor, appSecret, masterSecret } from '../database/harness';

const engines: Array<[string, () => Promise<LocalDatabase>]> = [
  ['PostgreSQL', () => startPostgres({ tls: true })],
  ['MariaDB', () => startMariaDb({ tls: true })],
];

let aws: LocalAws;
let secrets: SecretsManagerClient;
let caDir: string;

beforeAll(async () => {
  aws = await startMoto();
  secrets = new SecretsManagerClient(aws.clientConfig);
  caDir = mkdtempSync(join(tmpdir(), 'immediately-false-ca-'));
}, 60_000);

afterAll(async () => {
  await aws?.stop();
  rmSync(caDir, { recursive: true, force: true });
});

async function secretState(name: string): Promise<string> {
  const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
  const current = await secrets.send(
    new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }),
  );
  return JSON.stringify({
    stages: stagesAfterConfigurationTest(described.VersionIdsToStages),
    current: [current.VersionId, current.SecretString],
  });
}

/** The version holding AWSPENDING, if any. */
async function pendingHolder(name: string): Promise<string | undefined> {
  const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
  return Object.entries(described.VersionIdsToStages ?? {}).find(([, l]) => l.includes('AWSPENDING'))?.[0];
}

describe.each(engines)(
  'PROTOCOL "RotateImmediately=false" with %s, through moto\'s RotateSecret',
  (_name, start) => {
    let db: LocalDatabase;
    let counter = 0;
    let caPath: string;

    beforeAll(async () => {
      db = await start();
      caPath = join(caDir, `${db.engine}-ca.pem`);
      writeFileSync(caPath, db.caPem ?? '');
    }, 120_000);

    afterAll(async () => {
      await db?.stop();
    });

    it.each([
      ['single-user', 'never rotated'],
      ['single-user', 'rotated once'],
      ['alternating-users', 'never rotated'],
      ['alternating-users', 'rotated once'],
    ] as const)(
      '%s: testSecret alone passes on a secret %s, and changes nothing',
      async (strategy, history) => {
        // GIVEN
        const admin = adminFor(db);
        const username = `immediate${++counter}`;
        const password = `Initial-${counter}-password-value`;
        await admin.createAppUser(username, password);
        const name = `db/immediately-false/${db.engine}/${strategy}/${counter}`;
        const master = await secrets.send(
          new CreateSecretCommand({ Name: `${name}/master`, SecretString: JSON.stringify(masterSecret(db)) }),
        );
        const extra = strategy === 'alternating-users' ? { masterarn: master.ARN } : {};
        await secrets.send(
          new CreateSecretCommand({
            Name: name,
            SecretString: JSON.stringify(appSecret(db, username, password, extra)),
          }),
        );
        const driver = new RotationDriver(aws.clientConfig);
        const handler = createDatabaseHandler({
          secretsManager: driver.client,
          env: { ROTATION_STRATEGY: strategy, DB_CA_BUNDLE_PATH: caPath },
          sleep: async () => {},
        });
        if (history === 'rotated once') expect((await driver.rotate(name, handler)).succeeded).toBe(true);
        const before = await secretState(name);
        const users = await admin.users();
        const current = JSON.parse(
          (await secrets.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' })))
            .SecretString ?? '{}',
        ) as { username: string; password: string };
        // WHEN
        const result = await driver.testConfiguration(name, handler);
        // THEN
        expect(result).toMatchObject({ ok: true });
        expect(await secretState(name)).toBe(before);
        expect(await pendingHolder(name)).toBeUndefined();
        expect(await admin.users()).toEqual(users);
        expect(await admin.canUse(current.username, current.password)).toBe(true);
      },
    );
  },
);
