import { PasswordForm } from '../../../functions/database/engines/engine';
import {
  accountFromGlobalPriv,
  accountFromUserRow,
  accountOptionsClause,
  cachingSha2Hash,
  identifiedClause,
  nativePasswordHash,
  ownPasswordStatement,
  parseServerVersion,
  pluginOfCreateUser,
  SESSION_SQL_MODE,
  sha256CryptDigest,
} from '../../../functions/database/engines/mysql';
import {
  attributeChanges,
  pairComment,
  parsePairComment,
  passwordLiteral,
  type RoleAttributes,
  scramVerifier,
} from '../../../functions/database/engines/postgres';
import { saslPrep } from '../../../functions/database/engines/saslprep';
import { DatabaseTlsError, TlsFailure, tlsFailureOf } from '../../../functions/database/errors';

const MARIADB = parseServerVersion('10.11.19-MariaDB-0+deb12u1');
const MARIADB_103 = parseServerVersion('5.5.5-10.3.39-MariaDB');
const MYSQL_8 = parseServerVersion('8.0.36');
const PASSWORD = "n3w'Pa$$w0rd\\%";

describe('passwords on the wire', () => {
  it('computes the mysql_native_password hash the server stores (MariaDB 10.11 stored this one for pw1)', () => {
    expect(nativePasswordHash('pw1')).toBe('*2B602296A79E0A8784ACC5C88D92E46588CCA3C3');
  });

  it('reads the flavor and version of MySQL and MariaDB servers, handshake prefix included', () => {
    expect(MARIADB).toEqual({ flavor: 'mariadb', version: [10, 11, 19] });
    expect(MARIADB_103).toEqual({ flavor: 'mariadb', version: [10, 3, 39] });
    expect(MYSQL_8).toEqual({ flavor: 'mysql', version: [8, 0, 36] });
  });

  it.each([
    ['MariaDB 10.11', MARIADB, "IDENTIFIED BY PASSWORD '*"],
    ['MariaDB 10.3', MARIADB_103, "IDENTIFIED BY PASSWORD '*"],
    ['MySQL 8.0', MYSQL_8, "IDENTIFIED WITH 'mysql_native_password' AS '*"],
  ])('sends %s a mysql_native_password account its hash, never the plaintext', (_name, server, prefix) => {
    const { clause, form } = identifiedClause(server, 'mysql_native_password', PASSWORD);
    expect(clause.startsWith(prefix)).toBe(true);
    expect(clause).toContain(nativePasswordHash(PASSWORD));
    expect(clause).not.toContain('Pa$$');
    expect(form).toBe(PasswordForm.HASH);
  });

  it('computes SHA-256 crypt as the specification and glibc crypt(3) do', () => {
    const hello = Buffer.from('Hello world!');
    expect(sha256CryptDigest(hello, Buffer.from('saltstring'), 5000)).toBe(
      '5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5',
    );
    expect(sha256CryptDigest(hello, Buffer.from('saltstringsaltst'), 10000)).toBe(
      '3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA',
    );
  });

  it('computes the caching_sha2_password string MySQL 8 stores (a stored string of the password foobar)', () => {
    // MySQL 8's authentication_string for 'foobar', with the 20 salt bytes it drew (some are not printable)
    const stored = Buffer.from(
      '24412430303524031A69251C34295C4B35167C7F1E5A7B63091349503974624D34504B5A424679354856336868686F52485A736E4A733368786E427575516C73446469496537',
      'hex',
    );
    const salt = stored.subarray(7, 27);
    expect(`$A$005$${salt.toString('latin1')}${sha256CryptDigest(Buffer.from('foobar'), salt, 5000)}`).toBe(
      stored.toString('latin1'),
    );
    expect(cachingSha2Hash('foobar', salt.toString('latin1'))).toBe(stored.toString('latin1'));
  });

  it('sends MySQL 8 a caching_sha2_password account its hash, with a printable salt', () => {
    const { clause, form } = identifiedClause(MYSQL_8, 'caching_sha2_password', PASSWORD);
    expect(clause).toMatch(
      /^IDENTIFIED WITH 'caching_sha2_password' AS '\$A\$005\$[0-9A-Za-z]{20}[./0-9A-Za-z]{43}'$/,
    );
    expect(form).toBe(PasswordForm.HASH);
  });

  it('lets a MariaDB user change its own native password with SET PASSWORD and the hash', () => {
    const { sql, form } = ownPasswordStatement(MARIADB, 'mysql_native_password', PASSWORD);
    expect(sql).toBe(`SET PASSWORD = '${nativePasswordHash(PASSWORD)}'`);
    expect(form).toBe(PasswordForm.HASH);
  });

  it('keeps the plugin of an account whose plugin takes no hash we compute, and says plaintext was sent', () => {
    expect(identifiedClause(MARIADB, 'ed25519', 'pw')).toEqual({
      clause: "IDENTIFIED VIA ed25519 USING PASSWORD('pw')",
      form: PasswordForm.PLAINTEXT,
    });
    expect(ownPasswordStatement(MARIADB, 'ed25519', 'pw')).toEqual({
      sql: "SET PASSWORD = PASSWORD('pw')",
      form: PasswordForm.PLAINTEXT,
    });
    expect(ownPasswordStatement(MYSQL_8, 'caching_sha2_password', 'pw').form).toBe(PasswordForm.PLAINTEXT);
  });

  it('refuses a plugin name that is not a plain identifier rather than putting it into a statement', () => {
    expect(() => identifiedClause(MARIADB, 'x USING 1; DROP', 'pw')).toThrow('UNKNOWN_PLUGIN');
  });

  it('reads the plugin of the own account from SHOW CREATE USER', () => {
    expect(pluginOfCreateUser("CREATE USER `u`@`%` IDENTIFIED BY PASSWORD '*2B60' REQUIRE SSL")).toBe(
      'mysql_native_password',
    );
    expect(pluginOfCreateUser("CREATE USER `e`@`%` IDENTIFIED VIA ed25519 USING 'Gv2J'")).toBe('ed25519');
    expect(
      pluginOfCreateUser("CREATE USER `m`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$'"),
    ).toBe('caching_sha2_password');
  });

  it('sends PostgreSQL the SCRAM verifier of the SASLprep form of the password', () => {
    const { literal, form } = passwordLiteral('a\u00adb\u00a0c');
    expect(form).toBe(PasswordForm.HASH);
    const salt = Buffer.from(literal.split('$')[1]?.split(':')[1] ?? '', 'base64');
    expect(literal).toBe(`'${scramVerifier('ab c', salt)}'`);
  });

  it('lets PostgreSQL hash a password whose SASLprep form this function cannot be sure of', () => {
    expect(passwordLiteral('\u05d0\u05d1 rtl').form).toBe(PasswordForm.PLAINTEXT);
  });
});

