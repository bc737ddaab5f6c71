import type { EngineFamily } from '../secret';

/** Where and as whom to connect. */
export interface ConnectionTarget {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly database?: string;
  /** TLS with certificate verification; `false` only when the secret turns it off explicitly. */
  readonly ssl: boolean;
}

/** Connection settings of an engine, from the function's configuration. */
export interface EngineSettings {
  /**
   * PEM of extra CAs to trust, besides Node's roots and the RDS CAs shipped with the function
   * (`verifiedTls` in trust.ts).
   */
  readonly caPem?: string;
  /** Connect timeout in milliseconds. */
  readonly connectTimeoutMs: number;
  /**
   * Called after each statement that changes the database succeeded. A seam for fault injection: the
   * integration tests crash the function after every statement of setSecret and check the re-run converges.
   */
  readonly afterChange?: (intent: string) => void;
}

/** A user and the user that alternates with it; privileges are kept in step between the two. */
export interface UserPair {
  /** The user the secret started with. */
  readonly base: string;
  /** `<base>_clone`, created by the first rotation. */
  readonly clone: string;
  /** Which of the two logs in with AWSCURRENT now. */
  readonly current: string;
  /** Which of the two the rotation is switching to. */
  readonly pending: string;
}

/** One session of a user that the server reports: where it comes from, never what it runs. */
export interface LiveSession {
  /** Client address (PostgreSQL `client_addr`, MySQL `host:port`) when the server shows it to us. */
  readonly clientAddress?: string;
  /** The name the client announced (PostgreSQL `application_name`, MySQL connection attribute `program_name`). */
  readonly applicationName?: string;
}

/** The live sessions of one user, as far as the session that asked can see them. */
export interface LiveSessions {
  readonly sessions: readonly LiveSession[];
  /**
   * Whether the server shows every session of the user to us. MySQL and MariaDB show other users' threads
   * only with the PROCESS privilege; without it the count is a lower bound.
   */
  readonly complete: boolean;
}

/**
 * One SQL dialect, as intents. The only code that builds SQL: identifiers are quoted by the driver's
 * escaping functions, passwords are bound, driver-escaped or sent as a server-side verifier.
 */
export interface DatabaseEngine {
  readonly family: EngineFamily;
  /** Longest user name the engine accepts (PostgreSQL counts bytes, MySQL characters). */
  readonly maxUsernameLength: number;
  /** Whether `name` fits `maxUsernameLength`. */
  fits(name: string): boolean;
  /** `name` shortened to fit in `maxUsernameLength` minus `reserve`. */
  truncate(name: string, reserve: number): string;
  /**
   * Opens a session. Throws `DatabaseAuthenticationError` when the credentials are refused,
   * `DatabaseUnavailableError` when the server cannot be reached (its `transient` says whether to retry).
   */
  connect(target: ConnectionTarget): Promise<DatabaseSession>;
}

/** An open session as one user. */
export interface DatabaseSession {
  /** Runs a real query and checks the session is the expected user. */
  check(): Promise<void>;
  /** The session's own user changes its password. */
  changeOwnPassword(newPassword: string): Promise<void>;
  /** Whether a user of that name exists. */
  userExists(username: string): Promise<boolean>;
  /** Sets another user's password (needs a privileged session). */
  setPassword(username: string, password: string): Promise<void>;
  /** Creates `target` with the login of `source` and a password; a no-op when it exists. */
  createUserLike(source: string, target: string, password: string): Promise<void>;
  /**
   * The sessions of `username` open at the server now, other than this one (needs a privileged session:
   * PostgreSQL `pg_stat_activity`, MySQL/MariaDB `information_schema.PROCESSLIST`). Reads only.
   */
  liveSessions(username: string): Promise<LiveSessions>;
  /** Brings the pending user's privileges and role memberships in step with the current one's. */
  alignPrivileges(users: UserPair): Promise<void>;
  close(): Promise<void>;
}
