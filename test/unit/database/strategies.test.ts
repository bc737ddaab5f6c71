import { createDatabaseHandler } from '../../../functions/database/create-handler';
import { CredentialMismatchError, DatabaseAuthenticationError } from '../../../functions/database/errors';
import { ConfigurationError, InvalidSecretValueError } from '../../../functions/rotation';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { FakeEngine } from './fake-engine';

const secretOf = (username: string, password: string, extra: Record<string, unknown> = {}) => ({
  engine: 'postgres',
  host: 'db.internal',
  port: 5432,
  username,
  password,
  dbname: 'app',
  ...extra,
});

function setUp(strategy: 'single-user' | 'alternating-users', value: Record<string, unknown>) {
  const fake = new FakeSecretsManager();
  const engine = new FakeEngine();
  const handler = createDatabaseHandler({
    secretsManager: fake.client,
    env: { ROTATION_STRATEGY: strategy, DB_CONNECT_ATTEMPTS: '3' },
    engineFor: () => engine,
    sleep: async () => {},
  });
  const masterArn = fake.createSecret('master', secretOf('admin', 'admin-secret-pw'));
  engine.users.set('admin', 'admin-secret-pw');
  const arn = fake.createSecret('app', {
    ...value,
    ...(strategy === 'alternating-users' ? { masterarn: masterArn } : {}),
  });
  const run = async (token: string, step: string) =>
    handler({ SecretId: arn, ClientRequestToken: token, Step: step });
  const rotate = async () => {
    const token = fake.startRotation(arn);
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await run(token, step);
    return token;
  };
  return { fake, engine, arn, run, rotate, masterArn };
}

type Creds = { username: string; password: string };

describe('single-user strategy', () => {
  it('changes the password logged in as the current user', async () => {
    const { fake, engine, arn, rotate } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    await rotate();
    const current = fake.valueOf<Creds>(arn);
    expect(engine.users.get('app')).toBe(current.password);
    expect(engine.intents).toEqual(['app changes own password']);
  });

  it('does nothing in setSecret when the pending password already works (a crash after the change)', async () => {
    const { fake, engine, arn, run } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    engine.users.set('app', fake.valueOf<Creds>(arn, 'AWSPENDING').password);
    await run(token, 'setSecret');
    expect(engine.intents).toEqual([]);
  });

  it('logs in with the previous password when the current one is refused', async () => {
    const { fake, engine, arn, rotate, run } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    await rotate();
    // the database still has the old password: someone restored it
    engine.users.set('app', 'first-password-1');
    engine.intents.length = 0;
    const token = fake.startRotation(arn);
    for (const step of ['createSecret', 'setSecret']) await run(token, step);
    expect(engine.users.get('app')).toBe(fake.valueOf<Creds>(arn, 'AWSPENDING').password);
    expect(engine.intents).toEqual(['app changes own password']);
  });

  it('fails and changes nothing when no version logs in', async () => {
    const { fake, engine, arn, run } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'something-else');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    await expect(run(token, 'setSecret')).rejects.toThrow(DatabaseAuthenticationError);
    expect(engine.users.get('app')).toBe('something-else');
    expect(fake.valueOf<Creds>(arn).password).toBe('first-password-1');
  });

  it('does not retry a refused login, but retries a refused connection', async () => {
    const { fake, engine, arn, run } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    engine.refuseNext = 2;
    engine.connects = 0;
    await run(token, 'setSecret');
    // current: 2 refused connections, then the login that changes the password; nothing else
    expect(engine.connects).toBe(3);
  });

  it('logs in twice per rotation: once to change the password, once in testSecret to prove it', async () => {
    // GIVEN
    const { fake, engine, arn, rotate } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    // WHEN
    await rotate();
    // THEN no login is refused and none repeats what another proves
    expect(engine.connects).toBe(2);
    expect(engine.users.get('app')).toBe(fake.valueOf<Creds>(arn).password);
  });

  it('does not log in with the pending password before trying the current one', async () => {
    // GIVEN
    const { fake, engine, arn, run } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    const seen: string[] = [];
    const connect = engine.connect.bind(engine);
    engine.connect = async (target) => {
      seen.push(target.password === 'first-password-1' ? 'current' : 'other');
      return connect(target);
    };
    // WHEN
    await run(token, 'setSecret');
    // THEN
    expect(seen).toEqual(['current']);
  });

  it.each([
    ['username', { username: 'other' }],
    ['host', { host: 'elsewhere.internal' }],
  ])('refuses when the %s differs between versions', async (_field, change) => {
    const { fake, engine, arn, run } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    const secret = fake.secret(arn).versions.get(token)!;
    secret.secretString = JSON.stringify({ ...JSON.parse(secret.secretString!), ...change });
    await expect(run(token, 'setSecret')).rejects.toThrow(CredentialMismatchError);
    expect(engine.intents).toEqual([]);
  });
});

