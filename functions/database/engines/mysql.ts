import { createHash, randomInt } from 'node:crypto';
import { type Connection, createConnection, escapeId, escape as escapeValue, format } from 'mysql2/promise';
import {
  DatabaseAuthenticationError,
  DatabaseStatementError,
  DatabaseTlsError,
  DatabaseUnavailableError,
  tlsFailureOf,
} from '../errors';
import {
  type ConnectionTarget,
  type DatabaseEngine,
  type DatabaseSession,
  type EngineSettings,
  type LiveSession,
  type LiveSessions,
  type PairRecord,
  PasswordForm,
  type UserPair,
} from './engine';
import { fitsUsername, truncateUsername, USERNAME_LIMITS } from './naming';
import { mysqlTls } from './trust';

/** Error codes of refused credentials. */
const AUTHENTICATION = new Set([1045, 1698]);
/** Error codes and socket errors after which another attempt may succeed. */
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
]);
const TRANSIENT_ERRNO = new Set([
  1040, // too many connections
  1203, // user has too many connections
  // ER_DBACCESS_DENIED_ERROR: on MariaDB, a login that lands between another invocation's REVOKE ALL and
  // its GRANTs is refused the database for a moment; a lasting refusal still fails after the retries.
  1044,
]);
/**
 * Statement errors of a race with another invocation changing the same account: a deadlock, a lock wait
 * timeout, CREATE USER of a user created a moment ago (ER_CANNOT_USER), the pair record inserted twice.
 */
const CONCURRENT_ERRNO = new Set([1213, 1205, 1396, 1062]);
/** The table or database of the pair records does not exist (yet): no pair was ever recorded. */
const NO_SUCH_TABLE = new Set([1146, 1049]);

/**
 * The session's sql_mode, set explicitly: whatever the server's global mode, `SHOW GRANTS` then quotes
 * identifiers with backticks (no ANSI_QUOTES) and the driver's backslash escaping holds (no
 * NO_BACKSLASH_ESCAPES). Both modes are known to MySQL 5.7, 8.x, 9.x and every MariaDB.
 */
export const SESSION_SQL_MODE = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION';

/** Where the pair records live (created by the master when it creates the first clone). */
const PAIR_SCHEMA = 'secret_rotation';
const PAIR_TABLE = `${escapeId(PAIR_SCHEMA)}.${escapeId('user_pairs')}`;

/** Authentication plugins whose hash this module computes. */
export const MySqlPlugin = {
  NATIVE: 'mysql_native_password',
  CACHING_SHA2: 'caching_sha2_password',
} as const;

/** The kind and version of a MySQL-protocol server, from `VERSION()`. */
export interface MySqlServer {
  readonly flavor: 'mysql' | 'mariadb';
  readonly version: readonly [number, number, number];
}

/** Parses `VERSION()`, e.g. `8.0.36`, `10.11.19-MariaDB-0+deb12u1` (or `5.5.5-10.11.19-MariaDB` from the handshake). */
export function parseServerVersion(text: string): MySqlServer {
  const flavor = /mariadb/i.test(text) ? 'mariadb' : 'mysql';
  const stripped = flavor === 'mariadb' ? text.replace(/^5\.5\.5-/, '') : text;
  const [major = 0, minor = 0, patch = 0] = (/^(\d+)\.(\d+)\.(\d+)/.exec(stripped) ?? [])
    .slice(1)
    .map(Number);
  return { flavor, version: [major, minor, patch] };
}

function atLeast(server: MySqlServer, major: number, minor: number, patch = 0): boolean {
  const [a, b, c] = server.version;
  return a !== major ? a > major : b !== minor ? b > minor : c >= patch;
}

