import { readFileSync } from 'node:fs';
import {
  boolean,
  ConfigurationError,
  type Environment,
  integer,
  loadRotationConfig,
  oneOf,
  optionalString,
  type RotationConfig,
} from '../rotation';
import { PreviousUserSessionsPolicy } from './strategies/previous-user';

/** The ways a database secret can be rotated. */
export const DatabaseStrategyName = {
  SINGLE_USER: 'single-user',
  ALTERNATING_USERS: 'alternating-users',
  RDS_MASTER: 'rds-master',
} as const;
export type DatabaseStrategyName = (typeof DatabaseStrategyName)[keyof typeof DatabaseStrategyName];

/** Configuration of the database rotation function. */
export interface DatabaseConfig extends RotationConfig {
  readonly strategy: DatabaseStrategyName;
  /** PEM of extra CAs to trust for TLS to the database, besides Node's roots and the shipped RDS CAs. */
  readonly caPem?: string;
  readonly connectTimeoutMs: number;
  /** Attempts for a connection that fails transiently, or a new password not yet propagated. */
  readonly connectAttempts: number;
  /** How long testSecret of the RDS master strategy waits for RDS to apply the new password. */
  readonly rdsWaitSeconds: number;
  /** Whether the RDS master strategy also logs in with the new password (needs network access). */
  readonly rdsVerifyLogin: boolean;
  /** Alternating users: what to do when the user whose password changes still has live sessions. */
  readonly previousUserSessions: PreviousUserSessionsPolicy;
  /** DynamoDB table of the consumer tracker, to count consumers still on the previous version. */
  readonly consumerTrackerTable?: string;
}

/**
 * Reads the database function's configuration, validated at cold start:
 * - `ROTATION_STRATEGY` (required): `single-user`, `alternating-users` or `rds-master`;
 * - `DB_CA_BUNDLE_PATH`: a PEM file of extra CAs to trust, in addition to Node's roots and the Amazon RDS
 *   CAs the function ships (a private CA, or a newer RDS bundle);
 * - `DB_CONNECT_TIMEOUT_MS` (default 5000), `DB_CONNECT_ATTEMPTS` (default 5);
 * - `RDS_MASTER_WAIT_SECONDS` (default 600), `RDS_MASTER_VERIFY_LOGIN` (default false);
 * - `PREVIOUS_USER_SESSIONS`: `report` (default) or `refuse` (alternating users: refuse while the user whose
 *   password changes has live sessions);
 * - `CONSUMER_TRACKER_TABLE`: the consumer tracker's table, to report consumers still on the previous version.
 */
export function loadDatabaseConfig(env: Environment = process.env): DatabaseConfig {
  const strategy = optionalString(env, 'ROTATION_STRATEGY');
  if (strategy === undefined) {
    throw new ConfigurationError(
      `Environment variable ROTATION_STRATEGY is required: one of ${Object.values(DatabaseStrategyName).join(', ')}`,
    );
  }
  const caPath = optionalString(env, 'DB_CA_BUNDLE_PATH');
  let caPem: string | undefined;
  if (caPath) {
    try {
      caPem = readFileSync(caPath, 'utf8');
    } catch (error) {
      throw new ConfigurationError(
        `Environment variable DB_CA_BUNDLE_PATH names a file that cannot be read: ${caPath}`,
        {
          cause: error,
        },
      );
    }
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigurationError(
        `Environment variable DB_CA_BUNDLE_PATH names a file with no PEM certificate: ${caPath}`,
      );
    }
  }
  const trackerTable = optionalString(env, 'CONSUMER_TRACKER_TABLE');
  return {
    ...loadRotationConfig(env),
    strategy: oneOf(
      env,
      'ROTATION_STRATEGY',
      Object.values(DatabaseStrategyName),
      DatabaseStrategyName.SINGLE_USER,
    ),
    ...(caPem ? { caPem } : {}),
    connectTimeoutMs: integer(env, 'DB_CONNECT_TIMEOUT_MS', { min: 100, max: 60_000, default: 5000 }),
    connectAttempts: integer(env, 'DB_CONNECT_ATTEMPTS', { min: 1, max: 20, default: 5 }),
    rdsWaitSeconds: integer(env, 'RDS_MASTER_WAIT_SECONDS', { min: 10, max: 840, default: 600 }),
    rdsVerifyLogin: boolean(env, 'RDS_MASTER_VERIFY_LOGIN', false),
    previousUserSessions: oneOf(
      env,
      'PREVIOUS_USER_SESSIONS',
      Object.values(PreviousUserSessionsPolicy),
      PreviousUserSessionsPolicy.REPORT,
    ),
    ...(trackerTable ? { consumerTrackerTable: trackerTable } : {}),
  };
}