describe('alternating-users strategy', () => {
  it('creates the clone on the first rotation, then alternates', async () => {
    const { fake, engine, arn, rotate } = setUp('alternating-users', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    await rotate();
    expect(fake.valueOf<Creds>(arn).username).toBe('app_clone');
    expect(engine.members.get('app_clone')).toBe('app');
    await rotate();
    expect(fake.valueOf<Creds>(arn).username).toBe('app');
    expect(engine.users.get('app_clone')).toBe(fake.valueOf<Creds>(arn, 'AWSPREVIOUS').password);
    await rotate();
    expect(fake.valueOf<Creds>(arn).username).toBe('app_clone');
    expect(engine.intents).toEqual([
      'admin creates app_clone like app',
      'admin aligns app_clone with app',
      'admin sets password of app',
      'admin aligns app_clone with app',
      'admin sets password of app_clone',
      'admin aligns app_clone with app',
    ]);
  });

  it('logs in twice per rotation: as the master to set the password, as the pending user in testSecret', async () => {
    // GIVEN the clone exists (the first rotation created it)
    const { engine, rotate } = setUp('alternating-users', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    await rotate();
    engine.connects = 0;
    // WHEN
    await rotate();
    // THEN
    expect(engine.connects).toBe(2);
  });

  it('shortens a long user name to fit the engine, and still finds its way back', async () => {
    const { fake, engine, arn, rotate } = setUp(
      'alternating-users',
      secretOf('averylonguser', 'first-password-1'),
    );
    engine.users.set('averylonguser', 'first-password-1');
    await rotate();
    expect(fake.valueOf<Creds>(arn).username).toBe('averylongu_clone');
    await rotate();
    expect(fake.valueOf<Creds>(arn).username).toBe('averylonguser');
  });

  it('requires a master secret and names the field', async () => {
    const fake = new FakeSecretsManager();
    const handler = createDatabaseHandler({
      secretsManager: fake.client,
      env: { ROTATION_STRATEGY: 'alternating-users' },
      engineFor: () => new FakeEngine(),
    });
    const arn = fake.createSecret('app', secretOf('app', 'first-password-1'));
    const token = fake.startRotation(arn);
    const result = handler({ SecretId: arn, ClientRequestToken: token, Step: 'createSecret' });
    await expect(result).rejects.toThrow(InvalidSecretValueError);
    await expect(result).rejects.toThrow("field 'masterarn' is missing");
  });

  it('refuses a master secret that points at another database', async () => {
    const { fake, engine, arn, run, masterArn } = setUp(
      'alternating-users',
      secretOf('app', 'first-password-1'),
    );
    engine.users.set('app', 'first-password-1');
    fake.putFromOutside(masterArn, secretOf('admin', 'admin-secret-pw', { host: 'other.internal' }));
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    await expect(run(token, 'setSecret')).rejects.toThrow(/master secret points at another database/);
    expect(engine.intents).toEqual([]);
  });
});

describe('configuration', () => {
  it('requires ROTATION_STRATEGY and names the allowed values', () => {
    const fake = new FakeSecretsManager();
    expect(() => createDatabaseHandler({ secretsManager: fake.client, env: {} })).toThrow(ConfigurationError);
    expect(() =>
      createDatabaseHandler({ secretsManager: fake.client, env: { ROTATION_STRATEGY: 'both' } }),
    ).toThrow("ROTATION_STRATEGY must be one of single-user, alternating-users, rds-master, got 'both'");
  });

  it('rejects a CA bundle path that cannot be read', () => {
    const fake = new FakeSecretsManager();
    expect(() =>
      createDatabaseHandler({
        secretsManager: fake.client,
        env: { ROTATION_STRATEGY: 'single-user', DB_CA_BUNDLE_PATH: '/nonexistent/ca.pem' },
      }),
    ).toThrow('DB_CA_BUNDLE_PATH names a file that cannot be read');
  });
});
