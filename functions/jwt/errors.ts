import { RotationError } from '../rotation';

/** Where in a rotation an error happened: every JWT error names these, never a key. */
export interface RotationLocation {
  readonly secretArn: string;
  readonly step: string;
  readonly token: string;
}

/**
 * The next key of AWSCURRENT has not been published long enough to start signing: a verifier may still hold
 * a JWKS without it. Raised by createSecret before anything is written, so AWSCURRENT keeps working; the
 * rotation succeeds when retried after `retryAfterSeconds`.
 */
export class NextKeyNotReadyError extends RotationError {
  readonly secretArn: string;
  readonly step: string;
  readonly token: string;

  constructor(
    location: RotationLocation,
    /** `kid` of the next key (a thumbprint of its public key, not a secret). */
    readonly kid: string,
    /** How long the key has been published, in seconds; 0 when it was missing and has just been republished. */
    readonly publishedSecondsAgo: number,
    /** How long it must have been published: the longest a verifier may cache the JWKS. */
    readonly requiredSeconds: number,
    /** True when the key was missing from the published JWKS and createSecret published it again. */
    readonly republished: boolean,
    options?: ErrorOptions,
  ) {
    const retryAfter = Math.max(1, requiredSeconds - publishedSecondsAgo);
    super(
      `${location.step} refused for secret ${location.secretArn} (version ${location.token}): ` +
        (republished
          ? `next key ${kid} was missing from the published JWKS and has just been published again; `
          : `next key ${kid} was published ${publishedSecondsAgo} s ago; `) +
        `it may start signing only ${requiredSeconds} s after publication (one verifier cache lifetime), ` +
        `so this rotation would skip a stage. Retry in ${retryAfter} s; AWSCURRENT is unchanged.`,
      options,
    );
    this.name = 'NextKeyNotReadyError';
    this.secretArn = location.secretArn;
    this.step = location.step;
    this.token = location.token;
  }

  /** Seconds until the rotation can succeed. */
  get retryAfterSeconds(): number {
    return Math.max(1, this.requiredSeconds - this.publishedSecondsAgo);
  }
}

/** The published JWKS does not serve what the pending version needs (testSecret), or breaks an invariant. */
export class JwksVerificationError extends RotationError {
  readonly secretArn: string;
  readonly step: string;
  readonly token: string;

  constructor(
    location: RotationLocation,
    /** Where the document was read, e.g. `s3://bucket/.well-known/jwks.json`. */
    readonly documentLocation: string,
    /** What is wrong, naming the member or kid; never a key value. */
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super(
      `${location.step} failed for secret ${location.secretArn} (version ${location.token}): the JWKS at ` +
        `${documentLocation} ${problems.join('; ')}`,
      options,
    );
    this.name = 'JwksVerificationError';
    this.secretArn = location.secretArn;
    this.step = location.step;
    this.token = location.token;
  }
}

/** The new key set would not fit in a secret (65,536 bytes). */
export class KeySetTooLargeError extends RotationError {
  readonly secretArn: string;
  readonly step: string;
  readonly token: string;

  constructor(
    location: RotationLocation,
    readonly bytes: number,
    readonly keyCount: number,
    options?: ErrorOptions,
  ) {
    super(
      `${location.step} refused for secret ${location.secretArn} (version ${location.token}): the key set would be ` +
        `${bytes} bytes with ${keyCount} keys, over Secrets Manager's 65536. Rotate less often than the token ` +
        'lifetime plus the JWKS cache lifetime, shorten them, or use a smaller algorithm (ES256, EdDSA).',
      options,
    );
    this.name = 'KeySetTooLargeError';
    this.secretArn = location.secretArn;
    this.step = location.step;
    this.token = location.token;
  }
}
