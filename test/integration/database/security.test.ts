import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { Client, escapeIdentifier } from 'pg';
import { MySqlEngine } from '../../../functions/database/engines/mysql';
import { scramVerifier } from '../../../functions/database/engines/postgres';
import { saslPrep } from '../../../functions/database/engines/saslprep';
import { DatabaseTlsError, UnverifiedUserPairError } from '../../../functions/database/errors';
import { type LocalDatabase, makeCertificates } from '../../../local/databases/common';
import { startMariaDb } from '../../../local/databases/mariadb';
import { startPostgres } from '../../../local/databases/postgres';
import { STEPS } from '../../helpers/rotate';
import { adminFor, appSecret, masterSecret, rotationSetUp } from './harness';

type Credentials = { username: string; password: string };
type SetUp = ReturnType<typeof rotationSetUp>;

/** Runs SQL as the server's admin user; returns the rows. */
async function asAdmin(
  db: LocalDatabase,
  sql: string,
  values: unknown[] = [],
): Promise<Array<Record<string, unknown>>> {
  if (db.engine === 'postgres') {
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
      return (await client.query(sql, values)).rows;
    } finally {
      await client.end();
    }
  }
  const connection = await createConnection({
    host: db.host,
    port: db.port,
    user: db.adminUser,
    password: db.adminPassword,
    database: db.database,
    ...(db.caPem ? { ssl: { ca: db.caPem, rejectUnauthorized: true } } : {}),
  });
  try {
    return (await connection.query(sql, values))[0] as Array<Record<string, unknown>>;
  } finally {
    await connection.end();
  }
}

async function rotate(setUp: SetUp, arn: string, steps: readonly string[] = STEPS): Promise<string> {
  const token = setUp.fake.startRotation(arn);
  for (const step of steps) await setUp.handler({ SecretId: arn, ClientRequestToken: token, Step: step });
  return token;
}

const engines: Array<[string, () => Promise<LocalDatabase>]> = [
  ['PostgreSQL', () => startPostgres({ tls: true })],
  ['MariaDB', () => startMariaDb({ tls: true })],
];