/** The `mysql_native_password` hash: `*` and the upper-case hex of SHA1(SHA1(password)). */
export function nativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(Buffer.from(password, 'utf8')).digest();
  return `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
}

const CRYPT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SALT_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `length` bytes of `block` repeated, as SHA-crypt builds its P and S sequences. */
function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let at = 0; at < length; at += block.length)
    block.copy(out, at, 0, Math.min(block.length, length - at));
  return out;
}

/**
 * The digest of SHA-256 crypt (Ulrich Drepper's SHA-crypt specification, the algorithm of `$5$` hashes),
 * 43 characters, for any salt length: MySQL's caching_sha2_password uses it with a 20-byte salt.
 */
export function sha256CryptDigest(password: Buffer, salt: Buffer, rounds: number): string {
  const sha = (...parts: Buffer[]) => {
    const hash = createHash('sha256');
    for (const part of parts) hash.update(part);
    return hash.digest();
  };
  const b = sha(password, salt, password);
  const a = createHash('sha256').update(password).update(salt).update(repeatTo(b, password.length));
  for (let length = password.length; length > 0; length >>= 1) a.update(length & 1 ? b : password);
  let c = a.digest();
  const p = repeatTo(sha(...Array<Buffer>(password.length).fill(password)), password.length);
  const s = repeatTo(sha(...Array<Buffer>(16 + (c[0] as number)).fill(salt)), salt.length);
  for (let round = 0; round < rounds; round++) {
    const hash = createHash('sha256');
    hash.update(round & 1 ? p : c);
    if (round % 3 !== 0) hash.update(s);
    if (round % 7 !== 0) hash.update(p);
    hash.update(round & 1 ? c : p);
    c = hash.digest();
  }
  const order = [
    [0, 10, 20],
    [21, 1, 11],
    [12, 22, 2],
    [3, 13, 23],
    [24, 4, 14],
    [15, 25, 5],
    [6, 16, 26],
    [27, 7, 17],
    [18, 28, 8],
    [9, 19, 29],
  ] as const;
  let out = '';
  const encode = (word: number, characters: number) => {
    for (let i = 0; i < characters; i++, word >>= 6) out += CRYPT_ALPHABET[word & 0x3f];
  };
  for (const [x, y, z] of order)
    encode(((c[x] as number) << 16) | ((c[y] as number) << 8) | (c[z] as number), 4);
  encode(((c[31] as number) << 8) | (c[30] as number), 3);
  return out;
}

/**
 * The `caching_sha2_password` authentication string MySQL 8 stores: `$A$`, the rounds in thousands as three
 * hex digits, `$`, a 20-character salt and the SHA-256 crypt digest (MySQL's sha2_password.cc layout). The
 * salt is drawn from letters and digits, so the string is a plain literal.
 */
export function cachingSha2Hash(password: string, salt?: string, rounds = 5000): string {
  const saltText =
    salt ?? Array.from({ length: 20 }, () => SALT_ALPHABET[randomInt(SALT_ALPHABET.length)]).join('');
  const digest = sha256CryptDigest(Buffer.from(password, 'utf8'), Buffer.from(saltText, 'latin1'), rounds);
  return `$A$${(rounds / 1000).toString(16).toUpperCase().padStart(3, '0')}$${saltText}${digest}`;
}

/** The account options `CREATE USER` and `ALTER USER` carry besides the password. */
export interface AccountOptions {
  /** `''` (REQUIRE NONE), `ANY` (REQUIRE SSL), `X509` or `SPECIFIED` (ISSUER, SUBJECT, CIPHER). */
  readonly sslType: '' | 'ANY' | 'X509' | 'SPECIFIED';
  readonly sslCipher: string;
  readonly x509Issuer: string;
  readonly x509Subject: string;
  readonly maxQuestions: number;
  readonly maxUpdates: number;
  readonly maxConnections: number;
  readonly maxUserConnections: number;
  /** MariaDB only, in seconds. */
  readonly maxStatementTime?: number;
  /** Days; `null` for the server's default policy, 0 for never. */
  readonly passwordLifetime: number | null;
  readonly locked: boolean;
  /** MySQL 8: `null` for the server's default. */
  readonly passwordHistory?: number | null;
  readonly passwordReuseDays?: number | null;
  readonly passwordRequireCurrent?: boolean | null;
  readonly failedLoginAttempts?: number;
  /** Days; -1 for UNBOUNDED. */
  readonly passwordLockDays?: number;
}

/** One `user@host` account as the server stores it. */
export interface MySqlAccount {
  readonly host: string;
  readonly plugin: string;
  readonly options: AccountOptions;
}

const SSL_TYPES = ['', 'ANY', 'X509', 'SPECIFIED'] as const;

const text = (value: unknown): string =>
  value === null || value === undefined
    ? ''
    : Buffer.isBuffer(value)
      ? value.toString('utf8')
      : String(value);
const count = (value: unknown): number => {
  const n = Number(value ?? 0);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
};
const orNull = (value: unknown): number | null =>
  value === null || value === undefined || value === '' ? null : count(value);

/** An account from a row of MariaDB's `mysql.global_priv` (10.4 and later): `Priv` is a JSON document. */
export function accountFromGlobalPriv(host: string, priv: unknown): MySqlAccount {
  const p = (typeof priv === 'string' ? JSON.parse(priv) : (priv ?? {})) as Record<string, unknown>;
  const lifetime = p.password_lifetime === undefined ? null : count(p.password_lifetime);
  return {
    host,
    plugin: text(p.plugin) || MySqlPlugin.NATIVE,
    options: {
      sslType: SSL_TYPES[count(p.ssl_type)] ?? '',
      sslCipher: text(p.ssl_cipher),
      x509Issuer: text(p.x509_issuer),
      x509Subject: text(p.x509_subject),
      maxQuestions: count(p.max_questions),
      maxUpdates: count(p.max_updates),
      maxConnections: count(p.max_connections),
      maxUserConnections: count(p.max_user_connections),
      maxStatementTime: Number(p.max_statement_time ?? 0) || 0,
      passwordLifetime: lifetime === null || lifetime < 0 ? null : lifetime,
      locked: p.account_locked === true,
    },
  };
}

/** An account from a row of `mysql.user` (MySQL, and MariaDB before 10.4). */
export function accountFromUserRow(row: Record<string, unknown>): MySqlAccount {
  const sslType = text(row.ssl_type).toUpperCase();
  const attributes = (() => {
    const raw = row.User_attributes;
    try {
      return (typeof raw === 'string' ? JSON.parse(raw) : (raw ?? {})) as Record<string, unknown>;
    } catch {
      return {};
    }
  })();
  const locking = (attributes.Password_locking ?? undefined) as Record<string, unknown> | undefined;
  const requireCurrent = text(row.Password_require_current).toUpperCase();
  return {
    host: text(row.Host),
    plugin: text(row.plugin) || MySqlPlugin.NATIVE,
    options: {
      sslType: (SSL_TYPES as readonly string[]).includes(sslType)
        ? (sslType as AccountOptions['sslType'])
        : '',
      sslCipher: text(row.ssl_cipher),
      x509Issuer: text(row.x509_issuer),
      x509Subject: text(row.x509_subject),
      maxQuestions: count(row.max_questions),
      maxUpdates: count(row.max_updates),
      maxConnections: count(row.max_connections),
      maxUserConnections: count(row.max_user_connections),
      ...('max_statement_time' in row ? { maxStatementTime: Number(row.max_statement_time) || 0 } : {}),
      passwordLifetime: orNull(row.password_lifetime),
      locked: text(row.account_locked).toUpperCase() === 'Y',
      ...('Password_reuse_history' in row ? { passwordHistory: orNull(row.Password_reuse_history) } : {}),
      ...('Password_reuse_time' in row ? { passwordReuseDays: orNull(row.Password_reuse_time) } : {}),
      ...('Password_require_current' in row
        ? { passwordRequireCurrent: requireCurrent === '' ? null : requireCurrent === 'Y' }
        : {}),
      ...(locking
        ? {
            failedLoginAttempts: count(locking.failed_login_attempts),
            passwordLockDays: count(locking.password_lock_time_days),
          }
        : {}),
    },
  };
}

/**
 * The options of an account as `CREATE USER`/`ALTER USER` clauses, for the server at hand: TLS
 * requirements, resource limits, password expiry, lock state, and on MySQL 8 the password history, reuse,
 * current-password and failed-login options. Strings are escaped by the driver, numbers are integers.
 */
export function accountOptionsClause(options: AccountOptions, server: MySqlServer): string {
  const parts: string[] = [];
  switch (options.sslType) {
    case 'ANY':
      parts.push('REQUIRE SSL');
      break;
    case 'X509':
      parts.push('REQUIRE X509');
      break;
    case 'SPECIFIED': {
      const specified = [
        ['ISSUER', options.x509Issuer],
        ['SUBJECT', options.x509Subject],
        ['CIPHER', options.sslCipher],
      ]
        .filter(([, value]) => value !== '')
        .map(([keyword, value]) => format(`${keyword} ?`, [value]));
      parts.push(specified.length > 0 ? `REQUIRE ${specified.join(' AND ')}` : 'REQUIRE SSL');
      break;
    }
    default:
      parts.push('REQUIRE NONE');
  }
  const limits = [
    `MAX_QUERIES_PER_HOUR ${count(options.maxQuestions)}`,
    `MAX_UPDATES_PER_HOUR ${count(options.maxUpdates)}`,
    `MAX_CONNECTIONS_PER_HOUR ${count(options.maxConnections)}`,
    `MAX_USER_CONNECTIONS ${count(options.maxUserConnections)}`,
  ];
  if (server.flavor === 'mariadb' && options.maxStatementTime !== undefined) {
    limits.push(format('MAX_STATEMENT_TIME ?', [Number(options.maxStatementTime) || 0]));
  }
  parts.push(`WITH ${limits.join(' ')}`);
  const passwordAndLock = server.flavor === 'mysql' ? atLeast(server, 5, 7, 8) : atLeast(server, 10, 4);
  if (passwordAndLock) {
    const lifetime = options.passwordLifetime;
    parts.push(
      lifetime === null
        ? 'PASSWORD EXPIRE DEFAULT'
        : lifetime === 0
          ? 'PASSWORD EXPIRE NEVER'
          : `PASSWORD EXPIRE INTERVAL ${count(lifetime)} DAY`,
    );
    parts.push(options.locked ? 'ACCOUNT LOCK' : 'ACCOUNT UNLOCK');
  }
  if (server.flavor === 'mysql') {
    if (options.passwordHistory !== undefined) {
      parts.push(
        `PASSWORD HISTORY ${options.passwordHistory === null ? 'DEFAULT' : count(options.passwordHistory)}`,
      );
    }
    if (options.passwordReuseDays !== undefined) {
      parts.push(
        `PASSWORD REUSE INTERVAL ${options.passwordReuseDays === null ? 'DEFAULT' : `${count(options.passwordReuseDays)} DAY`}`,
      );
    }
    if (options.passwordRequireCurrent !== undefined) {
      parts.push(
        `PASSWORD REQUIRE CURRENT${options.passwordRequireCurrent === null ? ' DEFAULT' : options.passwordRequireCurrent ? '' : ' OPTIONAL'}`,
      );
    }
    if (options.failedLoginAttempts !== undefined) {
      const lock = options.passwordLockDays ?? 0;
      parts.push(
        `FAILED_LOGIN_ATTEMPTS ${count(options.failedLoginAttempts)} PASSWORD_LOCK_TIME ${lock < 0 ? 'UNBOUNDED' : count(lock)}`,
      );
    }
  }
  return parts.join(' ');
}

/** A plugin name as the server spells it; anything else is refused rather than put into a statement. */
function pluginName(plugin: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(plugin)) {
    throw new DatabaseStatementError('understand the authentication plugin of the user', 'UNKNOWN_PLUGIN');
  }
  return plugin;
}

/**
 * The `IDENTIFIED` clause that gives an account of `plugin` the password, for `CREATE USER` and
 * `ALTER USER`: a hash where the plugin accepts one, the plaintext (for the server to hash) otherwise.
 */
export function identifiedClause(
  server: MySqlServer,
  plugin: string,
  password: string,
): { clause: string; form: PasswordForm } {
  if (plugin === MySqlPlugin.NATIVE) {
    return server.flavor === 'mariadb'
      ? {
          clause: format('IDENTIFIED BY PASSWORD ?', [nativePasswordHash(password)]),
          form: PasswordForm.HASH,
        }
      : {
          clause: format(`IDENTIFIED WITH 'mysql_native_password' AS ?`, [nativePasswordHash(password)]),
          form: PasswordForm.HASH,
        };
  }
  if (plugin === MySqlPlugin.CACHING_SHA2 && server.flavor === 'mysql' && atLeast(server, 8, 0, 11)) {
    return {
      clause: format(`IDENTIFIED WITH 'caching_sha2_password' AS ?`, [cachingSha2Hash(password)]),
      form: PasswordForm.HASH,
    };
  }
  if (server.flavor === 'mariadb') {
    return atLeast(server, 10, 4)
      ? {
          clause: format(`IDENTIFIED VIA ${pluginName(plugin)} USING PASSWORD(?)`, [password]),
          form: PasswordForm.PLAINTEXT,
        }
      : { clause: format('IDENTIFIED BY ?', [password]), form: PasswordForm.PLAINTEXT };
  }
  return {
    clause: format('IDENTIFIED WITH ? BY ?', [pluginName(plugin), password]),
    form: PasswordForm.PLAINTEXT,
  };
}

/**
 * The statement a user runs to change its own password. MariaDB wants the CREATE USER privilege for ALTER
 * USER even on oneself, but not for SET PASSWORD, which takes a `mysql_native_password` hash. MySQL 8
 * dropped SET PASSWORD with a hash, and changing one's own password needs `IDENTIFIED BY` (MySQL rewrites
 * the statement with the hash in its general, slow and binary logs).
 */
export function ownPasswordStatement(
  server: MySqlServer,
  plugin: string,
  password: string,
): { sql: string; form: PasswordForm } {
  if (server.flavor === 'mariadb') {
    return plugin === MySqlPlugin.NATIVE
      ? { sql: format('SET PASSWORD = ?', [nativePasswordHash(password)]), form: PasswordForm.HASH }
      : { sql: format('SET PASSWORD = PASSWORD(?)', [password]), form: PasswordForm.PLAINTEXT };
  }
  return atLeast(server, 5, 7, 6)
    ? { sql: format('ALTER USER CURRENT_USER() IDENTIFIED BY ?', [password]), form: PasswordForm.PLAINTEXT }
    : { sql: format('SET PASSWORD = PASSWORD(?)', [password]), form: PasswordForm.PLAINTEXT };
}

/** The authentication plugin named by a `SHOW CREATE USER` line (no IDENTIFIED clause: native, no password). */
export function pluginOfCreateUser(line: string): string {
  if (/ IDENTIFIED BY PASSWORD '/i.test(line)) return MySqlPlugin.NATIVE;
  const via = / IDENTIFIED (?:VIA|WITH) [`'"]?([A-Za-z0-9_]+)/i.exec(line);
  return via?.[1] ?? MySqlPlugin.NATIVE;
}

