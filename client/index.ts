export {
  type AcceptedStage,
  type ApiKeyVerification,
  ApiKeyVerifier,
  type ApiKeyVerifierOptions,
} from './api-key-verifier';
export { CredentialPools, type DatabaseCredentials, type PoolDriver } from './credential-pools';
export { CredentialsRejectedError, SecretClientError } from './errors';
export { RotationQueuePoller, type RotationQueuePollerOptions, rotationEventHandler } from './events';
export {
  type ApiKeyCredential,
  ApiKeyCredentials,
  type ApiKeyCredentialsOptions,
  ApiKeyRejectedError,
} from './http-credentials';
export {
  JWT_SIGNER_DEFAULTS,
  JWT_SIGNING_ALGORITHMS,
  JwtSigner,
  type JwtSignerOptions,
  JwtSigningError,
  type JwtSignOptions,
} from './jwt-signer';
export {
  JWT_VERIFIER_DEFAULTS,
  JwksUnavailableError,
  JwtVerificationError,
  JwtVerifier,
  type JwtVerifierOptions,
  type JwtVerifyOptions,
} from './jwt-verifier';
export { RotatingMySqlPool, type RotatingMySqlPoolOptions } from './mysql-pool';
export { RotatingPgPool, type RotatingPgPoolOptions } from './pg-pool';
export { noticeFromEvent, type RotationNotice, SecretCache, type SecretCacheOptions } from './secret-cache';
export type { CachedSecret, SecretChangeListener, SecretValueSource } from './types';