describe.each(engines)('%s: database rotation security', (name, start) => {
  let db: LocalDatabase;
  let counter = 0;
  const unique = (prefix: string) => `${prefix}${++counter}`;
  const setUps: SetUp[] = [];
  const setUpFor = (strategy: 'single-user' | 'alternating-users', target: LocalDatabase = db) => {
    const setUp = rotationSetUp(target, strategy);
    setUps.push(setUp);
    return setUp;
  };

  beforeAll(async () => {
    db = await start();
  }, 120_000);

  afterAll(async () => {
    for (const setUp of setUps) setUp.cleanup();
    await db?.stop();
  });

  it('alternating users pair verified: a secret naming x_clone does not turn the master against an unrelated account x', async () => {
    // GIVEN an unrelated account `owner`, and `owner_clone` whose password the secret's writer knows
    const admin = adminFor(db);
    const owner = unique('owner');
    const clone = `${owner}_clone`;
    await admin.createAppUser(owner, 'Owner-Pass-1');
    await admin.createAppUser(clone, 'Known-Pass-1');
    const membershipBefore = await memberships(db, clone);
    const setUp = setUpFor('alternating-users');
    const masterArn = setUp.fake.createSecret('master', masterSecret(db));
    const arn = setUp.fake.createSecret(
      'app',
      appSecret(db, clone, 'Known-Pass-1', { masterarn: masterArn }),
    );
    // WHEN
    const token = setUp.fake.startRotation(arn);
    await setUp.handler({ SecretId: arn, ClientRequestToken: token, Step: 'createSecret' });
    const result = setUp.handler({ SecretId: arn, ClientRequestToken: token, Step: 'setSecret' });
    // THEN refused, and nothing changed at the database
    await expect(result).rejects.toThrow(UnverifiedUserPairError);
    expect(await admin.canUse(owner, 'Owner-Pass-1')).toBe(true);
    expect(await admin.canUse(clone, 'Known-Pass-1')).toBe(true);
    expect(await memberships(db, clone)).toEqual(membershipBefore);
  });

  it('alternating users pair verified: the record this function wrote lets later rotations alternate, for this secret only', async () => {
    // GIVEN a pair created by the rotation of one secret
    const admin = adminFor(db);
    const base = unique('paired');
    await admin.createAppUser(base, 'Paired-Pass-1');
    const setUp = setUpFor('alternating-users');
    const masterArn = setUp.fake.createSecret('master', masterSecret(db));
    const arn = setUp.fake.createSecret(
      'app',
      appSecret(db, base, 'Paired-Pass-1', { masterarn: masterArn }),
    );
    await rotate(setUp, arn);
    await rotate(setUp, arn);
    const current = setUp.fake.valueOf<Credentials>(arn);
    expect(current.username).toBe(base);
    // WHEN another secret, holding the clone's working credentials, asks to rotate it
    const clone = setUp.fake.valueOf<Credentials>(arn, 'AWSPREVIOUS');
    const other = setUp.fake.createSecret(
      'other',
      appSecret(db, clone.username, clone.password, { masterarn: masterArn }),
    );
    const token = setUp.fake.startRotation(other);
    await setUp.handler({ SecretId: other, ClientRequestToken: token, Step: 'createSecret' });
    // THEN it is refused: the record names the first secret
    await expect(
      setUp.handler({ SecretId: other, ClientRequestToken: token, Step: 'setSecret' }),
    ).rejects.toThrow(/records user '.*' as the alternate of '.*' for another secret/);
    expect(await admin.canUse(current.username, current.password)).toBe(true);
  });

  it('alternating users account options kept: the clone has the base account options', async () => {
    // GIVEN a base account with options beyond its password
    const admin = adminFor(db);
    const base = unique('opts');
    await admin.createAppUser(base, 'Options-Pass-1');
    if (db.engine === 'postgres') {
      await asAdmin(
        db,
        `ALTER ROLE ${escapeIdentifier(base)} CREATEDB CONNECTION LIMIT 7 VALID UNTIL '2099-01-01 00:00:00+00'`,
      );
    } else {
      await asAdmin(
        db,
        "ALTER USER ?@'%' REQUIRE SSL WITH MAX_USER_CONNECTIONS 5 MAX_QUERIES_PER_HOUR 1000 PASSWORD EXPIRE INTERVAL 90 DAY",
        [base],
      );
    }
    const setUp = setUpFor('alternating-users');
    const masterArn = setUp.fake.createSecret('master', masterSecret(db));
    const arn = setUp.fake.createSecret(
      'app',
      appSecret(db, base, 'Options-Pass-1', { masterarn: masterArn }),
    );
    // WHEN
    await rotate(setUp, arn);
    // THEN
    const clone = setUp.fake.valueOf<Credentials>(arn);
    expect(clone.username).toBe(`${base}_clone`);
    expect(await accountOptions(db, clone.username)).toEqual(await accountOptions(db, base));
    expect(await admin.canUse(clone.username, clone.password)).toBe(true);
    if (db.engine !== 'postgres') {
      // REQUIRE SSL holds for the clone: no login without TLS
      await expect(
        createConnection({ host: db.host, port: db.port, user: clone.username, password: clone.password }),
      ).rejects.toMatchObject({ errno: 1045 });
    }
    // AND a change to the base account reaches the clone at the next rotations
    if (db.engine === 'postgres') {
      await asAdmin(db, `ALTER ROLE ${escapeIdentifier(base)} NOCREATEDB CONNECTION LIMIT 9`);
    } else {
      await asAdmin(db, "ALTER USER ?@'%' WITH MAX_USER_CONNECTIONS 9", [base]);
    }
    await rotate(setUp, arn);
    await rotate(setUp, arn);
    expect(await accountOptions(db, clone.username)).toEqual(await accountOptions(db, base));
  });

  it('concurrency for setSecret: two invocations of setSecret with the same token at the same moment both succeed', async () => {
    const admin = adminFor(db);
    for (const strategy of ['single-user', 'alternating-users'] as const) {
      for (let trial = 0; trial < 5; trial++) {
        // GIVEN two function instances (a manual invoke racing the service's retry)
        const username = unique('race');
        await admin.createAppUser(username, 'Race-Pass-1');
        const first = setUpFor(strategy);
        const second = rotationSetUp(db, strategy, undefined, first.fake);
        setUps.push(second);
        const masterArn = first.fake.createSecret('master', masterSecret(db));
        const arn = first.fake.createSecret(
          'app',
          appSecret(
            db,
            username,
            'Race-Pass-1',
            strategy === 'alternating-users' ? { masterarn: masterArn } : {},
          ),
        );
        const token = first.fake.startRotation(arn);
        await first.handler({ SecretId: arn, ClientRequestToken: token, Step: 'createSecret' });
        // WHEN
        const results = await Promise.allSettled([
          first.handler({ SecretId: arn, ClientRequestToken: token, Step: 'setSecret' }),
          second.handler({ SecretId: arn, ClientRequestToken: token, Step: 'setSecret' }),
        ]);
        // THEN
        expect(
          results.map((r) =>
            r.status === 'rejected' ? `${strategy}: ${describeError(r.reason)}` : r.status,
          ),
        ).toEqual(['fulfilled', 'fulfilled']);
        const pending = first.fake.valueOf<Credentials>(arn, 'AWSPENDING');
        expect(await admin.canUse(pending.username, pending.password)).toBe(true);
      }
    }
  });

  if (name === 'MariaDB') {
    it('fallback never weakens transport: setSecret falls back to AWSPREVIOUS (ssl false) over TLS', async () => {
      // GIVEN AWSPREVIOUS with ssl false holding the only working password, and an account that requires TLS,
      // so that a login without TLS is refused
      const admin = adminFor(db);
      const username = unique('transport');
      await admin.createAppUser(username, 'Transport-Pass-1');
      await asAdmin(db, "ALTER USER ?@'%' REQUIRE SSL", [username]);
      const setUp = setUpFor('single-user');
      const arn = setUp.fake.createSecret('app', appSecret(db, username, 'Transport-Pass-1'));
      await rotate(setUp, arn);
      const previousId = setUp.fake.versionOf(arn, 'AWSPREVIOUS') as string;
      const previous = setUp.fake.secret(arn).versions.get(previousId) as { secretString?: string };
      previous.secretString = JSON.stringify(appSecret(db, username, 'Transport-Pass-1', { ssl: false }));
      await setPasswordAsAdmin(db, username, 'Transport-Pass-1');
      // WHEN
      await rotate(setUp, arn, ['createSecret', 'setSecret']);
      // THEN the change went through over TLS, with the AWSPREVIOUS credentials
      const pending = setUp.fake.valueOf<Credentials>(arn, 'AWSPENDING');
      expect(await admin.canUse(username, pending.password)).toBe(true);
      if (db.engine === 'postgres') {
        const rows = await asAdmin(
          db,
          'SELECT count(*)::int AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = $1 AND NOT s.ssl',
          [username],
        );
        expect(rows[0]?.n).toBe(0);
      }
    });

    it('passwords on the wire: MariaDB receives hashes, each password change once, and its general log holds no new password', async () => {
      // GIVEN a general log of every statement
      const admin = adminFor(db);
      const single = unique('wire');
      const base = unique('wirealt');
      await admin.createAppUser(single, 'Wire-Pass-1');
      await admin.createAppUser(base, 'Wire-Pass-2');
      await asAdmin(db, "SET GLOBAL log_output = 'TABLE'");
      await asAdmin(db, 'SET GLOBAL general_log = 1');
      const passwords: string[] = [];
      try {
        // WHEN single-user and alternating-users rotations run
        const one = setUpFor('single-user');
        const arn = one.fake.createSecret('app', appSecret(db, single, 'Wire-Pass-1'));
        await rotate(one, arn);
        await rotate(one, arn);
        const two = setUpFor('alternating-users');
        const masterArn = two.fake.createSecret('master', masterSecret(db));
        const alt = two.fake.createSecret(
          'app',
          appSecret(db, base, 'Wire-Pass-2', { masterarn: masterArn }),
        );
        for (let i = 0; i < 3; i++) {
          await rotate(two, alt);
          passwords.push(two.fake.valueOf<Credentials>(alt).password);
        }
        passwords.push(
          one.fake.valueOf<Credentials>(arn).password,
          one.fake.valueOf<Credentials>(arn, 'AWSPREVIOUS').password,
        );
      } finally {
        await asAdmin(db, 'SET GLOBAL general_log = 0');
      }
      // THEN
      const log = (
        await asAdmin(
          db,
          "SELECT CONVERT(argument USING utf8mb4) AS statement FROM mysql.general_log WHERE command_type = 'Query'",
        )
      ).map((row) => String(row.statement));
      for (const password of passwords) {
        const escaped = password.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
        expect(
          log.filter((statement) => statement.includes(password) || statement.includes(escaped)),
        ).toEqual([]);
      }
      expect(log.filter((s) => /^SET PASSWORD = '\*[0-9A-F]{40}'$/.test(s))).toHaveLength(2);
      expect(
        log.filter((s) => /^ALTER USER .* IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}'$/.test(s)).length,
      ).toBeGreaterThanOrEqual(2);
      expect(
        log.filter((s) => /^CREATE USER .* IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}'/.test(s)),
      ).toHaveLength(1);
      expect(log.filter((s) => /ALTER USER CURRENT_USER\(\)/i.test(s))).toEqual([]);
      await asAdmin(db, 'TRUNCATE TABLE mysql.general_log');
    });

    it('sets the session sql_mode explicitly: a server in ANSI_QUOTES mode still alternates users', async () => {
      // GIVEN a server whose global sql_mode makes SHOW GRANTS quote with double quotes
      const admin = adminFor(db);
      const base = unique('ansi');
      await admin.createAppUser(base, 'Ansi-Pass-1');
      const [row] = await asAdmin(db, 'SELECT @@GLOBAL.sql_mode AS mode');
      const mode = String(row?.mode);
      await asAdmin(db, "SET GLOBAL sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'");
      try {
        const setUp = setUpFor('alternating-users');
        const masterArn = setUp.fake.createSecret('master', masterSecret(db));
        const arn = setUp.fake.createSecret(
          'app',
          appSecret(db, base, 'Ansi-Pass-1', { masterarn: masterArn }),
        );
        // WHEN
        await rotate(setUp, arn);
        await rotate(setUp, arn);
        // THEN
        const current = setUp.fake.valueOf<Credentials>(arn);
        const previous = setUp.fake.valueOf<Credentials>(arn, 'AWSPREVIOUS');
        expect(await admin.canUse(current.username, current.password)).toBe(true);
        expect(await admin.canUse(previous.username, previous.password)).toBe(true);
      } finally {
        await asAdmin(db, 'SET GLOBAL sql_mode = ?', [mode]);
      }
    });

    it('retries ER_DBACCESS_DENIED_ERROR (1044) at login as transient: another invocation is between REVOKE and GRANT', async () => {
      // GIVEN a user who has, for the moment, no privilege on the database
      const username = unique('revoked');
      await asAdmin(db, "CREATE USER ?@'%' IDENTIFIED BY 'Revoked-Pass-1'", [username]);
      const engine = new MySqlEngine({ connectTimeoutMs: 5000, ...(db.caPem ? { caPem: db.caPem } : {}) });
      // WHEN / THEN
      await expect(
        engine.connect({
          host: db.host,
          port: db.port,
          username,
          password: 'Revoked-Pass-1',
          database: db.database,
          ssl: true,
        }),
      ).rejects.toMatchObject({
        name: 'DatabaseUnavailableError',
        transient: true,
        code: 'ER_DBACCESS_DENIED_ERROR 1044',
      });
    });
  }

  if (name === 'PostgreSQL') {
    it('alternating users account options kept: the clone has the base role settings, search_path included', async () => {
      // GIVEN a base role with settings for every database and for one
      const admin = adminFor(db);
      const base = unique('settings');
      await admin.createAppUser(base, 'Settings-Pass-1');
      const role = escapeIdentifier(base);
      await asAdmin(db, `ALTER ROLE ${role} SET search_path = "$user", "My Schema", public`);
      await asAdmin(db, `ALTER ROLE ${role} SET statement_timeout = '5s'`);
      await asAdmin(
        db,
        `ALTER ROLE ${role} IN DATABASE ${escapeIdentifier(db.database)} SET work_mem = '8MB'`,
      );
      const setUp = setUpFor('alternating-users');
      const masterArn = setUp.fake.createSecret('master', masterSecret(db));
      const arn = setUp.fake.createSecret(
        'app',
        appSecret(db, base, 'Settings-Pass-1', { masterarn: masterArn }),
      );
      // WHEN
      await rotate(setUp, arn);
      // THEN
      const clone = setUp.fake.valueOf<Credentials>(arn).username;
      expect(await roleSettings(db, clone)).toEqual(await roleSettings(db, base));
      expect(await roleSettings(db, clone)).toEqual([
        `${db.database}: work_mem=8MB`,
        'search_path="$user", "My Schema", public',
        'statement_timeout=5s',
      ]);
      // AND a setting removed from the base role is removed from the clone at the next rotations
      await asAdmin(db, `ALTER ROLE ${role} RESET statement_timeout`);
      await rotate(setUp, arn);
      await rotate(setUp, arn);
      expect(await roleSettings(db, clone)).toEqual(await roleSettings(db, base));
    });

    it('passwords on the wire: PostgreSQL verifiers match the ones the server computes, SASLprep included', async () => {
      const role = unique('prep');
      await asAdmin(db, `CREATE ROLE ${escapeIdentifier(role)} LOGIN`);
      for (const password of [
        'I\u00adX-pass',
        'a\u200bb\u00a0c',
        'w\u00f6rd\u20ac',
        'e\u0301t\u00e9',
        '\u00aa\u00bd',
        '\u00e9\u0007',
        'plain ascii',
      ]) {
        // GIVEN the verifier the server derives itself from the plaintext
        await asAdmin(db, `ALTER ROLE ${escapeIdentifier(role)} PASSWORD '${password.replace(/'/g, "''")}'`);
        const [row] = await asAdmin(db, 'SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]);
        const stored = String(row?.rolpassword);
        const [, iterationsAndSalt] = stored.split('$');
        const [iterations, salt] = (iterationsAndSalt ?? '').split(':');
        // WHEN / THEN this function derives the same from the same salt
        const prepared = saslPrep(password);
        expect(prepared).toBeDefined();
        expect(scramVerifier(prepared as string, Buffer.from(salt ?? '', 'base64'), Number(iterations))).toBe(
          stored,
        );
      }
    });

    it('passwords on the wire: a generated password with characters SASLprep maps still logs in after the change', async () => {
      // GIVEN passwords drawn from characters that NFKC keeps but SASLprep drops (U+00AD, table B.1) or maps
      // to a space (U+200B, table C.1.2): the verifier must be derived from the prepared form
      const admin = adminFor(db);
      const username = unique('mapped');
      await admin.createAppUser(username, 'Mapped-Pass-1');
      const setUp = setUpFor('single-user');
      setUp.fake.passwordAlphabet = 'ab\u00ad\u200b';
      const arn = setUp.fake.createSecret('app', appSecret(db, username, 'Mapped-Pass-1'));
      // WHEN
      await rotate(setUp, arn);
      // THEN
      const current = setUp.fake.valueOf<Credentials>(arn);
      expect(await admin.canUse(username, current.password)).toBe(true);
    });
  }
});

describe.each([
  ['PostgreSQL', (options: { tls: boolean; tlsNames?: string[] }) => startPostgres(options)],
  ['MariaDB', (options: { tls: boolean; tlsNames?: string[] }) => startMariaDb(options)],
] as const)('%s: TLS errors say what is wrong', (_name, start) => {
  let plain: LocalDatabase;
  let misnamed: LocalDatabase;
  let otherCa: string;
  const dir = mkdtempSync(join(tmpdir(), 'rotation-other-ca-'));
  const setUps: SetUp[] = [];

  beforeAll(async () => {
    plain = await start({ tls: false });
    misnamed = await start({ tls: true, tlsNames: ['DNS:db.example.invalid'] });
    otherCa = makeCertificates(dir).caPem;
  }, 180_000);

  afterAll(async () => {
    for (const setUp of setUps) setUp.cleanup();
    rmSync(dir, { recursive: true, force: true });
    await plain?.stop();
    await misnamed?.stop();
  });

  async function setSecretError(target: LocalDatabase, trusted: string | undefined): Promise<unknown> {
    // The admin connects without TLS: its own connection need not pass the checks under test.
    const admin = adminFor({ ...target, caPem: undefined } as LocalDatabase);
    const username = `tls_${setUps.length + 1}`;
    await admin.createAppUser(username, 'Tls-Pass-1');
    const setUp = rotationSetUp(
      { ...target, ...(trusted ? { caPem: trusted } : {}) } as LocalDatabase,
      'single-user',
    );
    setUps.push(setUp);
    const arn = setUp.fake.createSecret('app', appSecret(target, username, 'Tls-Pass-1'));
    const token = setUp.fake.startRotation(arn);
    await setUp.handler({ SecretId: arn, ClientRequestToken: token, Step: 'createSecret' });
    const error = await setUp.handler({ SecretId: arn, ClientRequestToken: token, Step: 'setSecret' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(await admin.canUse(username, 'Tls-Pass-1')).toBe(true);
    return error;
  }

  it('says the server does not offer TLS, and never falls back to plaintext', async () => {
    const error = await setSecretError(plain, otherCa);
    expect(error).toBeInstanceOf(DatabaseTlsError);
    expect((error as Error).message).toMatch(/the server does not offer TLS/);
  });

  it("says the certificate's issuer is not trusted", async () => {
    const error = await setSecretError(misnamed, otherCa);
    expect(error).toBeInstanceOf(DatabaseTlsError);
    expect((error as Error).message).toMatch(/the issuer of the server's certificate is not trusted/);
  });

  it("says the certificate's name does not match the host", async () => {
    const error = await setSecretError(misnamed, misnamed.caPem);
    expect(error).toBeInstanceOf(DatabaseTlsError);
    expect((error as Error).message).toMatch(/does not name the host of the secret/);
  });
});

/** Role memberships (PostgreSQL) or grants (MariaDB) of a user, to prove nothing changed. */
async function memberships(db: LocalDatabase, user: string): Promise<string[]> {
  if (db.engine === 'postgres') {
    const rows = await asAdmin(
      db,
      `SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE u.rolname = $1 ORDER BY 1`,
      [user],
    );
    return rows.map((row) => String(row.rolname));
  }
  const rows = await asAdmin(db, "SHOW GRANTS FOR ?@'%'", [user]);
  return rows.map((row) => String(Object.values(row)[0])).sort();
}

/** A PostgreSQL role's settings as `database: name=value` (no database: every database), sorted. */
async function roleSettings(db: LocalDatabase, role: string): Promise<string[]> {
  const rows = await asAdmin(
    db,
    `SELECT d.datname AS database, unnest(s.setconfig) AS setting FROM pg_db_role_setting s
       JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase
      WHERE r.rolname = $1`,
    [role],
  );
  return rows.map((row) => (row.database ? `${row.database}: ${row.setting}` : String(row.setting))).sort();
}

/** The account options of a user, without its password: what the clone must share with the base. */
async function accountOptions(db: LocalDatabase, user: string): Promise<unknown> {
  if (db.engine === 'postgres') {
    const [row] = await asAdmin(
      db,
      `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil
         FROM pg_roles WHERE rolname = $1`,
      [user],
    );
    return row;
  }
  const [row] = await asAdmin(db, "SHOW CREATE USER ?@'%'", [user]);
  const statement = String(Object.values(row ?? {})[0]);
  // Everything after the password clause: REQUIRE, WITH, PASSWORD EXPIRE, ACCOUNT
  return statement.replace(/^CREATE USER \S+ IDENTIFIED BY PASSWORD '[^']*'/, '');
}

async function setPasswordAsAdmin(db: LocalDatabase, user: string, password: string): Promise<void> {
  if (db.engine === 'postgres') {
    await asAdmin(db, `ALTER ROLE ${escapeIdentifier(user)} PASSWORD '${password.replace(/'/g, "''")}'`);
  } else {
    await asAdmin(db, "ALTER USER ?@'%' IDENTIFIED BY ?", [user, password]);
  }
}

/** An error's name, message and the chain of its causes' names and messages, for a failed expectation. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (
    let e = error as { name?: string; message?: string; cause?: unknown } | undefined;
    e;
    e = e.cause as typeof e
  ) {
    parts.push(`${e.name}: ${e.message}`);
  }
  return parts.join(' <- ');
}