/** MySQL and MariaDB through `mysql2`: the only module that imports it. */
export class MySqlEngine implements DatabaseEngine {
  readonly family = 'mysql' as const;
  readonly maxUsernameLength = USERNAME_LIMITS.mysql.max;

  constructor(private readonly settings: EngineSettings) {}

  fits(name: string): boolean {
    return fitsUsername(this.family, name);
  }

  truncate(name: string, reserve: number): string {
    return truncateUsername(this.family, name, reserve);
  }

  async connect(target: ConnectionTarget): Promise<DatabaseSession> {
    try {
      const connection = await createConnection({
        host: target.host,
        port: target.port,
        user: target.username,
        password: target.password,
        ...(target.database ? { database: target.database } : {}),
        connectTimeout: this.settings.connectTimeoutMs,
        charset: 'utf8mb4',
        // mysql2 checks the certificate's host name only with verifyIdentity (mysqlTls sets it): without it, any
        // certificate from a trusted CA would pass for the database.
        ...(target.ssl ? { ssl: mysqlTls(this.settings.caPem) } : {}),
      });
      connection.on('error', () => {
        // A dropped connection surfaces on the next query; never crash the function on it.
      });
      await connection.query(format('SET SESSION sql_mode = ?', [SESSION_SQL_MODE]));
      return new MySqlSession(connection, target.username, this.settings);
    } catch (error) {
      throw mapConnectError(error, target);
    }
  }
}

