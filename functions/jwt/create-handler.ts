import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { countThrottles, createRotationHandler, type Environment, type RotationHandler } from '../rotation';
import { type JwtConfig, loadJwtConfig } from './config';
import { JwksPublisher } from './jwks-publisher';
import { generateSigningKey, type KeyGenerator } from './key-generator';
import { JwtKeySetStrategy } from './strategy';

/** What the JWT rotation handler is built from; tests and the local mode pass their own clients and clock. */
export interface JwtHandlerDependencies {
  readonly secretsManager: SecretsManagerClient;
  readonly s3: S3Client;
  /** For `JWKS_SSM_PARAMETER`. @default - built on first use */
  readonly ssm?: SSMClient;
  /** Needed when `EVENT_BUS_NAME` is set. */
  readonly eventBridge?: EventBridgeClient;
  /** Defaults to `process.env`. */
  readonly env?: Environment;
  /**
   * The key clock: milliseconds since the epoch, for the timestamps in the key set and the timing rules.
   * Injectable so that tests run a hundred rotations in seconds. @default Date.now
   */
  readonly now?: () => number;
  /** Overrides key generation (tests). @default generateSigningKey */
  readonly generateKey?: KeyGenerator;
}

/** Builds the JWT signing key rotation handler; the configuration is validated here, at cold start. */
export function createJwtHandler(deps: JwtHandlerDependencies): RotationHandler {
  const config = loadJwtConfig(deps.env ?? process.env);
  return createRotationHandler({
    strategy: createJwtStrategy(config, deps),
    secretsManager: deps.secretsManager,
    ...(deps.eventBridge ? { eventBridge: deps.eventBridge } : {}),
    config,
  });
}

/** The strategy and publisher the configuration describes. */
export function createJwtStrategy(
  config: JwtConfig,
  deps: Pick<JwtHandlerDependencies, 's3' | 'ssm' | 'now' | 'generateKey'>,
): JwtKeySetStrategy {
  const publisher = new JwksPublisher({
    s3: countThrottles(deps.s3),
    bucket: config.jwksBucket,
    key: config.jwksKey,
    cacheSeconds: config.jwksCacheSeconds,
    cdnCacheSeconds: config.jwksCdnCacheSeconds,
    ...(config.ssmParameterName ? { ssmParameterName: config.ssmParameterName } : {}),
    ...(deps.ssm ? { ssm: deps.ssm } : {}),
  });
  return new JwtKeySetStrategy({
    config,
    publisher,
    generateKey: deps.generateKey ?? generateSigningKey,
    now: deps.now ?? Date.now,
  });
}
