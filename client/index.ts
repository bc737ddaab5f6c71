export {
  type AcceptedStage,
  type ApiKeyVerification,
  ApiKeyVerifier,
  type ApiKeyVerifierOptions,
} from './api-key-verifier.js';
export { CredentialPools, type DatabaseCredentials, type PoolDriver } from './credential-pools.js';
export { CredentialsRejectedError, SecretClientError } from './errors.js';
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
  JWT_VERIFIER_DEFAULTS,
  JwksUnavailableError,
  JwtVerificationError,
  JwtVerifier,
  type JwtVerifierOptions,
  type JwtVerifyOptions,
} from './jwt-verifier.js';
export { RotatingMySqlPool, type RotatingMySqlPoolOptions } from './mysql-pool.js';
export { RotatingPgPool, type RotatingPgPoolOptions } from './pg-pool.js';
export {
  noticeFromEvent,
  type RotationNotice,
  SecretCache,
  type SecretCacheOptions,
} from './secret-cache.js';
export type { CachedSecret, SecretChangeListener, SecretValueSource } from './types.js';
export {
  CONSUMER_REPORT_DETAIL_TYPE,
  CONSUMER_REPORT_SOURCE,
  type ConsumerReportDetail,
  ReportReason,
  VersionReporter,
  VersionReporterConfigurationError,
  type VersionReporterOptions,
} from './version-reporter.js';