class MySqlSession implements DatabaseSession {
  #server: Promise<MySqlServer> | undefined;

  constructor(
    private readonly connection: Connection,
    private readonly username: string,
    private readonly settings: EngineSettings,
  ) {}

  async check(): Promise<void> {
    const rows = await this.rows('check the session', 'SELECT CURRENT_USER() AS name');
    const name = String(rows[0]?.name ?? '');
    if (name.slice(0, name.lastIndexOf('@')) !== this.username) {
      throw new DatabaseStatementError('check the session user', 'UNEXPECTED_USER');
    }
  }

  async changeOwnPassword(newPassword: string): Promise<PasswordForm> {
    const server = await this.server();
    // The account's plugin decides whether a hash can be sent; the user may not read mysql.user, but it
    // may always see its own SHOW CREATE USER (MariaDB 10.2+, where the answer matters).
    // A read, not a password statement. When it is refused, the answer is still known: this session logged in,
    // and on MariaDB mysql2 logs in with a stored password only through mysql_native_password.
    let plugin: string = MySqlPlugin.NATIVE;
    if (server.flavor === 'mariadb' && atLeast(server, 10, 2)) {
      const rows = await this.rows('read the own account', 'SHOW CREATE USER CURRENT_USER()').catch(() => []);
      plugin = pluginOfCreateUser(String(Object.values(rows[0] ?? {})[0] ?? ''));
    }
    const { sql, form } = ownPasswordStatement(server, plugin, newPassword);
    await this.exec('change the own password', sql);
    return form;
  }

