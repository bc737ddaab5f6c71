import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import { DatabaseAuthenticationError, DatabaseStatementError, DatabaseUnavailableError } from '../errors';
import type { ConnectionTarget, DatabaseEngine, DatabaseSession, EngineSettings, UserPair } from './engine';
import { fitsUsername, truncateUsername, USERNAME_LIMITS } from './naming';
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

  async changeOwnPassword(newPassword: string): Promise<void> {
    await this.setPassword(this.username, newPassword);
  }

  async userExists(username: string): Promise<boolean> {
    const result = await this.run(
      'look up the user',
      'SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1',
      [username],
    );
    return result.rowCount === 1;
  }

  async setPassword(username: string, password: string): Promise<void> {
    await this.run(
      'set the password',
      `ALTER ROLE ${escapeIdentifier(username)} WITH PASSWORD ${passwordLiteral(password)}`,
    );
  }

  async createUserLike(_source: string, target: string, password: string): Promise<void> {
    if (await this.userExists(target)) return;
    // LOGIN only: other attributes (SUPERUSER, CREATEROLE, ...) are deliberately not copied to the clone.
    await this.run(
      'create the alternate user',
      `CREATE ROLE ${escapeIdentifier(target)} WITH LOGIN PASSWORD ${passwordLiteral(password)}`,
    );
  }

  async alignPrivileges(users: UserPair): Promise<void> {
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
    await this.run('let the alternate inherit', `ALTER ROLE ${escapeIdentifier(users.clone)} INHERIT`);
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }

  private async run(intent: string, text: string, values?: unknown[]) {
    try {
      const result = await this.client.query(text, values);
      if (!/^SELECT/.test(text)) this.settings.afterChange?.(intent);
      return result;
    } catch (error) {
      throw new DatabaseStatementError(intent, codeOf(error), { cause: sanitize(error) });
    }
  }
}

/**
 * The password as a SQL literal: a SCRAM verifier when the password is stable under SASLprep's
 * normalisation (every generated password is), else the driver-escaped plaintext for the server to hash.
 */
function passwordLiteral(password: string): string {
  return escapeLiteral(password === password.normalize('NFKC') ? scramVerifier(password) : password);
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
  if (/does not support SSL|certificate|self[- ]signed|altnames|SSL/i.test(message) && !TRANSIENT.has(code)) {
    return new DatabaseUnavailableError(target.host, code === 'UNKNOWN' ? 'TLS' : code, false, {
      cause: sanitize(error),
    });
  }
  if (/timeout/i.test(message))
    return new DatabaseUnavailableError(target.host, 'ETIMEDOUT', true, { cause: sanitize(error) });
  return new DatabaseUnavailableError(target.host, code, TRANSIENT.has(code), { cause: sanitize(error) });
}
