import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Environment } from '../functions/rotation/config';
import type { RotationFunction } from '../local/driver';
import type { AwsClientConfig } from './aws';

/** What a local function factory gets to build the real handler with. */
export interface LocalFunctionContext {
  /**
   * The Secrets Manager client the function must use: the rotation driver's, which plays the service's part
   * (the token staged AWSPENDING without a value, rotation shown enabled).
   */
  readonly secretsManager: SecretsManagerClient;
  /** Client configuration (endpoint, region, credentials) for any other client the function needs. */
  readonly clientConfig: AwsClientConfig;
  /** The function's environment variables: the CLI's own environment, as a Lambda's would be. */
  readonly env: Environment;
}

/** Builds a rotation function's real handler for the local mode. Loaded lazily: only `rotate` pays for it. */
export type LocalFunctionFactory = (context: LocalFunctionContext) => Promise<RotationFunction>;

/** An EventBridge client when the function is configured to publish events (`EVENT_BUS_NAME`). */
export async function eventBridgeFor(
  context: LocalFunctionContext,
): Promise<{ eventBridge?: EventBridgeClient }> {
  if (!context.env.EVENT_BUS_NAME) return {};
  const { EventBridgeClient } = await import('@aws-sdk/client-eventbridge');
  return { eventBridge: new EventBridgeClient(context.clientConfig) };
}

/**
 * The rotation functions `rotate --local-function <name>` can run in-process: one entry per kind, a factory
 * that builds the kind's handler the way its Lambda entry does, with the driver's client. Modules are
 * imported when a factory runs, so that only `rotate --local-function` pays for loading database drivers.
 */
export const LOCAL_FUNCTIONS: Readonly<Record<string, LocalFunctionFactory>> = {
  'api-key': async (c) => {
    const { APIGatewayClient } = await import('@aws-sdk/client-api-gateway');
    return (await import('../functions/api-key/create-handler')).createApiKeyHandler({
      secretsManager: c.secretsManager,
      ...(c.env.ROTATION_STRATEGY === 'api-gateway'
        ? { apiGateway: new APIGatewayClient(c.clientConfig) }
        : {}),
      env: c.env,
      ...(await eventBridgeFor(c)),
    });
  },
  database: async (c) =>
    (await import('../functions/database/create-handler')).createDatabaseHandler({
      secretsManager: c.secretsManager,
      env: c.env,
      ...(await eventBridgeFor(c)),
    }),
  jwt: async (c) => {
    const { S3Client } = await import('@aws-sdk/client-s3');
    return (await import('../functions/jwt/create-handler')).createJwtHandler({
      secretsManager: c.secretsManager,
      // path-style addressing: a local endpoint (moto) has no per-bucket host names
      s3: new S3Client({ ...c.clientConfig, ...(c.clientConfig.endpoint ? { forcePathStyle: true } : {}) }),
      ...(c.env.JWKS_SSM_PARAMETER
        ? { ssm: new (await import('@aws-sdk/client-ssm')).SSMClient(c.clientConfig) }
        : {}),
      env: c.env,
      ...(await eventBridgeFor(c)),
    });
  },
};