  async userExists(username: string): Promise<boolean> {
    return (await this.hostsOf(username)).length > 0;
  }

  async setPassword(username: string, password: string): Promise<PasswordForm> {
    const server = await this.server();
    let sent: PasswordForm = PasswordForm.HASH;
    for (const account of await this.accounts(username)) {
      const { clause, form } = identifiedClause(server, account.plugin, password);
      if (form === PasswordForm.PLAINTEXT) sent = form;
      await this.exec('set the password', `${format('ALTER USER ?@?', [username, account.host])} ${clause}`);
    }
    return sent;
  }

  async pairRecord(clone: string): Promise<PairRecord | undefined> {
    let rows: Array<Record<string, unknown>>;
    try {
      [rows] = (await this.connection.query(
        format(`SELECT base, secret_arn FROM ${PAIR_TABLE} WHERE clone = ?`, [clone]),
      )) as unknown as [Array<Record<string, unknown>>];
    } catch (error) {
      if (NO_SUCH_TABLE.has((error as { errno?: number }).errno ?? 0)) return undefined;
      throw statementError('read the pair record of the alternate user', error);
    }
    const row = rows[0];
    return row ? { secretArn: text(row.secret_arn), base: text(row.base), clone } : undefined;
  }

  async createAlternate(record: PairRecord, password: string): Promise<void> {
    const server = await this.server();
    const accounts = await this.accounts(record.base);
    if (accounts.length === 0) {
      throw new DatabaseStatementError('find the hosts of the current user', 'NO_SUCH_USER');
    }
    // The record first: a crash after it and before CREATE USER is finished by the next run, while a clone
    // without a record would be refused forever.
    await this.exec(
      'create the schema of the pair records',
      `CREATE DATABASE IF NOT EXISTS ${escapeId(PAIR_SCHEMA)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
    );
    await this.exec(
      'create the table of the pair records',
      `CREATE TABLE IF NOT EXISTS ${PAIR_TABLE} (
         clone VARCHAR(80) NOT NULL PRIMARY KEY,
         base VARCHAR(80) NOT NULL,
         secret_arn VARCHAR(2048) NOT NULL,
         created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
       ) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
    );
    await this.exec(
      'record the pair of users',
      format(
        `INSERT INTO ${PAIR_TABLE} (clone, base, secret_arn) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE clone = clone`,
        [record.clone, record.base, record.secretArn],
      ),
    );
    const stored = await this.pairRecord(record.clone);
    if (stored?.base !== record.base || stored.secretArn !== record.secretArn) {
      throw new DatabaseStatementError('record the pair of users', 'PAIR_RECORDED_FOR_ANOTHER_SECRET');
    }
    const existing = new Set(await this.hostsOf(record.clone));
    for (const account of accounts) {
      if (existing.has(account.host)) continue;
      const { clause } = identifiedClause(server, account.plugin, password);
      await this.exec(
        'create the alternate user',
        `${format('CREATE USER ?@?', [record.clone, account.host])} ${clause} ${accountOptionsClause(account.options, server)}`,
      );
    }
  }