describe('SASLprep (RFC 4013) as PostgreSQL applies it', () => {
  it.each([
    ['an ASCII password, as it is, controls included', 'abc\tdef', 'abc\tdef'],
    ['U+00AD (table B.1) mapped to nothing', 'I\u00adX', 'IX'],
    ['U+200B and U+00A0 (table C.1.2) mapped to a space', 'a\u200bb\u00a0c', 'a b c'],
    ['compatibility forms normalised to NFKC', '\u00aa\u00bd', 'a1\u20442'],
    ['a precomposed letter kept', 'wörd€', 'wörd€'],
    ['a decomposed letter composed', 'e\u0301t\u00e9', '\u00e9t\u00e9'],
  ])('prepares %s', (_case, input, expected) => {
    expect(saslPrep(input)).toBe(expected);
  });

  it('uses the unprepared password when the prepared one holds a prohibited ASCII control, as PostgreSQL does', () => {
    expect(saslPrep('é\u0007')).toBe('é\u0007');
  });

  it.each([
    ['right-to-left text (bidi rules)', '\u05d0\u05d1'],
    ['a character outside the blocks it is sure of', 'pass\u{1f600}'],
    ['a lone surrogate', 'a\ud800'],
  ])('declines %s so that the server hashes it', (_case, input) => {
    expect(saslPrep(input)).toBeUndefined();
  });
});

describe('the MySQL clone keeps every account option', () => {
  it('reads MariaDB global_priv and writes REQUIRE, resource limits, expiry and lock back', () => {
    const account = accountFromGlobalPriv('%', {
      plugin: 'mysql_native_password',
      ssl_type: 1,
      max_questions: 100,
      max_user_connections: 5,
      max_statement_time: 2.5,
      password_lifetime: 90,
      account_locked: true,
    });
    expect(accountOptionsClause(account.options, MARIADB)).toBe(
      'REQUIRE SSL WITH MAX_QUERIES_PER_HOUR 100 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 ' +
        'MAX_USER_CONNECTIONS 5 MAX_STATEMENT_TIME 2.5 PASSWORD EXPIRE INTERVAL 90 DAY ACCOUNT LOCK',
    );
  });

  it('escapes X509 issuer and subject with the driver', () => {
    const account = accountFromGlobalPriv('%', {
      ssl_type: 3,
      x509_issuer: "/CN=it's CA",
      x509_subject: '/CN=app',
    });
    expect(accountOptionsClause(account.options, MARIADB)).toMatch(
      /^REQUIRE ISSUER '\/CN=it\\'s CA' AND SUBJECT '\/CN=app' WITH .* PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK$/,
    );
  });

  it('reads a MySQL 8 mysql.user row with its password and failed-login options', () => {
    const account = accountFromUserRow({
      Host: '10.0.%',
      plugin: 'caching_sha2_password',
      ssl_type: 'X509',
      ssl_cipher: Buffer.from(''),
      x509_issuer: Buffer.from(''),
      x509_subject: Buffer.from(''),
      max_questions: 0,
      max_updates: 7,
      max_connections: 0,
      max_user_connections: 0,
      password_lifetime: null,
      account_locked: 'N',
      Password_reuse_history: 5,
      Password_reuse_time: null,
      Password_require_current: 'Y',
      User_attributes: '{"Password_locking": {"failed_login_attempts": 3, "password_lock_time_days": -1}}',
    });
    expect(account.host).toBe('10.0.%');
    expect(accountOptionsClause(account.options, MYSQL_8)).toBe(
      'REQUIRE X509 WITH MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 7 MAX_CONNECTIONS_PER_HOUR 0 ' +
        'MAX_USER_CONNECTIONS 0 PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK PASSWORD HISTORY 5 ' +
        'PASSWORD REUSE INTERVAL DEFAULT PASSWORD REQUIRE CURRENT FAILED_LOGIN_ATTEMPTS 3 PASSWORD_LOCK_TIME UNBOUNDED',
    );
  });

  it('leaves out the password and lock options a MariaDB older than 10.4 does not know', () => {
    const account = accountFromUserRow({ Host: '%', ssl_type: '', max_statement_time: '0.000000' });
    expect(accountOptionsClause(account.options, MARIADB_103)).toBe(
      'REQUIRE NONE WITH MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 ' +
        'MAX_USER_CONNECTIONS 0 MAX_STATEMENT_TIME 0',
    );
  });

  it('sets sql_mode without ANSI_QUOTES and NO_BACKSLASH_ESCAPES', () => {
    expect(SESSION_SQL_MODE).not.toMatch(/ANSI_QUOTES|NO_BACKSLASH_ESCAPES|ANSI\b/);
  });
});

