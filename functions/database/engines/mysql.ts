import { type Connection, createConnection, escapeId, escape as escapeValue, format } from 'mysql2/promise';
import { DatabaseAuthenticationError, DatabaseStatementError, DatabaseUnavailableError } from '../errors';
import type { ConnectionTarget, DatabaseEngine, DatabaseSession, EngineSettings, UserPair } from './engine';
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
const TRANSIENT_ERRNO = new Set([1040 /* too many connections */, 1203 /* user has too many connections */]);
/** The server does not know the statement: the capability is missing, try the older syntax. */
const SYNTAX_NOT_SUPPORTED = new Set([1064, 1193, 1235]);
/**
 * Also tried with the older syntax when a user changes its own password: MariaDB requires the CREATE USER
 * privilege for ALTER USER even on oneself (1227), while SET PASSWORD for oneself needs none.
 */
const OWN_PASSWORD_FALLBACK = new Set([...SYNTAX_NOT_SUPPORTED, 1227]);

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
        ...(target.ssl ? { ssl: mysqlTls(this.settings.caPem) } : {}),
      });
      connection.on('error', () => {
        // A dropped connection surfaces on the next query; never crash the function on it.
      });
      // The driver escapes with backslashes; a server in NO_BACKSLASH_ESCAPES mode would read them literally.
      await connection.query(
        "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
      );
      return new MySqlSession(connection, target.username, this.settings);
    } catch (error) {
      throw mapConnectError(error, target);
    }
  }
}

class MySqlSession implements DatabaseSession {
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

  async changeOwnPassword(newPassword: string): Promise<void> {
    // MySQL 5.7+, 8.x, 9.x and MariaDB 10.2+ know ALTER USER; older servers only SET PASSWORD.
    await this.firstSupported(
      'change the own password',
      [
        format('ALTER USER CURRENT_USER() IDENTIFIED BY ?', [newPassword]),
        format('SET PASSWORD = PASSWORD(?)', [newPassword]),
      ],
      OWN_PASSWORD_FALLBACK,
    );
  }

  async userExists(username: string): Promise<boolean> {
    return (await this.hostsOf(username)).length > 0;
  }

  async setPassword(username: string, password: string): Promise<void> {
    for (const host of await this.hostsOf(username)) {
      await this.firstSupported('set the password', [
        format('ALTER USER ?@? IDENTIFIED BY ?', [username, host, password]),
        format('SET PASSWORD FOR ?@? = PASSWORD(?)', [username, host, password]),
      ]);
    }
  }

  async createUserLike(source: string, target: string, password: string): Promise<void> {
    const hosts = await this.hostsOf(source);
    if (hosts.length === 0)
      throw new DatabaseStatementError('find the hosts of the current user', 'NO_SUCH_USER');
    const existing = new Set(await this.hostsOf(target));
    for (const host of hosts) {
      if (existing.has(host)) continue;
      await this.exec(
        'create the alternate user',
        format('CREATE USER ?@? IDENTIFIED BY ?', [target, host, password]),
      );
    }
  }

  async alignPrivileges(users: UserPair): Promise<void> {
    for (const host of await this.hostsOf(users.current)) {
      const grants = await this.rows(
        'read the grants of the current user',
        format('SHOW GRANTS FOR ?@?', [users.current, host]),
      );
      const statements = grants.flatMap((row) => {
        const text = String(Object.values(row)[0] ?? '');
        const rewritten = regrant(text, users.current, host, users.pending);
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

  private async hostsOf(username: string): Promise<string[]> {
    const rows = await this.rows(
      'look up the user',
      format('SELECT Host AS host FROM mysql.user WHERE User = ?', [username]),
    );
    return rows.map((row) => String(row.host));
  }

  private async firstSupported(
    intent: string,
    statements: string[],
    fallbackOn: ReadonlySet<number> = SYNTAX_NOT_SUPPORTED,
  ): Promise<void> {
    for (const [index, statement] of statements.entries()) {
      try {
        await this.connection.query(statement);
        this.settings.afterChange?.(intent);
        return;
      } catch (error) {
        const errno = (error as { errno?: number }).errno;
        if (index < statements.length - 1 && errno !== undefined && fallbackOn.has(errno)) continue;
        throw statementError(intent, error);
      }
    }
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
  return new DatabaseStatementError(intent, codeOf(error), { cause: sanitize(error) });
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
  const message = error instanceof Error ? error.message : '';
  const tls = !transient && /secure connection|certificate|self[- ]signed|altnames|SSL|TLS/i.test(message);
  return new DatabaseUnavailableError(target.host, tls ? `TLS ${codeOf(error)}` : codeOf(error), transient, {
    cause: sanitize(error),
  });
}
