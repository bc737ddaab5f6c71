import type { LocalDatabase } from '../../../local/databases/common';
import { startMariaDb } from '../../../local/databases/mariadb';
import { startPostgres } from '../../../local/databases/postgres';
import { STEPS } from '../../helpers/rotate';
import { adminFor, appSecret, HOSTILE_PASSWORD, HOSTILE_USER, masterSecret, rotationSetUp } from './harness';

type Credentials = { username: string; password: string };

const engines: Array<[string, () => Promise<LocalDatabase>]> = [
  ['PostgreSQL', () => startPostgres({ tls: true })],
  ['MariaDB', () => startMariaDb({ tls: true })],
];

describe.each(engines)('%s over verified TLS', (_name, start) => {
  let db: LocalDatabase;
  let counter = 0;
  const uniqueUser = (prefix: string) => `${prefix}${++counter}`;

  beforeAll(async () => {
    db = await start();
  }, 120_000);

  afterAll(async () => {
    await db?.stop();
  });

  async function rotate(
    setUp: ReturnType<typeof rotationSetUp>,
    arn: string,
    steps: readonly string[] = STEPS,
  ): Promise<string> {
    const token = setUp.fake.startRotation(arn);
    for (const step of steps) await setUp.handler({ SecretId: arn, ClientRequestToken: token, Step: step });
    return token;
  }

  it('rotates a single user ten times; each new password logs in and the old one stops working', async () => {
    // GIVEN
    const admin = adminFor(db);
    const username = `${HOSTILE_USER.slice(0, 26)}${++counter}`;
    await admin.createAppUser(username, HOSTILE_PASSWORD);
    const setUp = rotationSetUp(db, 'single-user');
    const arn = setUp.fake.createSecret('app', appSecret(db, username, HOSTILE_PASSWORD));
    let previous: Credentials = { username, password: HOSTILE_PASSWORD };
    // WHEN / THEN
    for (let i = 0; i < 10; i++) {
      await rotate(setUp, arn);
      const current = setUp.fake.valueOf<Credentials>(arn);
      expect(current.username).toBe(username);
      expect(current.password).not.toBe(previous.password);
      expect(await admin.canUse(current.username, current.password)).toBe(true);
      expect(await admin.canUse(previous.username, previous.password)).toBe(false);
      previous = current;
    }
    expect(await admin.itemCount()).toBeGreaterThan(0);
    setUp.cleanup();
  });

  it('alternates users ten times; the previous credentials keep working and the clone has the same privileges', async () => {
    // GIVEN
    const admin = adminFor(db);
    const username = `${HOSTILE_USER.slice(0, 26)}${++counter}`;
    await admin.createAppUser(username, HOSTILE_PASSWORD);
    const setUp = rotationSetUp(db, 'alternating-users');
    const masterArn = setUp.fake.createSecret('master', masterSecret(db));
    const arn = setUp.fake.createSecret(
      'app',
      appSecret(db, username, HOSTILE_PASSWORD, { masterarn: masterArn }),
    );
    const seen = new Set<string>();
    // WHEN / THEN
    for (let i = 0; i < 10; i++) {
      const before = setUp.fake.valueOf<Credentials>(arn);
      await rotate(setUp, arn);
      const current = setUp.fake.valueOf<Credentials>(arn);
      seen.add(current.username);
      expect(current.username).not.toBe(before.username);
      expect(await admin.canUse(current.username, current.password)).toBe(true);
      expect(await admin.canUse(before.username, before.password)).toBe(true);
    }
    expect(seen.size).toBe(2);
    const clone = [...seen].find((name) => name !== username) as string;
    expect(clone.endsWith('_clone')).toBe(true);
    expect(clone.length).toBeLessThanOrEqual(db.engine === 'postgres' ? 63 : 32);
    expect(await admin.itemCount()).toBeGreaterThan(0);
    setUp.cleanup();
  });

  it.each(['single-user', 'alternating-users'] as const)(
    '%s: a crash after each statement of setSecret, then a re-run, converges',
    async (strategy) => {
      const admin = adminFor(db);
      for (let crashAfter = 1; ; crashAfter++) {
        // GIVEN a fresh user, and a function that dies after its n-th changing statement
        const username = uniqueUser('crash_user_');
        await admin.createAppUser(username, 'Initial-Pass-1');
        let statements = 0;
        let crashed = false;
        const setUp = rotationSetUp(db, strategy, () => {
          statements++;
          if (!crashed && statements === crashAfter) {
            crashed = true;
            throw new Error('simulated crash');
          }
        });
        const masterArn = setUp.fake.createSecret('master', masterSecret(db));
        const arn = setUp.fake.createSecret(
          'app',
          appSecret(
            db,
            username,
            'Initial-Pass-1',
            strategy === 'alternating-users' ? { masterarn: masterArn } : {},
          ),
        );
        // WHEN
        const token = setUp.fake.startRotation(arn);
        const invoke = (step: string) =>
          setUp.handler({ SecretId: arn, ClientRequestToken: token, Step: step });
        await invoke('createSecret');
        await invoke('setSecret').catch(() => {});
        if (!crashed) {
          setUp.cleanup();
          break; // every statement has had its crash
        }
        await invoke('setSecret');
        await invoke('testSecret');
        await invoke('finishSecret');
        // THEN
        const current = setUp.fake.valueOf<Credentials>(arn);
        expect(await admin.canUse(current.username, current.password)).toBe(true);
        // and the next rotation still works
        await rotate(setUp, arn);
        const next = setUp.fake.valueOf<Credentials>(arn);
        expect(await admin.canUse(next.username, next.password)).toBe(true);
        setUp.cleanup();
        expect(crashAfter).toBeLessThan(20);
      }
    },
  );

  it('changes nothing but the password when a secret field carries an injection attempt', async () => {
    // GIVEN
    const admin = adminFor(db);
    const victim = uniqueUser('victim_');
    await admin.createAppUser(victim, 'Victim-Pass-1');
    const username = uniqueUser('inj_');
    const password = `p'); ALTER USER ${victim} PASSWORD 'owned'; --`;
    await admin.createAppUser(username, password);
    const usersBefore = (await admin.users()).sort();
    const itemsBefore = await admin.itemCount();
    const setUp = rotationSetUp(db, 'single-user');
    const arn = setUp.fake.createSecret('app', appSecret(db, username, password));
    // WHEN
    await rotate(setUp, arn);
    // THEN
    const current = setUp.fake.valueOf<Credentials>(arn);
    expect(await admin.canUse(current.username, current.password)).toBe(true);
    expect(await admin.canUse(victim, 'Victim-Pass-1')).toBe(true);
    expect((await admin.users()).sort()).toEqual(usersBefore);
    expect(await admin.itemCount()).toBeGreaterThanOrEqual(itemsBefore);
    setUp.cleanup();
  });

  it('refuses to connect without TLS verification: a server certificate from an unknown CA fails', async () => {
    // GIVEN a handler that trusts no CA of this server
    const admin = adminFor(db);
    const username = uniqueUser('tls_');
    await admin.createAppUser(username, 'Tls-Pass-1');
    const setUp = rotationSetUp(
      { ...db, caPem: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n' } as LocalDatabase,
      'single-user',
    );
    const arn = setUp.fake.createSecret('app', appSecret(db, username, 'Tls-Pass-1'));
    // WHEN
    const token = setUp.fake.startRotation(arn);
    await setUp.handler({ SecretId: arn, ClientRequestToken: token, Step: 'createSecret' });
    const result = setUp.handler({ SecretId: arn, ClientRequestToken: token, Step: 'setSecret' });
    // THEN
    await expect(result).rejects.toThrow(/unavailable|TLS/);
    expect(await admin.canUse(username, 'Tls-Pass-1')).toBe(true);
    setUp.cleanup();
  });
});
