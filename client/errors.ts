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
