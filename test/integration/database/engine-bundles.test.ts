import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDatabaseHandler, type DatabaseBundle } from '../../../functions/database/build-handler';
import { MYSQL_DATABASE_BUNDLE } from '../../../functions/database/mysql-bundle';
import { POSTGRES_DATABASE_BUNDLE } from '../../../functions/database/postgres-bundle';
import { ConfigurationError } from '../../../functions/rotation';
import type { LocalDatabase } from '../../../local/databases/common';
import { startMariaDb } from '../../../local/databases/mariadb';
import { startPostgres } from '../../../local/databases/postgres';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { STEPS } from '../../helpers/rotate';
import { adminFor, appSecret } from './harness';

// The per-engine bundles with their own driver loaders (no engine injected), against real servers: each
// rotates its engine, and refuses the other's secret with the database and the secret left as they were.

const engines: Array<[string, () => Promise<LocalDatabase>, DatabaseBundle, DatabaseBundle]> = [
  ['PostgreSQL', () => startPostgres({ tls: true }), POSTGRES_DATABASE_BUNDLE, MYSQL_DATABASE_BUNDLE],
  ['MariaDB', () => startMariaDb({ tls: true }), MYSQL_DATABASE_BUNDLE, POSTGRES_DATABASE_BUNDLE],
];

describe.each(engines)('%s and the per-engine bundles', (name, start, own, other) => {
  let db: LocalDatabase;
  let dir: string;
  let counter = 0;

  beforeAll(async () => {
    db = await start();
    dir = mkdtempSync(join(tmpdir(), 'engine-bundles-'));
    writeFileSync(join(dir, 'ca.pem'), db.caPem ?? '');
  }, 120_000);

  afterAll(async () => {
    await db?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function setUp(bundle: DatabaseBundle) {
    const admin = adminFor(db);
    const username = `bundle${name.toLowerCase()}${++counter}`;
    const password = `first-Password-${counter}`;
    await admin.createAppUser(username, password);
    const fake = new FakeSecretsManager();
    const handler = buildDatabaseHandler(
      {
        secretsManager: fake.client,
        env: { ROTATION_STRATEGY: 'single-user', DB_CA_BUNDLE_PATH: join(dir, 'ca.pem') },
        sleep: async () => {},
      },
      bundle,
    );
    const arn = fake.createSecret('app', appSecret(db, username, password));
    const run = (token: string, step: string) =>
      handler({ SecretId: arn, ClientRequestToken: token, Step: step });
    return { admin, username, password, fake, arn, run };
  }

  it(`rotates with its own bundle, loading the driver itself`, async () => {
    const { admin, username, password, fake, arn, run } = await setUp(own);
    const token = fake.startRotation(arn);
    for (const step of STEPS) await run(token, step);
    const current = fake.valueOf<{ password: string }>(arn);
    expect(await admin.canUse(username, current.password)).toBe(true);
    expect(await admin.canUse(username, password)).toBe(false);
  });

  it(`is refused by the other bundle in createSecret; the password and the secret stay as they were`, async () => {
    const { admin, username, password, fake, arn, run } = await setUp(other);
    const token = fake.startRotation(arn);
    const stages = fake.stages(arn);
    const error = await run(token, 'createSecret').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain(`is not in the bundle ${other.name}`);
    expect((error as Error).message).not.toContain(password);
    expect(fake.stages(arn)).toEqual(stages);
    expect(fake.secret(arn).versions.get(token)?.secretString).toBeUndefined();
    expect(await admin.canUse(username, password)).toBe(true);
  });
});
