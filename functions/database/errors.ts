import { RotationError } from '../rotation';

/** The database refused the credentials. Not retried blindly: the next credentials are tried instead. */
export class DatabaseAuthenticationError extends RotationError {
  constructor(
    readonly username: string,
    readonly host: string,
    options?: ErrorOptions,
  ) {
    super(`The database at ${host} refused the credentials of user '${username}'`, options);
    this.name = 'DatabaseAuthenticationError';
  }
}

/** The database could not be reached, refused TLS, or asked us to come back later. */
export class DatabaseUnavailableError extends RotationError {
  constructor(
    readonly host: string,
    readonly code: string,
    /** Whether another attempt may succeed (a refused connection may; a failed TLS verification will not). */
    readonly transient: boolean,
    options?: ErrorOptions,
  ) {
    super(`The database at ${host} is unavailable (${code})`, options);
    this.name = 'DatabaseUnavailableError';
  }
}

/**
 * A statement failed. Carries the driver's error code and the intent, never the statement text or the
 * driver's message (MySQL messages quote parts of the statement, which may hold a password).
 */
export class DatabaseStatementError extends RotationError {
  constructor(
    readonly intent: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(`Database statement failed while trying to ${intent} (code ${code})`, options);
    this.name = 'DatabaseStatementError';
  }
}

/** The secrets of one rotation point at different accounts or databases: refused. */
export class CredentialMismatchError extends RotationError {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialMismatchError';
  }
}
