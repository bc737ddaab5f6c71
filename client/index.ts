/**
 * The core of the client (`@rotation-without-storms/client`): the secret cache, rotation events and their
 * broadcast to every replica, credential pools, version reporting, errors and types, with no database driver
 * and no `jose`. The adapters have their own entry points, so a service installs only what it uses: `./pg`,
 * `./mysql2`, `./jwt`, `./api-keys`.
 * @packageDocumentation
 */
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
export {
  CONSUMER_REPORT_DETAIL_TYPE,
  CONSUMER_REPORT_SOURCE,
  type ConsumerReportDetail,
  ReportReason,
  VersionReporter,
  VersionReporterConfigurationError,
  type VersionReporterOptions,
} from './version-reporter.js';
