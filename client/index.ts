export { CredentialPools, type DatabaseCredentials, type PoolDriver } from './credential-pools';
export { CredentialsRejectedError, SecretClientError } from './errors';
export { RotationQueuePoller, type RotationQueuePollerOptions, rotationEventHandler } from './events';
export { RotatingMySqlPool, type RotatingMySqlPoolOptions } from './mysql-pool';
export { RotatingPgPool, type RotatingPgPoolOptions } from './pg-pool';
export { noticeFromEvent, type RotationNotice, SecretCache, type SecretCacheOptions } from './secret-cache';
export type { CachedSecret, SecretChangeListener, SecretValueSource } from './types';