  async liveSessions(username: string): Promise<LiveSessions> {
    const threads = await this.rows(
      'count the live sessions of the user',
      format(
        `SELECT ID AS id, HOST AS host FROM information_schema.PROCESSLIST
          WHERE USER = ? AND ID <> CONNECTION_ID() AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID')`,
        [username],
      ),
    );
    const names = await this.programNames(threads.map((row) => Number(row.id)));
    return {
      complete: await this.seesEveryThread(),
      sessions: threads.map((row): LiveSession => {
        const name = names.get(Number(row.id));
        return {
          ...(row.host ? { clientAddress: String(row.host) } : {}),
          ...(name ? { applicationName: name } : {}),
        };
      }),
    };
  }

  async alignPrivileges(users: UserPair): Promise<void> {
    const server = await this.server();
    for (const account of await this.accounts(users.current)) {
      await this.exec(
        'copy the account options to the pending user',
        `${format('ALTER USER ?@?', [users.pending, account.host])} ${accountOptionsClause(account.options, server)}`,
      );
      const host = account.host;
      const grants = await this.rows(
        'read the grants of the current user',
        format('SHOW GRANTS FOR ?@?', [users.current, host]),
      );
      const statements = grants.flatMap((row) => {
        const line = String(Object.values(row)[0] ?? '');
        const rewritten = regrant(line, users.current, host, users.pending);
        return rewritten === undefined ? [] : [rewritten];
      });
      await this.exec(
        'revoke the privileges of the pending user',
        format('REVOKE ALL PRIVILEGES, GRANT OPTION FROM ?@?', [users.pending, host]),
      );
      for (const statement of statements) await this.exec('grant a privilege to the pending user', statement);
    }
  }

