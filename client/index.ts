/**
 * The core of the client (`@rotation-without-storms/client`): the secret cache, rotation events, errors and
 * types, with no database driver and no `jose`. The adapters have their own entry points, so a service installs
 * only what it uses: `./pg`, `./mysql2`, `./jwt`, `./api-keys`.
 * @packageDocumentation
 */
export { CredentialPools, type DatabaseCredentials, type PoolDriver } from './credential-pools.js';
export { CredentialsRejectedError, SecretClientError } from './errors.js';
export { RotationQueuePoller, type RotationQueuePollerOptions, rotationEventHandler } from './events.js';
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
