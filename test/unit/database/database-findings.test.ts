import { createDatabaseHandler } from '../../../functions/database/create-handler';
import {
  DatabaseAuthenticationError,
  DatabaseStatementError,
  UnverifiedUserPairError,
} from '../../../functions/database/errors';
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

type Creds = { username: string; password: string };

function setUp(strategy: 'single-user' | 'alternating-users', value: Record<string, unknown>, master = {}) {
  const fake = new FakeSecretsManager();
  const engine = new FakeEngine();
  const handler = createDatabaseHandler({
    secretsManager: fake.client,
    env: { ROTATION_STRATEGY: strategy, DB_CONNECT_ATTEMPTS: '3' },
    engineFor: () => engine,
    sleep: async () => {},
  });
  const masterArn = fake.createSecret('master', secretOf('admin', 'admin-secret-pw', master));
  engine.users.set('admin', 'admin-secret-pw');
  const arn = fake.createSecret('app', {
    ...value,
    ...(strategy === 'alternating-users' ? { masterarn: masterArn } : {}),
  });
  const run = (token: string, step: string) =>
    handler({ SecretId: arn, ClientRequestToken: token, Step: step });
  const rotate = async () => {
    const token = fake.startRotation(arn);
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await run(token, step);
    return token;
  };
  return { fake, engine, arn, run, rotate, masterArn };
}

