import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { Client, escapeIdentifier } from 'pg';
import { createDatabaseHandler } from '../../../functions/database/create-handler';
import { MySqlEngine } from '../../../functions/database/engines/mysql';
import { PostgresEngine } from '../../../functions/database/engines/postgres';
import type { LocalDatabase } from '../../../local/databases/common';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';

/** Generated passwords draw from quotes, backslashes, %, $, spaces and non-ASCII letters too. */
export const HOSTILE_ALPHABET = "abcXYZ0123456789'\\%$ _-;éß€";

/** A user name that needs quoting (uppercase, a dot, a quote) and tries to break out of it. */
export const HOSTILE_USER = "App.User'; DROP TABLE items;--";

/** An initial password with everything that must round-trip. */
export const HOSTILE_PASSWORD = "x'; DROP TABLE items; -- \\ %s $1 wörd";

/** Admin-side helpers of one server: run setup SQL and check what a user can do. */
export interface Admin {
  /** Creates the application user with privileges on the `items` table only. */
  createAppUser(username: string, password: string): Promise<void>;
  /** Whether `username` with `password` logs in and can read and write `items`. */
  canUse(username: string, password: string): Promise<boolean>;
  /** Number of rows in `items` (proves the table survived). */
  itemCount(): Promise<number>;
  /** Names of all users/roles. */
  users(): Promise<string[]>;
}

export function adminFor(db: LocalDatabase): Admin {
  return db.engine === 'postgres' ? postgresAdmin(db) : mariaDbAdmin(db);
}

function postgresAdmin(db: LocalDatabase): Admin {
  const connect = async (user: string, password: string) => {
    const client = new Client({
      host: db.host,
      port: db.port,
      user,
      password,
      database: db.database,
      ssl: db.caPem ? { ca: db.caPem, rejectUnauthorized: true } : false,
    });
    await client.connect();
    return client;
  };
  const asAdmin = async <T>(work: (c: Client) => Promise<T>) => {
    const client = await connect(db.adminUser, db.adminPassword);
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  return {
    createAppUser: (username, password) =>
      asAdmin(async (c) => {
        await c.query('CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, note text)');
        await c.query(
          `CREATE ROLE ${escapeIdentifier(username)} LOGIN PASSWORD ${c.escapeLiteral(password)}`,
        );
        await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON items TO ${escapeIdentifier(username)}`);
        await c.query(`GRANT USAGE ON SEQUENCE items_id_seq TO ${escapeIdentifier(username)}`);
      }),
    canUse: async (username, password) => {
      let client: Client;
      try {
        client = await connect(username, password);
      } catch {
        return false;
      }
      try {
        await client.query('INSERT INTO items (note) VALUES ($1)', [`written by ${username}`]);
        await client.query('SELECT count(*) FROM items');
        return true;
      } finally {
        await client.end();
      }
    },
    itemCount: () =>
      asAdmin(async (c) => Number((await c.query('SELECT count(*) AS n FROM items')).rows[0].n)),
    users: () =>
      asAdmin(async (c) => (await c.query('SELECT rolname FROM pg_roles')).rows.map((r) => r.rolname)),
  };
}

function mariaDbAdmin(db: LocalDatabase): Admin {
  const connect = (user: string, password: string) =>
    createConnection({
      host: db.host,
      port: db.port,
      user,
      password,
      database: db.database,
      charset: 'utf8mb4',
      ...(db.caPem ? { ssl: { ca: db.caPem, rejectUnauthorized: true } } : {}),
    });
  const asAdmin = async <T>(work: (c: Awaited<ReturnType<typeof connect>>) => Promise<T>) => {
    const c = await connect(db.adminUser, db.adminPassword);
    try {
      return await work(c);
    } finally {
      await c.end();
    }
  };
  return {
    createAppUser: (username, password) =>
      asAdmin(async (c) => {
        await c.query('CREATE TABLE IF NOT EXISTS items (id INT AUTO_INCREMENT PRIMARY KEY, note TEXT)');
        await c.query("CREATE USER ?@'%' IDENTIFIED BY ?", [username, password]);
        await c.query("GRANT SELECT, INSERT, UPDATE, DELETE ON appdb.items TO ?@'%'", [username]);
      }),
    canUse: async (username, password) => {
      let c: Awaited<ReturnType<typeof connect>>;
      try {
        c = await connect(username, password);
      } catch {
        return false;
      }
      try {
        await c.query('INSERT INTO items (note) VALUES (?)', [`written by ${username}`]);
        await c.query('SELECT count(*) FROM items');
        return true;
      } finally {
        await c.end();
      }
    },
    itemCount: () =>
      asAdmin(async (c) =>
        Number(((await c.query('SELECT count(*) AS n FROM items'))[0] as Array<{ n: number }>)[0]?.n),
      ),
    users: () =>
      asAdmin(async (c) =>
        ((await c.query('SELECT User AS u FROM mysql.user'))[0] as Array<{ u: string }>).map((r) => r.u),
      ),
  };
}

/** A fake Secrets Manager and a real database handler against `db`, trusting its CA. */
export function rotationSetUp(
  db: LocalDatabase,
  strategy: 'single-user' | 'alternating-users',
  afterChange?: (intent: string) => void,
  /** Another function instance's Secrets Manager, to race two instances against the same secret. */
  shared?: FakeSecretsManager,
) {
  const fake = shared ?? new FakeSecretsManager();
  if (!shared) fake.passwordAlphabet = HOSTILE_ALPHABET;
  const dir = mkdtempSync(join(tmpdir(), 'rotation-ca-'));
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, db.caPem ?? '');
  const handler = createDatabaseHandler({
    secretsManager: fake.client,
    env: {
      ROTATION_STRATEGY: strategy,
      DB_CA_BUNDLE_PATH: caPath,
      EXCLUDE_CHARACTERS: '',
      PASSWORD_LENGTH: '24',
    },
    sleep: async () => {},
    engineFor: (family, settings) =>
      family === 'postgres'
        ? new PostgresEngine({ ...settings, ...(afterChange ? { afterChange } : {}) })
        : new MySqlEngine({ ...settings, ...(afterChange ? { afterChange } : {}) }),
  });
  return { fake, handler, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The secret JSON of an application user of `db`, in the AWS templates' shape. */
export function appSecret(
  db: LocalDatabase,
  username: string,
  password: string,
  extra: Record<string, unknown> = {},
) {
  return {
    engine: db.engine,
    host: db.host,
    port: String(db.port),
    username,
    password,
    dbname: db.database,
    ...extra,
  };
}

export function masterSecret(db: LocalDatabase) {
  return {
    engine: db.engine,
    host: db.host,
    port: db.port,
    username: db.adminUser,
    password: db.adminPassword,
    dbname: db.database,
  };
}