  async close(): Promise<void> {
    await this.connection.end().catch(() => {});
  }

  /** The server's kind and version, asked once per session. */
  private server(): Promise<MySqlServer> {
    this.#server ??= this.rows('read the server version', 'SELECT VERSION() AS version').then((rows) =>
      parseServerVersion(String(rows[0]?.version ?? '')),
    );
    return this.#server;
  }

  /**
   * Whether PROCESSLIST shows us other users' threads: with the PROCESS privilege, granted directly (listed in
   * USER_PRIVILEGES) or through a role (then another user's thread is visible, which nothing else allows).
   */
  private async seesEveryThread(): Promise<boolean> {
    const [me] = await this.rows('read the session user', 'SELECT CURRENT_USER() AS name');
    const name = String(me?.name ?? '');
    const at = name.lastIndexOf('@');
    const grantee = `'${name.slice(0, at).replaceAll("'", "''")}'@'${name.slice(at + 1).replaceAll("'", "''")}'`;
    const [row] = await this.rows(
      'check the PROCESS privilege',
      format(
        `SELECT (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES
                  WHERE PRIVILEGE_TYPE = 'PROCESS' AND GRANTEE = ?)
              + (SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER <> ?) AS n`,
        [grantee, name.slice(0, at)],
      ),
    );
    return Number(row?.n ?? 0) > 0;
  }

  /**
   * The `program_name` (else the driver's `_client_name`) each thread announced, from the performance schema
   * when it is on and readable; MariaDB ships with it off, and then no name is known.
   */
  private async programNames(ids: readonly number[]): Promise<Map<number, string>> {
    const names = new Map<number, string>();
    if (ids.length === 0) return names;
    try {
      const [flag] = await this.rows(
        'check the performance schema',
        'SELECT @@GLOBAL.performance_schema AS on_',
      );
      if (!Number(flag?.on_)) return names;
      const rows = await this.rows(
        'read the connection attributes',
        format(
          `SELECT PROCESSLIST_ID AS id, ATTR_NAME AS name, ATTR_VALUE AS value
             FROM performance_schema.session_connect_attrs
            WHERE PROCESSLIST_ID IN (?) AND ATTR_NAME IN ('program_name', '_client_name')`,
          [[...ids]],
        ),
      );
      for (const row of rows) {
        const id = Number(row.id);
        if (row.name === 'program_name' || !names.has(id)) names.set(id, String(row.value));
      }
    } catch {
      // Names are a help to find the consumer, not needed for the count: no access, no names.
    }
    return names;
  }

  private async hostsOf(username: string): Promise<string[]> {
    const rows = await this.rows(
      'look up the user',
      format('SELECT Host AS host FROM mysql.user WHERE User = ?', [username]),
    );
    return rows.map((row) => String(row.host));
  }

  /** Every `username@host` account with its plugin and options (needs read access to the `mysql` schema). */
  private async accounts(username: string): Promise<MySqlAccount[]> {
    const server = await this.server();
    if (server.flavor === 'mariadb' && atLeast(server, 10, 4)) {
      const rows = await this.rows(
        'read the account',
        format('SELECT Host AS host, Priv AS priv FROM mysql.global_priv WHERE User = ?', [username]),
      );
      return rows.map((row) => accountFromGlobalPriv(text(row.host), row.priv));
    }
    const rows = await this.rows(
      'read the account',
      format('SELECT * FROM mysql.user WHERE User = ?', [username]),
    );
    return rows.map(accountFromUserRow);
  }

  private async exec(intent: string, statement: string): Promise<void> {
    try {
      await this.connection.query(statement);
    } catch (error) {
      throw statementError(intent, error);
    }
    this.settings.afterChange?.(intent);
  }

  private async rows(intent: string, statement: string): Promise<Array<Record<string, unknown>>> {
    try {
      const [rows] = await this.connection.query(statement);
      return rows as Array<Record<string, unknown>>;
    } catch (error) {
      throw statementError(intent, error);
    }
  }
}

