import { Client } from 'pg';
import { alternatingPairBootstrapSql } from '../../../infra/stacks/example-stack';
import type { LocalDatabase } from '../../../local/databases/common';
import { startPostgres } from '../../../local/databases/postgres';
import { STEPS } from '../../helpers/rotate';
import { adminFor, appSecret, masterSecret, rotationSetUp } from './harness';

type Credentials = { username: string; password: string };

/**
 * The example app's first deploy (issue 14, finding 4) against the pair verification of issue 16, finding 1:
 * the application user exists without a password, so AWSCURRENT cannot log in, and the first rotation may
 * only proceed on a pair record the deployment wrote with the master's privileges.
 */
describe('the example app bootstrap of an alternating-users pair, on PostgreSQL', () => {
  let db: LocalDatabase;

  beforeAll(async () => {
    db = await startPostgres({ tls: true });
  }, 120_000);

  afterAll(async () => {
    await db?.stop();
  });

  async function asAdmin(sql: string): Promise<void> {
    const client = new Client({
      host: db.host,
      port: db.port,
      user: db.adminUser,
      password: db.adminPassword,
      database: db.database,
      ssl: db.caPem ? { ca: db.caPem, rejectUnauthorized: true } : false,
    });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  function firstDeploy(username: string) {
    const setUp = rotationSetUp(db, 'alternating-users');
    const masterArn = setUp.fake.createSecret(`master-${username}`, masterSecret(db));
    // The DatabaseSecret's generated password: the user at the database has none yet.
    const arn = setUp.fake.createSecret(
      username,
      appSecret(db, username, 'generated-by-the-deployment-0', { masterarn: masterArn }),
    );
    const rotate = async () => {
      const token = setUp.fake.startRotation(arn);
      for (const step of STEPS) await setUp.handler({ SecretId: arn, ClientRequestToken: token, Step: step });
    };
    return { ...setUp, arn, rotate };
  }

  it('lets the first rotation give the clone its password, and the second the user its own', async () => {
    // GIVEN the deployment ran the bootstrap statement with the master secret (twice: it is idempotent)
    const deploy = firstDeploy('orders_app');
    const sql = alternatingPairBootstrapSql({
      secretArn: deploy.arn,
      username: 'orders_app',
      database: db.database,
    });
    await asAdmin(sql);
    await asAdmin(sql);
    await asAdmin('CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, note text)');
    await asAdmin('GRANT SELECT, INSERT, UPDATE, DELETE ON items TO orders_app');
    await asAdmin('GRANT USAGE ON SEQUENCE items_id_seq TO orders_app');
    // WHEN the immediate first rotation runs, then the next one
    await deploy.rotate();
    const afterFirst = deploy.fake.valueOf<Credentials>(deploy.arn, 'AWSCURRENT');
    await deploy.rotate();
    const afterSecond = deploy.fake.valueOf<Credentials>(deploy.arn, 'AWSCURRENT');
    // THEN each AWSCURRENT logs in, as the clone and then as the user
    const admin = adminFor(db);
    expect(afterFirst.username).toBe('orders_app_clone');
    expect(afterSecond.username).toBe('orders_app');
    expect(await admin.canUse(afterFirst.username, afterFirst.password)).toBe(true);
    expect(await admin.canUse(afterSecond.username, afterSecond.password)).toBe(true);
    deploy.cleanup();
  }, 60_000);

  it('without the pair record, refuses the first rotation and changes no password', async () => {
    // GIVEN the same users, created without the record
    const deploy = firstDeploy('billing_app');
    await asAdmin('CREATE ROLE billing_app LOGIN');
    await asAdmin('CREATE ROLE billing_app_clone LOGIN INHERIT');
    // WHEN / THEN
    await expect(deploy.rotate()).rejects.toThrow(/UnverifiedUserPairError|no record|refusing/);
    expect(deploy.fake.valueOf<Credentials>(deploy.arn, 'AWSCURRENT').username).toBe('billing_app');
    deploy.cleanup();
  }, 60_000);
});
