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
 * The fact that `clone` alternates with `base` for one secret. The master session writes it at the
 * database when this function creates the clone (PostgreSQL: a comment on the clone role; MySQL and MariaDB:
 * a row of `secret_rotation.user_pairs`), where whoever can write the secret's value cannot forge it, and
 * every rotation checks it before it changes a password.
 */
export interface PairRecord {
  /** The full ARN of the secret whose rotation created the clone. */
  readonly secretArn: string;
  readonly base: string;
  readonly clone: string;
}

/** How a new password reached the server: as a hash or verifier, or as plaintext the server hashed. */
export const PasswordForm = {
  /** A SCRAM verifier or an authentication plugin's hash: the plaintext never left the function. */
  HASH: 'hash',
  /** The plaintext, over the (verified TLS) connection, because the account's plugin takes no hash. */
  PLAINTEXT: 'plaintext',
} as const;
export type PasswordForm = (typeof PasswordForm)[keyof typeof PasswordForm];

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
  /** The session's own user changes its password; says whether a hash or the plaintext was sent. */
  changeOwnPassword(newPassword: string): Promise<PasswordForm>;
  /** Whether a user of that name exists. */
  userExists(username: string): Promise<boolean>;
  /** Sets another user's password (needs a privileged session); says whether a hash or the plaintext was sent. */
  setPassword(username: string, password: string): Promise<PasswordForm>;
  /** The pair record kept at the database for the user `clone`, or `undefined` when there is none. */
  pairRecord(clone: string): Promise<PairRecord | undefined>;
  /**
   * The sessions of `username` open at the server now, other than this one (needs a privileged session:
   * PostgreSQL `pg_stat_activity`, MySQL/MariaDB `information_schema.PROCESSLIST`). Reads only.
   */
  liveSessions(username: string): Promise<LiveSessions>;
  /**
   * Records the pair, then creates `record.clone` with the login and every account option of `record.base`
   * (MySQL: TLS requirements, resource limits, password and lock options; PostgreSQL: role attributes) and
   * the password. Creates only what is missing, so a re-run after a crash converges.
   */
  createAlternate(record: PairRecord, password: string): Promise<void>;
  /**
   * Brings the pending user's account options, privileges and role memberships in step with the other
   * user's (MySQL: those of the current user; PostgreSQL: the clone inherits the base role).
   */
  alignPrivileges(users: UserPair): Promise<void>;
  close(): Promise<void>;
}
