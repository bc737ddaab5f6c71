/**
 * The error family of the rotation protocol. Every message names where the problem is (secret ARN,
 * step, version token, field) and never contains a secret value.
 */
export class RotationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RotationError';
  }
}

/** The invocation event is malformed: a missing field or an unknown step. Nothing was touched. */
export class InvalidEventError extends RotationError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidEventError';
  }
}

/** The function's configuration (environment variables) is invalid. Raised at cold start. */
export class ConfigurationError extends RotationError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConfigurationError';
  }
}

/** Rotation is not enabled on the secret. */
export class RotationNotEnabledError extends RotationError {
  constructor(
    readonly secretArn: string,
    options?: ErrorOptions,
  ) {
    super(`Rotation is not enabled for secret ${secretArn}`, options);
    this.name = 'RotationNotEnabledError';
  }
}

/** The token of the event is not a version of the secret. */
export class VersionNotFoundError extends RotationError {
  constructor(
    readonly secretArn: string,
    readonly token: string,
    options?: ErrorOptions,
  ) {
    super(
      `Version ${token} has no stage for rotation of secret ${secretArn}: it is not a version of the secret, ` +
        'or it lost its labels to a write from outside during the rotation. In that case, if setSecret already ran, ' +
        `the target may accept only the credentials of version ${token} until the next rotation, which finds them there.`,
      options,
    );
    this.name = 'VersionNotFoundError';
  }
}

/** The token's version is neither AWSCURRENT nor AWSPENDING (for example a rotation abandoned by a PutSecretValue). */
export class VersionNotPendingError extends RotationError {
  constructor(
    readonly secretArn: string,
    readonly token: string,
    options?: ErrorOptions,
  ) {
    super(`Version ${token} is not set as AWSPENDING for rotation of secret ${secretArn}`, options);
    this.name = 'VersionNotPendingError';
  }
}

/** AWSPENDING is on another version than the event's token: a concurrent or abandoned rotation. */
export class ForeignPendingVersionError extends RotationError {
  constructor(
    readonly secretArn: string,
    readonly token: string,
    readonly pendingVersionId: string,
    options?: ErrorOptions,
  ) {
    super(
      `Secret ${secretArn} has AWSPENDING on version ${pendingVersionId}, not on this rotation's token ${token}: ` +
        'another rotation is in progress or was abandoned. Finish it, or remove AWSPENDING from that version, then retry. ' +
        `If this rotation's setSecret already ran, the target may accept only the credentials of version ${token} ` +
        'until the next rotation, which finds them there.',
      options,
    );
    this.name = 'ForeignPendingVersionError';
  }
}

/**
 * A value was written to the secret from outside while a rotation was under way, and finishSecret cannot
 * both keep what was written and leave AWSCURRENT working. Nothing was moved; the message says what to do.
 */
export class OutsideWriteError extends RotationError {
  constructor(
    readonly secretArn: string,
    readonly token: string,
    readonly currentVersionId: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'OutsideWriteError';
  }
}

/** The secret has no AWSCURRENT version to rotate from. */
export class CurrentVersionMissingError extends RotationError {
  constructor(
    readonly secretArn: string,
    options?: ErrorOptions,
  ) {
    super(`Secret ${secretArn} has no AWSCURRENT version with a value`, options);
    this.name = 'CurrentVersionMissingError';
  }
}

/** A secret value does not have the shape the strategy needs. Names the version and the field, never the value. */
export class InvalidSecretValueError extends RotationError {
  constructor(
    readonly secretArn: string,
    readonly stage: string,
    readonly field: string,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(`Secret ${secretArn} (${stage}): field '${field}' ${problem}`, options);
    this.name = 'InvalidSecretValueError';
  }
}

/**
 * A step failed. Wraps any error a strategy, engine or provider raised, with the secret ARN, step and token,
 * and a message scrubbed of every secret value the invocation has seen. This is what the handler throws.
 */
export class RotationStepError extends RotationError {
  constructor(
    readonly secretArn: string,
    readonly step: string,
    readonly token: string,
    /** Name of the error class that caused the failure, e.g. `ProviderError`. */
    readonly causeName: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RotationStepError';
  }
}