describe('PostgreSQL role attributes of the clone', () => {
  const role = (changes: Partial<RoleAttributes> = {}): RoleAttributes => ({
    rolsuper: false,
    rolcreatedb: false,
    rolcreaterole: false,
    rolreplication: false,
    rolbypassrls: false,
    rolinherit: true,
    rolcanlogin: true,
    rolconnlimit: -1,
    validuntil: null,
    ...changes,
  });

  it('copies only what differs, since naming SUPERUSER or REPLICATION at all needs a superuser', () => {
    expect(attributeChanges(role({ rolcreatedb: true, rolconnlimit: 7 }), role())).toBe(
      ' CREATEDB CONNECTION LIMIT 7',
    );
    expect(attributeChanges(role(), role({ rolcreaterole: true, rolinherit: false }))).toBe(
      ' NOCREATEROLE INHERIT',
    );
    expect(attributeChanges(role({ validuntil: '2030-01-01 00:00:00+00' }), role())).toBe(
      " VALID UNTIL '2030-01-01 00:00:00+00'",
    );
    expect(attributeChanges(role(), role())).toBe('');
  });

  it('keeps the clone able to log in and inherit even when the base role cannot log in', () => {
    expect(attributeChanges(role({ rolcanlogin: false }), role())).toBe('');
  });

  it('reads back only a pair record it wrote, for the same clone', () => {
    const record = {
      secretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:a',
      base: 'app',
      clone: 'app_clone',
    };
    expect(parsePairComment(pairComment(record), 'app_clone')).toEqual(record);
    expect(parsePairComment(pairComment(record), 'other_clone')).toBeUndefined();
    expect(parsePairComment('a comment an operator wrote', 'app_clone')).toBeUndefined();
    expect(parsePairComment(null, 'app_clone')).toBeUndefined();
  });
});

describe('TLS errors say what is wrong', () => {
  it.each([
    [
      { code: 'HANDSHAKE_NO_SSL_SUPPORT', message: 'Server does not support secure connection' },
      TlsFailure.NOT_OFFERED,
    ],
    [{ message: 'The server does not support SSL connections' }, TlsFailure.NOT_OFFERED],
    [
      { code: 'HANDSHAKE_SSL_ERROR', message: 'self-signed certificate in certificate chain' },
      TlsFailure.UNTRUSTED_ISSUER,
    ],
    [
      { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'unable to verify the first certificate' },
      TlsFailure.UNTRUSTED_ISSUER,
    ],
    [
      { code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" },
      TlsFailure.NAME_MISMATCH,
    ],
    [{ code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' }, TlsFailure.EXPIRED],
  ])('classifies %j as the reason %s', (error, reason) => {
    expect(tlsFailureOf(Object.assign(new Error(error.message), error))?.reason).toBe(reason);
  });

  it('ignores an error that is not about TLS', () => {
    expect(
      tlsFailureOf(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    ).toBeUndefined();
  });

  it('names the host and the fix, and is never transient', () => {
    const error = new DatabaseTlsError(
      'db.internal',
      TlsFailure.UNTRUSTED_ISSUER,
      'SELF_SIGNED_CERT_IN_CHAIN',
    );
    expect(error.message).toBe(
      "TLS to the database at db.internal failed: the issuer of the server's certificate is not trusted; add its " +
        'CA to the PEM file named by DB_CA_BUNDLE_PATH (SELF_SIGNED_CERT_IN_CHAIN)',
    );
    expect(error).toMatchObject({ name: 'DatabaseTlsError', transient: false });
  });
});
