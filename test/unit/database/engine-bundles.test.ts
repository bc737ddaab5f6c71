import { buildDatabaseHandler } from '../../../functions/database/build-handler';
import { GENERIC_DATABASE_BUNDLE } from '../../../functions/database/create-handler';
import { MYSQL_DATABASE_BUNDLE } from '../../../functions/database/mysql-bundle';
import { POSTGRES_DATABASE_BUNDLE } from '../../../functions/database/postgres-bundle';
import { ConfigurationError } from '../../../functions/rotation';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { FakeEngine } from './fake-engine';

const secretOf = (engine: string, username: string, password: string) => ({
  engine,
  host: 'db.internal',
  port: engine === 'postgres' ? 5432 : 3306,
  username,
  password,
  dbname: 'app',
});

function setUp(bundle: typeof POSTGRES_DATABASE_BUNDLE, strategy: string, engineName: string) {
  const fake = new FakeSecretsManager();
  const engine = new FakeEngine();
  const handler = buildDatabaseHandler(
    {
      secretsManager: fake.client,
      env: { ROTATION_STRATEGY: strategy, DB_CONNECT_ATTEMPTS: '1' },
      engineFor: () => engine,
      sleep: async () => {},
    },
    bundle,
  );
  const masterArn = fake.createSecret('master', secretOf(engineName, 'admin', 'admin-secret-pw'));
  engine.users.set('admin', 'admin-secret-pw');
  engine.users.set('app', 'first-password-1');
  const arn = fake.createSecret('app', {
    ...secretOf(engineName, 'app', 'first-password-1'),
    ...(strategy === 'alternating-users' ? { masterarn: masterArn } : {}),
  });
  const run = (token: string, step: string) =>
    handler({ SecretId: arn, ClientRequestToken: token, Step: step });
  return { fake, engine, arn, run };
}

const BUNDLES = {
  [POSTGRES_DATABASE_BUNDLE.name]: POSTGRES_DATABASE_BUNDLE,
  [MYSQL_DATABASE_BUNDLE.name]: MYSQL_DATABASE_BUNDLE,
  [GENERIC_DATABASE_BUNDLE.name]: GENERIC_DATABASE_BUNDLE,
};
const bundleNamed = (name: string) => BUNDLES[name] ?? GENERIC_DATABASE_BUNDLE;

describe('one database bundle per engine', () => {
  it.each([
    [POSTGRES_DATABASE_BUNDLE.name, 'single-user', 'mysql'],
    [POSTGRES_DATABASE_BUNDLE.name, 'alternating-users', 'aurora-mysql'],
    [MYSQL_DATABASE_BUNDLE.name, 'single-user', 'postgres'],
    [MYSQL_DATABASE_BUNDLE.name, 'alternating-users', 'aurora-postgresql'],
  ])(
    '%s refuses, for %s, a secret of engine %s in createSecret, changing nothing',
    async (name, strategy, engineName) => {
      const bundle = bundleNamed(name);
      const { fake, engine, arn, run } = setUp(bundle, strategy, engineName);
      const token = fake.startRotation(arn);
      const before = fake.stages(arn);
      const error = await run(token, 'createSecret').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toContain(`its engine '${engineName}'`);
      expect((error as Error).message).toContain(`the bundle ${bundle.name}`);
      expect((error as Error).message).not.toContain('first-password-1');
      expect(fake.stages(arn)).toEqual(before);
      expect(fake.secret(arn).versions.get(token)?.secretString).toBeUndefined();
      expect(engine.intents).toEqual([]);
    },
  );

  it('refuses an AWSPENDING of another engine in setSecret and testSecret, before connecting', async () => {
    const { fake, engine, arn, run } = setUp(POSTGRES_DATABASE_BUNDLE, 'single-user', 'postgres');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    // AWSPENDING rewritten to another engine after createSecret (by hand, or by a mistaken deploy)
    const pending = fake.valueOf<Record<string, unknown>>(arn, 'AWSPENDING');
    const version = fake.secret(arn).versions.get(token);
    if (!version) throw new Error('no pending version');
    version.secretString = JSON.stringify({ ...pending, engine: 'mariadb', port: 3306 });
    for (const step of ['setSecret', 'testSecret']) {
      await expect(run(token, step)).rejects.toThrow(
        /Secret .*: its engine 'mariadb' \(family mysql\) is not in the bundle database\/postgres-handler/,
      );
    }
    expect(engine.intents).toEqual([]);
    expect(engine.users.get('app')).toBe('first-password-1');
  });

  it.each([POSTGRES_DATABASE_BUNDLE, MYSQL_DATABASE_BUNDLE])(
    '$name refuses rds-master at cold start',
    (bundle) => {
      expect(() => setUp(bundle, 'rds-master', 'postgres')).toThrow(
        new ConfigurationError(
          `ROTATION_STRATEGY is 'rds-master', but the bundle ${bundle.name} does not contain it; ` +
            'deploy the generic entry database/handler (DatabaseSecretRotation does so for rds-master)',
        ),
      );
    },
  );

  it.each([
    [POSTGRES_DATABASE_BUNDLE.name, 'postgres'],
    [MYSQL_DATABASE_BUNDLE.name, 'mariadb'],
    [GENERIC_DATABASE_BUNDLE.name, 'postgres'],
    [GENERIC_DATABASE_BUNDLE.name, 'mysql'],
  ])('%s rotates a secret of engine %s', async (name, engineName) => {
    const bundle = bundleNamed(name);
    const { fake, engine, arn, run } = setUp(bundle, 'single-user', engineName);
    const token = fake.startRotation(arn);
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await run(token, step);
    expect(engine.users.get('app')).toBe(fake.valueOf<{ password: string }>(arn).password);
  });
});