describe('alternating users pair verified and account options kept', () => {
  it('refuses a secret whose user is x_clone when the database holds no pair record, and changes nothing', async () => {
    // GIVEN an unrelated account `owner`, and a secret edited to name `owner_clone`
    const { fake, engine, arn, run } = setUp(
      'alternating-users',
      secretOf('owner_clone', 'attacker-knows-1'),
    );
    engine.users.set('owner', 'owners-own-password');
    engine.users.set('owner_clone', 'attacker-knows-1');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    // WHEN
    const result = run(token, 'setSecret');
    // THEN
    await expect(result).rejects.toThrow(UnverifiedUserPairError);
    await expect(result).rejects.toThrow(/no record that this function created it/);
    expect(engine.users.get('owner')).toBe('owners-own-password');
    expect(engine.intents).toEqual([]);
  });

  it('refuses a secret whose user is x_clone when x_clone does not exist either', async () => {
    const { fake, engine, arn, run } = setUp(
      'alternating-users',
      secretOf('owner_clone', 'attacker-knows-1'),
    );
    engine.users.set('owner', 'owners-own-password');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    await expect(run(token, 'setSecret')).rejects.toThrow(UnverifiedUserPairError);
    expect(engine.users.get('owner')).toBe('owners-own-password');
    expect(engine.intents).toEqual([]);
  });

  it('refuses a pair the database records for another secret', async () => {
    // GIVEN a clone created by the rotation of another secret
    const { fake, engine, arn, run } = setUp(
      'alternating-users',
      secretOf('owner_clone', 'attacker-knows-1'),
    );
    engine.users.set('owner', 'owners-own-password');
    engine.users.set('owner_clone', 'attacker-knows-1');
    engine.pairs.set('owner_clone', {
      secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:other-abcdef',
      base: 'owner',
      clone: 'owner_clone',
    });
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    // WHEN / THEN
    await expect(run(token, 'setSecret')).rejects.toThrow(/records user 'owner_clone' as the alternate/);
    expect(engine.users.get('owner')).toBe('owners-own-password');
    expect(engine.intents).toEqual([]);
  });

  it('refuses to create the alternate of a user whose AWSCURRENT credentials do not log in', async () => {
    // GIVEN a secret edited to name the account `victim`, without its password
    const { fake, engine, arn, run } = setUp('alternating-users', secretOf('victim', 'guessed-password'));
    engine.users.set('victim', 'victims-password');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    // WHEN / THEN no clone with the victim's privileges is created
    await expect(run(token, 'setSecret')).rejects.toThrow(/do not log in; refusing to create its alternate/);
    expect(engine.users.has('victim_clone')).toBe(false);
    expect(engine.intents).toEqual([]);
  });

  it('records the pair for this secret when it creates the clone, and rotates on the record afterwards', async () => {
    const { fake, engine, arn, rotate } = setUp('alternating-users', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    await rotate();
    expect(engine.pairs.get('app_clone')).toEqual({ secretArn: arn, base: 'app', clone: 'app_clone' });
    await rotate();
    await rotate();
    expect(fake.valueOf<Creds>(arn).username).toBe('app_clone');
    expect(engine.users.get('app_clone')).toBe(fake.valueOf<Creds>(arn).password);
  });
});

describe('fallback never weakens transport', () => {
  it('logs in with AWSPREVIOUS over verified TLS when AWSPREVIOUS says ssl false', async () => {
    // GIVEN AWSPREVIOUS with ssl: false, and a database that only knows AWSPREVIOUS's password
    const { fake, engine, arn, run, rotate } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    await rotate();
    const previous = fake.secret(arn).versions.get(fake.versionOf(arn, 'AWSPREVIOUS') as string);
    (previous as { secretString?: string }).secretString = JSON.stringify(
      secretOf('app', 'first-password-1', { ssl: false }),
    );
    engine.users.set('app', 'first-password-1');
    engine.attempts.length = 0;
    // WHEN
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    await run(token, 'setSecret');
    // THEN every login, the one with AWSPREVIOUS included, asked for TLS
    expect(engine.users.get('app')).toBe(fake.valueOf<Creds>(arn, 'AWSPENDING').password);
    expect(engine.attempts.length).toBeGreaterThanOrEqual(3);
    expect(engine.attempts.every((attempt) => attempt.ssl)).toBe(true);
  });

  it('connects the master over TLS when the application secret asks for TLS, whatever the master secret says', async () => {
    const { engine, rotate } = setUp('alternating-users', secretOf('app', 'first-password-1'), {
      ssl: false,
    });
    engine.users.set('app', 'first-password-1');
    await rotate();
    const master = engine.attempts.filter((attempt) => attempt.username === 'admin');
    expect(master.length).toBeGreaterThan(0);
    expect(master.every((attempt) => attempt.ssl)).toBe(true);
  });
});

describe('concurrency for setSecret', () => {
  it('a duplicate setSecret whose AWSCURRENT login is refused because its racer just changed the password succeeds', async () => {
    // GIVEN a racer whose password change lands while our AWSCURRENT login is on its way
    const { fake, engine, arn, run } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    const pending = fake.valueOf<Creds>(arn, 'AWSPENDING').password;
    let currentAttempts = 0;
    engine.onConnect = (target) => {
      if (target.password === 'first-password-1' && ++currentAttempts === 1) {
        engine.users.set('app', pending); // the racer's ALTER lands now
      }
    };
    // WHEN
    await run(token, 'setSecret');
    // THEN it ends as a no-op that changed nothing itself
    expect(engine.users.get('app')).toBe(pending);
    expect(engine.intents).toEqual([]);
  });

  it('a duplicate setSecret whose own password change loses the race (tuple concurrently updated) succeeds', async () => {
    // GIVEN a racer whose ALTER ROLE lands while ours runs, which then fails as PostgreSQL's would
    const { fake, engine, arn, run } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    const pending = fake.valueOf<Creds>(arn, 'AWSPENDING').password;
    engine.beforeChange = () => {
      engine.users.set('app', pending);
      throw new DatabaseStatementError('set the password', 'XX000', undefined, true);
    };
    // WHEN / THEN
    await expect(run(token, 'setSecret')).resolves.toBeUndefined();
    expect(engine.users.get('app')).toBe(pending);
  });

  it('a duplicate alternating-users setSecret that loses the race to create the clone runs again and succeeds', async () => {
    // GIVEN a racer that creates the clone and its record a moment before us
    const { fake, engine, arn, run } = setUp('alternating-users', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'first-password-1');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    const pending = fake.valueOf<Creds>(arn, 'AWSPENDING');
    engine.beforeChange = (intent) => {
      if (intent !== 'create alternate') return;
      engine.beforeChange = undefined;
      engine.pairs.set('app_clone', { secretArn: arn, base: 'app', clone: 'app_clone' });
      engine.users.set('app_clone', pending.password);
      throw new DatabaseStatementError('create the alternate user', '23505', undefined, true);
    };
    // WHEN / THEN
    await expect(run(token, 'setSecret')).resolves.toBeUndefined();
    expect(engine.users.get('app_clone')).toBe(pending.password);
    expect(engine.intents).toEqual(['admin sets password of app_clone', 'admin aligns app_clone with app']);
  });

  it('still fails, changing nothing, when no version logs in even after looking again', async () => {
    const { fake, engine, arn, run } = setUp('single-user', secretOf('app', 'first-password-1'));
    engine.users.set('app', 'something-else');
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    await expect(run(token, 'setSecret')).rejects.toThrow(DatabaseAuthenticationError);
    expect(engine.users.get('app')).toBe('something-else');
  });
});
