import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { Client, escapeIdentifier, escapeLiteral, type QueryResult } from 'pg';
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
  type LiveSessions,
  type PairRecord,
  PasswordForm,
  type UserPair,
} from './engine';
import { fitsUsername, truncateUsername, USERNAME_LIMITS } from './naming';
import { saslPrep } from './saslprep';
import { postgresTls } from './trust';

/** SQLSTATEs and socket errors after which another attempt may succeed. */
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  '57P03', // cannot_connect_now (starting up)
  '53300', // too_many_connections
  '08006', // connection_failure
  '08001', // sqlclient_unable_to_establish_sqlconnection
]);

/** SQLSTATEs of refused credentials. */
const AUTHENTICATION = new Set(['28P01', '28000']);

/**
 * SQLSTATEs of a statement that lost a race with the same change made by another invocation: a serialization
 * failure, a deadlock, a role created at the same moment (unique_violation on pg_authid, duplicate_object).
 */
const CONCURRENT = new Set(['40001', '40P01', '23505', '42710']);

/** Key of the pair record in the clone role's comment. */
const PAIR_KEY = 'secretRotationPair';

/** Role attributes the clone takes from the base role (LOGIN and INHERIT it always has). */
const ROLE_FLAGS = [
  ['rolsuper', 'SUPERUSER'],
  ['rolcreatedb', 'CREATEDB'],
  ['rolcreaterole', 'CREATEROLE'],
  ['rolreplication', 'REPLICATION'],
  ['rolbypassrls', 'BYPASSRLS'],
] as const;

/**
 * Settings whose values are lists of quoted names (pg_dump's list): stored flattened, so a plain literal
 * would turn them into a single element.
 */
const LIST_QUOTED_SETTINGS = new Set([
  'search_path',
  'temp_tablespaces',
  'session_preload_libraries',
  'local_preload_libraries',
]);

/** One `ALTER ROLE … SET` of a role. */
interface RoleSetting {
  /** `''` for every database. */
  readonly database: string;
  readonly name: string;
  readonly value: string;
}

/** A setting's name as SQL: each dot-separated part quoted (custom settings are `prefix.name`). */
function gucName(name: string): string {
  return name
    .split('.')
    .map((part) => escapeIdentifier(part))
    .join('.');
}

/** The attributes of a role, as `pg_roles` shows them. */
export interface RoleAttributes {
  readonly rolsuper: boolean;
  readonly rolcreatedb: boolean;
  readonly rolcreaterole: boolean;
  readonly rolreplication: boolean;
  readonly rolbypassrls: boolean;
  readonly rolinherit: boolean;
  readonly rolcanlogin: boolean;
  readonly rolconnlimit: number;
  /** `rolvaliduntil` as text, `null` when unset. */
  readonly validuntil: string | null;
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677), so that the plaintext never
 * reaches the server, its statement log or `pg_stat_activity`.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** PostgreSQL through `pg`: the only module that imports it. */
export class PostgresEngine implements DatabaseEngine {
  readonly family = 'postgres' as const;
  readonly maxUsernameLength = USERNAME_LIMITS.postgres.max;

  constructor(private readonly settings: EngineSettings) {}

  fits(name: string): boolean {
    return fitsUsername(this.family, name);
  }

  truncate(name: string, reserve: number): string {
    return truncateUsername(this.family, name, reserve);
  }

  async connect(target: ConnectionTarget): Promise<DatabaseSession> {
    const client = new Client({
      host: target.host,
      port: target.port,
      user: target.username,
      password: target.password,
      database: target.database ?? 'postgres',
      connectionTimeoutMillis: this.settings.connectTimeoutMs,
      ssl: target.ssl ? postgresTls(this.settings.caPem) : false,
    });
    client.on('error', () => {
      // A dropped idle connection surfaces on the next query; never crash the function on it.
    });
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw mapConnectError(error, target);
    }
    return new PostgresSession(client, target.username, this.settings);
  }
}

class PostgresSession implements DatabaseSession {
  constructor(
    private readonly client: Client,
    private readonly username: string,
    private readonly settings: EngineSettings,
  ) {}

