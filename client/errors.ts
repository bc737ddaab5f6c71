/** Base class of the client library's errors. Messages name the secret, never a value. */
export class SecretClientError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SecretClientError';
  }
}

/** Every credential version was refused. */
export class CredentialsRejectedError extends SecretClientError {
  constructor(
    readonly secretId: string,
    readonly versionsTried: readonly string[],
    options?: ErrorOptions,
  ) {
    super(
      `Every credential version of secret ${secretId} was refused (tried versions ${versionsTried.join(', ')})`,
      options,
    );
    this.name = 'CredentialsRejectedError';
  }
}

/**
 * A secret could not be read and no copy within the staleness bound is cached. Keeps the SDK error as
 * `cause` (AWS errors name the secret and the reason, never a value).
 */
export class SecretUnavailableError extends SecretClientError {
  constructor(
    readonly secretId: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SecretUnavailableError';
  }
}

/**
 * A secret version does not have the shape a consumer needs (not JSON, a missing field). Names the secret,
 * the version and the field; never quotes the value, and keeps no parser error as `cause` (a JSON parser's
 * message quotes the text it failed on).
 */
export class SecretFormatError extends SecretClientError {
  constructor(
    readonly secretId: string,
    readonly versionId: string,
    message: string,
  ) {
    super(`Secret ${secretId} (version ${versionId}) ${message}`);
    this.name = 'SecretFormatError';
  }
}
