import type { Logger } from '@aws-lambda-powertools/logger';
import type { RotationStep } from './constants';

/** The event Secrets Manager sends to a rotation function, after validation and step normalisation. */
export interface RotationEvent {
  readonly secretId: string;
  readonly token: string;
  readonly step: RotationStep;
  /** Present for cross-account or assumed-role rotations; passed on to `PutSecretValue`. */
  readonly rotationToken?: string;
}

/** One version of the secret, with its value. */
export interface SecretVersion {
  readonly versionId: string;
  readonly secretString: string;
  readonly stages: readonly string[];
  readonly createdDate?: Date;
}

/** Options for one generated password; unset fields take the function's configured defaults. */
export interface PasswordOptions {
  /** Length of the password. */
  readonly length?: number;
  /** Characters added to the configured exclusions (an engine's own forbidden characters). */
  readonly excludeCharacters?: string;
  /** Exclude punctuation entirely. */
  readonly excludePunctuation?: boolean;
}

/** Reads versions of the secret being rotated. Every value read is registered for redaction. */
export interface SecretReader {
  /** The AWSCURRENT version; throws `CurrentVersionMissingError` when there is none. */
  current(): Promise<SecretVersion>;
  /** The AWSPENDING version of this rotation's token, or `undefined` when it has no value yet. */
  pending(): Promise<SecretVersion | undefined>;
  /** The AWSPREVIOUS version, or `undefined` when there is none. */
  previous(): Promise<SecretVersion | undefined>;
  /**
   * Reads another secret (for example the master secret named by `masterarn`). Its value is registered
   * for redaction too.
   */
  other(secretId: string, stage?: string): Promise<SecretVersion>;
  /**
   * Versions of this secret that lost every staging label (for example the value of a rotation an outside
   * write interrupted after setSecret), newest first, at most `limit`. Used to recover a password that works
   * when no labelled version does. Needs `secretsmanager:ListSecretVersionIds`; without it, none.
   */
  deprecated?(limit: number): Promise<SecretVersion[]>;
}

/**
 * What finishSecret does when AWSCURRENT is not the version the pending value was built from, as the
 * strategy decides in `reconcileOutsideWrite`:
 * - `move`: move AWSCURRENT to the token as usual (nothing of the current version would be lost);
 * - `keep-current`: AWSCURRENT already holds what works (a reconciliation a crash interrupted): only clear
 *   AWSPENDING;
 * - `replace`: put `secretString` (the outside write's fields with the credentials that now work) as a new
 *   AWSCURRENT and clear AWSPENDING. `keptFields` names the outside write's fields that were kept.
 */
export type OutsideWriteResolution =
  | { readonly action: 'move' }
  | { readonly action: 'keep-current' }
  | { readonly action: 'replace'; readonly secretString: string; readonly keptFields: readonly string[] };

/** Generates random values through Secrets Manager's `GetRandomPassword`. */
export interface PasswordGenerator {
  generate(options?: PasswordOptions): Promise<string>;
}

/** What every strategy hook receives. */
export interface RotationContext {
  readonly secretArn: string;
  readonly token: string;
  readonly step: RotationStep;
  readonly logger: Logger;
  readonly secrets: SecretReader;
  readonly passwords: PasswordGenerator;
  /** Registers a sensitive string (a generated key, a token) so that no log line or error can carry it. */
  redact(value: string): void;
  /**
   * Publishes a follow-up event (detail-type `Secret Rotation Follow-up`), such as an old API key revoked.
   * `detail` must hold no secret value; it is merged with the secret ARN, kind and strategy.
   */
  publishFollowUp(action: string, detail: Record<string, unknown>): Promise<void>;
}

/** What `afterFinish` receives besides the context. */
export interface FinishInfo {
  /** The version that is AWSCURRENT now (the event's token). */
  readonly current: SecretVersion;
  /** The version that was AWSCURRENT before this rotation, now AWSPREVIOUS, when there is one. */
  readonly previous?: SecretVersion;
  /** True when finishSecret found the token already AWSCURRENT (a retry after the labels moved). */
  readonly alreadyCurrent: boolean;
}

/**
 * One kind of secret and one way of rotating it. The protocol core calls these hooks and owns everything
 * else: preconditions, staging labels, idempotency of createSecret and finishSecret, events, metrics, errors.
 */
export interface RotationStrategy {
  /** Kind of secret, e.g. `database`, `api-key`, `jwt`. A metric dimension and an event field. */
  readonly kind: string;
  /** Name of the scheme, e.g. `single-user`. A metric dimension and an event field. */
  readonly name: string;
  /**
   * Builds the value of the new version from AWSCURRENT. Called only when the token has no AWSPENDING value
   * yet. Must validate the current value and throw `InvalidSecretValueError` naming the field.
   * Returns the new SecretString; the core puts it with `VersionStages: ['AWSPENDING']`.
   */
  createPending(context: RotationContext, current: SecretVersion): Promise<string>;
  /** Makes the pending value valid at the target (database, provider, JWKS). Must be idempotent. */
  set(context: RotationContext, pending: SecretVersion): Promise<void>;
  /** Proves the pending value works. No side effects: it also runs for `RotateImmediately=false`. */
  test(context: RotationContext, pending: SecretVersion): Promise<void>;
  /**
   * Follow-up work after AWSCURRENT moved to the token (revoking, republishing). Runs again on every retry
   * of finishSecret, so it must be idempotent.
   */
  afterFinish?(context: RotationContext, info: FinishInfo): Promise<void>;
  /**
   * Called by finishSecret before it moves AWSCURRENT, with the version that is current now and the pending
   * one. A strategy whose target already accepts only the pending credentials (a single user whose password
   * setSecret changed) decides here what becomes of an outside write made during the rotation, so that
   * AWSCURRENT ends up working and no field written from outside is dropped silently. Throw (with a message
   * that says what happened and what to do) when both cannot hold. Without this hook: `move`. After
   * `keep-current` or `replace`, `afterFinish` is not called: the token's version never became current.
   */
  reconcileOutsideWrite?(
    context: RotationContext,
    versions: { readonly current: SecretVersion; readonly pending: SecretVersion },
  ): Promise<OutsideWriteResolution>;
}

/** Detail of the events published to EventBridge. Never holds a secret value. */
export interface RotationEventDetail {
  readonly secretArn: string;
  readonly kind: string;
  readonly strategy: string;
  readonly [key: string]: unknown;
}