  async check(): Promise<void> {
    const result = await this.run('check the session', 'SELECT current_user AS name');
    if (result.rows[0]?.name !== this.username) {
      throw new DatabaseStatementError('check the session user', 'UNEXPECTED_USER');
    }
  }

  async changeOwnPassword(newPassword: string): Promise<PasswordForm> {
    return this.setPassword(this.username, newPassword);
  }

  async userExists(username: string): Promise<boolean> {
    const result = await this.run(
      'look up the user',
      'SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1',
      [username],
    );
    return result.rowCount === 1;
  }

  async setPassword(username: string, password: string): Promise<PasswordForm> {
    const { literal, form } = passwordLiteral(password);
    await this.run('set the password', `ALTER ROLE ${escapeIdentifier(username)} WITH PASSWORD ${literal}`);
    return form;
  }

  async pairRecord(clone: string): Promise<PairRecord | undefined> {
    const result = await this.run(
      'read the pair record of the alternate user',
      "SELECT pg_catalog.shobj_description(oid, 'pg_authid') AS comment FROM pg_catalog.pg_roles WHERE rolname = $1",
      [clone],
    );
    return parsePairComment(result.rows[0]?.comment, clone);
  }

  async createAlternate(record: PairRecord, password: string): Promise<void> {
    if (await this.userExists(record.clone)) return;
    const base = await this.attributes(record.base);
    if (!base) throw new DatabaseStatementError('find the user to clone', 'NO_SUCH_USER');
    const clone = escapeIdentifier(record.clone);
    const { literal } = passwordLiteral(password);
    // One transaction: the role never exists without its pair record and its membership, even after a crash.
    await this.run('begin creating the alternate user', 'BEGIN');
    try {
      await this.run(
        'create the alternate user',
        `CREATE ROLE ${clone} WITH LOGIN INHERIT PASSWORD ${literal}${attributeClause(base)}`,
      );
      await this.run(
        'record the pair of users',
        `COMMENT ON ROLE ${clone} IS ${escapeLiteral(pairComment(record))}`,
      );
      await this.run('grant the user to its alternate', `GRANT ${escapeIdentifier(record.base)} TO ${clone}`);
      await this.run('commit the alternate user', 'COMMIT');
    } catch (error) {
      await this.client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  async liveSessions(username: string): Promise<LiveSessions> {
    // Every role sees `usename` of every backend; `client_addr` and `application_name` of other roles' backends
    // only with pg_read_all_stats (superusers, rds_superuser through pg_monitor); otherwise they read as null.
    const result = await this.run(
      'count the live sessions of the user',
      `SELECT host(client_addr) AS address, application_name AS application
         FROM pg_catalog.pg_stat_activity
        WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid() AND backend_type = 'client backend'`,
      [username],
    );
    return {
      complete: true,
      sessions: result.rows.map((row: { address: string | null; application: string | null }) => ({
        ...(row.address ? { clientAddress: row.address } : {}),
        ...(row.application ? { applicationName: row.application } : {}),
      })),
    };
  }

  async alignPrivileges(users: UserPair): Promise<void> {
    // Attributes are not inherited through membership: the clone takes the base role's, whichever of the
    // two is current, so an operator's change to the base role reaches the clone at the next rotation.
    const [base, clone] = [await this.attributes(users.base), await this.attributes(users.clone)];
    if (!base || !clone) throw new DatabaseStatementError('find the pair of users', 'NO_SUCH_USER');
    const changes = attributeChanges(base, clone);
    if (changes) {
      await this.run(
        'copy the role attributes to the alternate user',
        `ALTER ROLE ${escapeIdentifier(users.clone)} WITH${changes}`,
      );
    }
    await this.alignSettings(users);
    // The clone is a member of the base user and inherits everything the base user has, now and later:
    // grants stay in step by construction, whichever of the two is current.
    const member = await this.run(
      'check the membership of the alternate user',
      `SELECT 1 FROM pg_catalog.pg_auth_members m
         JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
         JOIN pg_catalog.pg_roles u ON u.oid = m.member
        WHERE r.rolname = $1 AND u.rolname = $2`,
      [users.base, users.clone],
    );
    if (member.rowCount === 0) {
      await this.run(
        'grant the user to its alternate',
        `GRANT ${escapeIdentifier(users.base)} TO ${escapeIdentifier(users.clone)}`,
      );
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }

  /**
   * Gives the clone the base role's settings (`ALTER ROLE … [IN DATABASE …] SET`), which membership does
   * not pass on either: a clone without the base role's `search_path` or `statement_timeout` would behave
   * differently for the application. Settings the base role no longer has are reset.
   */
  private async alignSettings(users: UserPair): Promise<void> {
    const [base, clone] = [await this.settingsOf(users.base), await this.settingsOf(users.clone)];
    const role = escapeIdentifier(users.clone);
    for (const [key, setting] of base) {
      if (clone.get(key)?.value === setting.value) continue;
      const scope = setting.database ? ` IN DATABASE ${escapeIdentifier(setting.database)}` : '';
      const name = gucName(setting.name);
      if (!LIST_QUOTED_SETTINGS.has(setting.name)) {
        await this.run(
          'copy a role setting to the alternate user',
          `ALTER ROLE ${role}${scope} SET ${name} TO ${escapeLiteral(setting.value)}`,
        );
        continue;
      }
      // A list setting such as search_path is stored flattened (`"$user", app`); a literal would make it one
      // element. The server parses it back: set it for this transaction only, then copy it FROM CURRENT.
      await this.run('begin copying a role setting', 'BEGIN');
      try {
        await this.run('read a role setting back', 'SELECT pg_catalog.set_config($1, $2, true)', [
          setting.name,
          setting.value,
        ]);
        await this.run(
          'copy a role setting to the alternate user',
          `ALTER ROLE ${role}${scope} SET ${name} FROM CURRENT`,
        );
        await this.run('commit a role setting', 'COMMIT');
      } catch (error) {
        await this.client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    }
    for (const [key, setting] of clone) {
      if (base.has(key)) continue;
      const scope = setting.database ? ` IN DATABASE ${escapeIdentifier(setting.database)}` : '';
      await this.run(
        'reset a role setting of the alternate user',
        `ALTER ROLE ${role}${scope} RESET ${gucName(setting.name)}`,
      );
    }
  }

  /** A role's settings by database (`''`: every database) and name. */
  private async settingsOf(role: string): Promise<Map<string, RoleSetting>> {
    const result = await this.run(
      'read the role settings',
      `SELECT COALESCE(d.datname, '') AS database, s.setconfig AS config
         FROM pg_catalog.pg_db_role_setting s
         JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
         LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
        WHERE r.rolname = $1`,
      [role],
    );
    const settings = new Map<string, RoleSetting>();
    for (const row of result.rows as Array<{ database: string; config: string[] | null }>) {
      for (const entry of row.config ?? []) {
        const at = entry.indexOf('=');
        if (at <= 0) continue;
        const setting = { database: row.database, name: entry.slice(0, at), value: entry.slice(at + 1) };
        settings.set(`${setting.database}\u0000${setting.name}`, setting);
      }
    }
    return settings;
  }

  private async attributes(role: string): Promise<RoleAttributes | undefined> {
    const result = await this.run(
      'read the role attributes',
      `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolinherit, rolcanlogin,
              rolconnlimit, rolvaliduntil::text AS validuntil
         FROM pg_catalog.pg_roles WHERE rolname = $1`,
      [role],
    );
    return result.rows[0] as RoleAttributes | undefined;
  }

  private async run(intent: string, text: string, values?: unknown[]): Promise<QueryResult> {
    let result: QueryResult;
    try {
      result = await this.client.query(text, values);
    } catch (error) {
      const code = codeOf(error);
      const message = error instanceof Error ? error.message : '';
      // `tuple concurrently updated` (XX000): two sessions changed the same role at the same moment.
      const concurrent = CONCURRENT.has(code) || (code === 'XX000' && /concurrently/i.test(message));
      throw new DatabaseStatementError(intent, code, { cause: sanitize(error) }, concurrent);
    }
    if (!/^(SELECT|BEGIN)/.test(text)) this.settings.afterChange?.(intent);
    return result;
  }
}

/** The text of the comment that records a pair on the clone role. */
export function pairComment(record: PairRecord): string {
  return JSON.stringify({
    [PAIR_KEY]: { secretArn: record.secretArn, base: record.base, clone: record.clone },
  });
}

/** The pair record in a clone role's comment; `undefined` when the comment is absent or not ours. */
export function parsePairComment(comment: unknown, clone: string): PairRecord | undefined {
  if (typeof comment !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(comment);
  } catch {
    return undefined;
  }
  const record = (parsed as Record<string, unknown> | null)?.[PAIR_KEY] as
    | Record<string, unknown>
    | undefined;
  if (typeof record?.secretArn !== 'string' || typeof record.base !== 'string' || record.clone !== clone) {
    return undefined;
  }
  return { secretArn: record.secretArn, base: record.base, clone };
}

/** The attributes of a new clone, beyond LOGIN and INHERIT, copied from the base role. */
function attributeClause(base: RoleAttributes): string {
  const flags = ROLE_FLAGS.filter(([column]) => base[column]).map(([, keyword]) => ` ${keyword}`);
  return `${flags.join('')}${limitClause(base)}`;
}

function limitClause(base: RoleAttributes): string {
  const limit = base.rolconnlimit === -1 ? '' : ` CONNECTION LIMIT ${Number(base.rolconnlimit)}`;
  const until = base.validuntil === null ? '' : ` VALID UNTIL ${escapeLiteral(base.validuntil)}`;
  return `${limit}${until}`;
}

/**
 * What to change on the clone so that its attributes match the base role's: only what differs, since
 * naming SUPERUSER, REPLICATION or BYPASSRLS at all needs a superuser, even to keep them as they are.
 */
export function attributeChanges(base: RoleAttributes, clone: RoleAttributes): string {
  const parts = ROLE_FLAGS.filter(([column]) => base[column] !== clone[column]).map(
    ([column, keyword]) => ` ${base[column] ? '' : 'NO'}${keyword}`,
  );
  if (!clone.rolcanlogin) parts.push(' LOGIN');
  if (!clone.rolinherit) parts.push(' INHERIT');
  if (base.rolconnlimit !== clone.rolconnlimit) parts.push(` CONNECTION LIMIT ${Number(base.rolconnlimit)}`);
  if (base.validuntil !== clone.validuntil) {
    parts.push(` VALID UNTIL ${escapeLiteral(base.validuntil ?? 'infinity')}`);
  }
  return parts.join('');
}

/**
 * The password as a SQL literal: the SCRAM verifier of its SASLprep form (RFC 4013, as the server and libpq
 * prepare it) when that form is certain, which it is for every ASCII password (all generated ones), else
 * the driver-escaped plaintext for the server to prepare and hash itself.
 */
export function passwordLiteral(password: string): { literal: string; form: PasswordForm } {
  const prepared = saslPrep(password);
  return prepared === undefined
    ? { literal: escapeLiteral(password), form: PasswordForm.PLAINTEXT }
    : { literal: escapeLiteral(scramVerifier(prepared)), form: PasswordForm.HASH };
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

/** Keeps what helps diagnose (code, severity), drops what could quote a statement. */
function sanitize(error: unknown): Error {
  const code = codeOf(error);
  const safe = new Error(`PostgreSQL error ${code}`);
  safe.name = 'PostgresError';
  return safe;
}

function mapConnectError(error: unknown, target: ConnectionTarget): Error {
  const code = codeOf(error);
  if (AUTHENTICATION.has(code))
    return new DatabaseAuthenticationError(target.username, target.host, { cause: sanitize(error) });
  const message = error instanceof Error ? error.message : '';
  const tls = TRANSIENT.has(code) ? undefined : tlsFailureOf(error);
  if (tls) return new DatabaseTlsError(target.host, tls.reason, tls.tlsCode, { cause: sanitize(error) });
  if (/timeout/i.test(message))
    return new DatabaseUnavailableError(target.host, 'ETIMEDOUT', true, { cause: sanitize(error) });
  return new DatabaseUnavailableError(target.host, code, TRANSIENT.has(code), { cause: sanitize(error) });
}
