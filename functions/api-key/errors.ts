import { RotationError } from '../rotation';

/**
 * The key provider failed or refused a request. Names the provider, the operation and the HTTP status or
 * error code, never a key or a response body (bodies can echo a key back).
 */
export class ApiKeyProviderError extends RotationError {
  constructor(
    readonly provider: string,
    readonly operation: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`API key provider '${provider}' failed to ${operation}: ${detail}`, options);
    this.name = 'ApiKeyProviderError';
  }
}

/** testSecret: the provider did not accept the pending key. Labels stay as they are. */
export class ApiKeyCheckError extends RotationError {
  constructor(
    readonly provider: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`API key provider '${provider}' does not accept the pending key: ${detail}`, options);
    this.name = 'ApiKeyCheckError';
  }
}

/**
 * A self-issued key's verifiers only know AWSCURRENT and AWSPREVIOUS: a new rotation while the previous key
 * is still in its grace period would end that grace period early, so it is refused (use emergency mode).
 */
export class GracePeriodActiveError extends RotationError {
  constructor(
    readonly secretArn: string,
    readonly versionId: string,
    readonly revokeAfter: string,
  ) {
    super(
      `Secret ${secretArn}: the previous key (version ${versionId}) is in its grace period until ${revokeAfter}; ` +
        'a new self-issued key now would end it early. Rotate after that time, or tag the secret ' +
        "'secret-rotation:api-key:emergency' to revoke the previous key at once.",
    );
    this.name = 'GracePeriodActiveError';
  }
}

/** A revocation would have hit the key that is AWSCURRENT: refused. */
export class CurrentKeyRevocationError extends RotationError {
  constructor(
    readonly secretArn: string,
    readonly versionId: string,
  ) {
    super(
      `Secret ${secretArn}: version ${versionId} holds the same key as AWSCURRENT; refusing to revoke it`,
    );
    this.name = 'CurrentKeyRevocationError';
  }
}

/** A sweep could not complete every revocation; the others were done. Names the versions, never a key. */
export class ApiKeySweepError extends RotationError {
  constructor(
    readonly secretArn: string,
    readonly failures: readonly { readonly versionId: string; readonly errorName: string }[],
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ApiKeySweepError';
  }
}
