export {
  type AcceptedStage,
  type ApiKeyVerification,
  ApiKeyVerifier,
  type ApiKeyVerifierOptions,
} from './api-key-verifier.js';
export {
  BROADCAST_DEFAULTS,
  BROADCAST_TAGS,
  queuePolicy,
  RotationBroadcastSubscriber,
  type RotationBroadcastSubscriberOptions,
  type RotationEventSink,
} from './broadcast.js';
export {
  CredentialPools,
  type CredentialPoolsOptions,
  type DatabaseCredentials,
  type PoolDriver,
  type PoolLease,
  parseCredentials,
  type RecoveryInfo,
} from './credential-pools.js';
export {
  CredentialsRejectedError,
  SecretClientError,
  SecretFormatError,
  SecretUnavailableError,
} from './errors.js';
export { RotationQueuePoller, type RotationQueuePollerOptions, rotationEventHandler } from './events.js';
export {
  type ApiKeyCredential,
  ApiKeyCredentials,
  type ApiKeyCredentialsOptions,
  ApiKeyRejectedError,
} from './http-credentials.js';
export {
  JWT_SIGNER_DEFAULTS,
  JWT_SIGNING_ALGORITHMS,
  JwtSigner,
  type JwtSignerOptions,
  JwtSigningError,
  type JwtSignOptions,
} from './jwt-signer.js';
export {
  checkJwksUrl,
  JWT_VERIFIER_DEFAULTS,
  JwksUnavailableError,
  JwtVerificationError,
  JwtVerifier,
  type JwtVerifierOptions,
  type JwtVerifyOptions,
} from './jwt-verifier.js';
export { mysqlTls, RotatingMySqlPool, type RotatingMySqlPoolOptions } from './mysql-pool.js';
export { pgTls, RotatingPgPool, type RotatingPgPoolOptions } from './pg-pool.js';
export {
  noticeFromEvent,
  parseSecretJson,
  type RefreshFailureInfo,
  type RefreshInfo,
  type RefreshReason,
  type RotationNotice,
  SECRET_CACHE_DEFAULTS,
  SecretCache,
  type SecretCacheObserver,
  type SecretCacheOptions,
  type StaleInfo,
  sameSecret,
} from './secret-cache.js';
export type { CachedSecret, ReadOptions, SecretChangeListener, SecretValueSource } from './types.js';