/**
 * A `SHOW GRANTS` line of `user@host` rewritten for `target@host`, or `undefined` for lines that only
 * describe the account (USAGE, with its password hash). The grant text comes from the server; the new
 * grantee is escaped by the driver; account clauses (IDENTIFIED, REQUIRE) are dropped, so no password hash
 * is ever copied.
 */
export function regrant(line: string, user: string, host: string, target: string): string | undefined {
  if (/^GRANT USAGE ON \*\.\* TO /i.test(line)) return undefined;
  // `true` forbids qualified names: a dot in a user name is part of the name, not a separator.
  const grantees = [
    `${escapeId(user, true)}@${escapeId(host, true)}`,
    `${escapeValue(user)}@${escapeValue(host)}`,
  ];
  for (const grantee of grantees) {
    const marker = ` TO ${grantee}`;
    const at = line.lastIndexOf(marker);
    if (at < 0) continue;
    const rest = line.slice(at + marker.length);
    const option = /\bWITH (GRANT|ADMIN) OPTION\b/i.exec(rest)?.[0];
    return `${line.slice(0, at)} TO ${format('?@?', [target, host])}${option ? ` ${option}` : ''}`;
  }
  throw new DatabaseStatementError('understand a grant of the current user', 'UNPARSEABLE_GRANT');
}

function statementError(intent: string, error: unknown): DatabaseStatementError {
  const errno = (error as { errno?: number })?.errno;
  return new DatabaseStatementError(
    intent,
    codeOf(error),
    { cause: sanitize(error) },
    errno !== undefined && CONCURRENT_ERRNO.has(errno),
  );
}

function codeOf(error: unknown): string {
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
  if (typeof code === 'string') return typeof errno === 'number' ? `${code} ${errno}` : code;
  return typeof errno === 'number' ? String(errno) : 'UNKNOWN';
}

/** mysql2 errors carry the statement (`sql`) and messages quote it: keep only the codes. */
function sanitize(error: unknown): Error {
  const safe = new Error(`MySQL error ${codeOf(error)}`);
  safe.name = 'MySqlError';
  return safe;
}

function mapConnectError(error: unknown, target: ConnectionTarget): Error {
  const { code, errno } = (error ?? {}) as { code?: string; errno?: number };
  if (errno !== undefined && AUTHENTICATION.has(errno)) {
    return new DatabaseAuthenticationError(target.username, target.host, { cause: sanitize(error) });
  }
  const transient =
    (code !== undefined && TRANSIENT.has(code)) || (errno !== undefined && TRANSIENT_ERRNO.has(errno));
  const tls = transient ? undefined : tlsFailureOf(error);
  if (tls) return new DatabaseTlsError(target.host, tls.reason, tls.tlsCode, { cause: sanitize(error) });
  return new DatabaseUnavailableError(target.host, codeOf(error), transient, { cause: sanitize(error) });
}
