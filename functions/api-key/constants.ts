/** The `kind` of every API key rotation: a metric dimension and an event field. */
export const API_KEY_KIND = 'api-key';

/** Where a rotated API key lives; the function's `ROTATION_STRATEGY`. */
export const ApiKeyProviderName = {
  /** Amazon API Gateway API keys, attached to usage plans. */
  API_GATEWAY: 'api-gateway',
  /** Any HTTP API that issues, checks and revokes keys, described in `HTTP_PROVIDER_CONFIG`. */
  HTTP: 'http',
  /** Keys our own services accept through the client library's `ApiKeyVerifier`. */
  SELF_ISSUED: 'self-issued',
} as const;
export type ApiKeyProviderName = (typeof ApiKeyProviderName)[keyof typeof ApiKeyProviderName];

/**
 * Tags the function keeps on the secret. Tags can change after the fact, unlike a version's value, so the
 * revocation deadline of a superseded key lives in one: `<REVOKE_AFTER_PREFIX><versionId>` = an ISO 8601
 * instant. The emergency tag is set by an operator (any value) and removed by the function once it acted.
 */
export const ApiKeyTag = {
  /** Every tag the function writes or removes starts with this; the IAM policy is scoped to it. */
  PREFIX: 'secret-rotation:api-key:',
  REVOKE_AFTER_PREFIX: 'secret-rotation:api-key:revoke-after:',
  EMERGENCY: 'secret-rotation:api-key:emergency',
} as const;

/** `action` of the follow-up events (detail-type `Secret Rotation Follow-up`) the function publishes. */
export const ApiKeyFollowUp = {
  /** A superseded key got its revocation deadline. */
  SCHEDULED: 'api-key-revocation-scheduled',
  /** A key was revoked (or found already gone) at the provider. */
  REVOKED: 'api-key-revoked',
} as const;

/** Why a key was revoked. */
export const RevocationReason = {
  /** Its grace period ended (with a consumer tracker: the hard deadline, whoever still uses the key). */
  GRACE_PERIOD_ENDED: 'grace-period-ended',
  /** Every live consumer the tracker knows moved off the key, after the minimum grace period. */
  CONSUMERS_MOVED: 'consumers-moved',
  /** An operator asked for it (emergency tag or sweep event). */
  EMERGENCY: 'emergency',
  /** A key we issued whose version never became current (an abandoned or crashed rotation). */
  ORPHAN: 'orphan',
} as const;
export type RevocationReason = (typeof RevocationReason)[keyof typeof RevocationReason];

/** What the provider said when asked to revoke a key. */
export const RevokeOutcome = {
  REVOKED: 'revoked',
  /** The key was not there (revoked before, e.g. by a run that crashed before recording it). */
  ABSENT: 'absent',
} as const;
export type RevokeOutcome = (typeof RevokeOutcome)[keyof typeof RevokeOutcome];

/** The `Action` of the function's own invocation event, besides Secrets Manager's rotation events. */
export const SweepAction = {
  SWEEP: 'sweep',
} as const;

/** Metrics of the sweep, in the namespace of the rotation metrics. */
export const ApiKeyMetricName = {
  REVOKED: 'ApiKeysRevoked',
  SWEEP_FAILED: 'ApiKeySweepFailed',
  /**
   * Per superseded key revoked (orphans aside): milliseconds from the creation of the version that superseded
   * it to the revocation.
   */
  REVOCATION_LATENCY: 'RevocationLatency',
} as const;

/** Defaults of the configuration. */
export const ApiKeyDefaults = {
  GRACE_PERIOD_SECONDS: 86_400,
  KEY_LENGTH: 40,
  CHECK_ATTEMPTS: 5,
  HTTP_TIMEOUT_MS: 5000,
  CHECK_HEADER: 'x-api-key',
} as const;

/** The field of the secret's JSON holding the key; `keyId` and `provider` describe it. */
export const API_KEY_FIELD = 'apiKey';

/**
 * The tag every API Gateway key the rotation creates carries: the ARN of the secret that rotates it.
 * `ApiKeyRotation` lets the function read and delete only keys that carry it.
 */
export const API_GATEWAY_KEY_OWNER_TAG = 'secret-rotation:api-key:secret';
