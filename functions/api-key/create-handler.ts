import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ConsumerCounter } from '../consumer-tracker/store';
import {
  ConfigurationError,
  CurrentVersionMissingError,
  countThrottles,
  createRotationHandler,
  createRotationLogger,
  createRotationMetrics,
  type Environment,
  EventDetailType,
  MetricName,
  RedactionScope,
  Redactor,
  RotationError,
  RotationEventPublisher,
  SDK_RETRY_CONFIG,
  ThrottleCount,
  withThrottleCount,
} from '../rotation';
import { type ApiKeyConfig, loadApiKeyConfig } from './config';
import { API_KEY_KIND, ApiKeyMetricName, ApiKeyProviderName } from './constants';
import { ApiKeySweepError } from './errors';
import { ApiGatewayProvider } from './providers/api-gateway';
import { HttpProvider } from './providers/http';
import type { ApiKeyProvider } from './providers/provider';
import { SelfIssuedProvider } from './providers/self-issued';
import { type RevocationContext, Revocations, type SweepReport } from './revocation';
import { ApiKeySecretStore } from './secret-state';
import { ApiKeyStrategy } from './strategy';
import { isSweepEvent, parseSweepEvent } from './sweep-event';

/** What the API key rotation handler is built from; tests and the local mode pass their own clients. */
export interface ApiKeyHandlerDependencies {
  readonly secretsManager: SecretsManagerClient;
  /** Needed when `EVENT_BUS_NAME` is set. */
  readonly eventBridge?: EventBridgeClient;
  /** The api-gateway provider's client. @default - one built with SDK_RETRY_CONFIG */
  readonly apiGateway?: APIGatewayClient;
  /** Defaults to `process.env`. */
  readonly env?: Environment;
  /** The HTTP provider's and check requests' fetch. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Sleeps between check attempts; injectable so tests do not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Delay before the second check attempt (tests). */
  readonly baseDelayMs?: number;
  /** The clock of grace periods, milliseconds since the epoch; tests simulate time with it. */
  readonly now?: () => number;
  /** Replaces the configured provider (tests). */
  readonly provider?: ApiKeyProvider;
  /** The consumer tracker (with `CONSUMER_TRACKER_TABLE`, the entry passes a `ConsumerStore`). @default - none */
  readonly consumers?: ConsumerCounter;
}

/** The Lambda handler: rotation steps from Secrets Manager, and sweep events (which return a report). */
export type ApiKeyHandler = (event: unknown, context?: unknown) => Promise<SweepReport | undefined>;

/**
 * Builds the API key rotation handler: the provider comes from `ROTATION_STRATEGY`. The handler takes
 * Secrets Manager's rotation events (`{ SecretId, ClientRequestToken, Step }`) and sweep events
 * (`{ "Action": "sweep", "SecretId": ..., "Emergency"?: boolean }`).
 */
export function createApiKeyHandler(deps: ApiKeyHandlerDependencies): ApiKeyHandler {
  const config = loadApiKeyConfig(deps.env ?? process.env);
  const provider = deps.provider ?? createApiKeyProvider(config, deps);
  const now = deps.now ?? Date.now;
  const store = new ApiKeySecretStore(countThrottles(deps.secretsManager));
  // One metrics object for the rotation steps and the sweeps: a key can be revoked by either.
  const metrics = createRotationMetrics(API_KEY_KIND, provider.name);
  const revocations = new Revocations({
    store,
    provider,
    gracePeriodSeconds: config.gracePeriodSeconds,
    ...(config.keyNamePrefix !== undefined ? { keyNamePrefix: config.keyNamePrefix } : {}),
    now,
    recordRevocationLatency: (latencyMs) =>
      metrics.addMetric(ApiKeyMetricName.REVOCATION_LATENCY, MetricUnit.Milliseconds, latencyMs),
    ...(deps.consumers ? { consumers: deps.consumers } : {}),
    ...(config.minGracePeriodSeconds !== undefined
      ? { minGracePeriodSeconds: config.minGracePeriodSeconds }
      : {}),
  });
  const strategy = new ApiKeyStrategy({ provider, store, revocations, keyLength: config.keyLength, now });
  const rotate = createRotationHandler({
    strategy,
    secretsManager: deps.secretsManager,
    ...(deps.eventBridge ? { eventBridge: deps.eventBridge } : {}),
    config,
    metrics,
  });
  const sweep = createSweepHandler(deps, config, provider, store, revocations, metrics);
  return async (event) => {
    if (isSweepEvent(event)) return sweep(event);
    await rotate(event);
    return undefined;
  };
}

/** The provider the configuration names. */
export function createApiKeyProvider(config: ApiKeyConfig, deps: ApiKeyHandlerDependencies): ApiKeyProvider {
  const shared = {
    checkAttempts: config.checkAttempts,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.baseDelayMs !== undefined ? { baseDelayMs: deps.baseDelayMs } : {}),
  };
  switch (config.provider) {
    case ApiKeyProviderName.API_GATEWAY:
      return new ApiGatewayProvider({
        client: countThrottles(deps.apiGateway ?? new APIGatewayClient(SDK_RETRY_CONFIG)),
        usagePlanIds: config.usagePlanIds ?? [],
        ...(config.apiGatewayCheckUrl ? { checkUrl: config.apiGatewayCheckUrl } : {}),
        ...shared,
      });
    case ApiKeyProviderName.HTTP:
      if (!config.http) throw new ConfigurationError('Environment variable HTTP_PROVIDER_CONFIG is required');
      return new HttpProvider({ config: config.http, ...shared });
    case ApiKeyProviderName.SELF_ISSUED:
      return new SelfIssuedProvider();
  }
}

function createSweepHandler(
  deps: ApiKeyHandlerDependencies,
  config: ApiKeyConfig,
  provider: ApiKeyProvider,
  store: ApiKeySecretStore,
  revocations: Revocations,
  metrics: Metrics,
): (event: unknown) => Promise<SweepReport> {
  const scope = new RedactionScope();
  const logger = createRotationLogger(scope);
  const events = new RotationEventPublisher(
    deps.eventBridge ? countThrottles(deps.eventBridge) : undefined,
    config.eventBusName,
  );

  return (raw) => {
    const redactor = new Redactor();
    const throttles = new ThrottleCount();
    return scope.run(redactor, () => withThrottleCount(throttles, () => sweep(raw, redactor, throttles)));
  };

  async function sweep(raw: unknown, redactor: Redactor, throttles: ThrottleCount): Promise<SweepReport> {
    const event = parseSweepEvent(raw);
    logger.appendKeys({
      secretId: event.secretId,
      action: 'sweep',
      kind: API_KEY_KIND,
      strategy: provider.name,
      emergency: event.emergency,
    });
    let secretArn = event.secretId;
    try {
      const state = await store.load(event.secretId);
      secretArn = state.arn;
      logger.appendKeys({ secretArn });
      const arn = secretArn;
      const secrets = new Map<string, Promise<string>>();
      const context: RevocationContext = {
        secretArn: arn,
        logger,
        provider: {
          logger,
          redact: (value) => redactor.add(value),
          readSecret: (secretId) => {
            let read = secrets.get(secretId);
            if (!read) {
              read = store.currentValue(secretId).then((value) => {
                if (value === undefined) throw new CurrentVersionMissingError(secretId);
                redactor.addSecretString(value);
                return value;
              });
              secrets.set(secretId, read);
            }
            return read;
          },
        },
        publish: (action, detail) =>
          events.publish(EventDetailType.FOLLOW_UP, {
            ...detail,
            secretArn: arn,
            kind: API_KEY_KIND,
            strategy: provider.name,
            action,
          }),
      };
      const report = await revocations.sweep(context, { emergency: event.emergency });
      metrics.addMetric(ApiKeyMetricName.REVOKED, MetricUnit.Count, report.revoked.length);
      if (report.failed.length > 0) {
        throw new ApiKeySweepError(
          arn,
          report.failed.map((f) => ({ versionId: f.versionId ?? f.keyName ?? '?', errorName: f.errorName })),
          `Sweep of secret ${arn} could not complete ${report.failed.length} revocation(s): ` +
            report.failed.map((f) => `${f.versionId ?? f.keyName} (${f.errorName})`).join(', ') +
            '; the others were done and the next sweep retries',
        );
      }
      return report;
    } catch (error) {
      metrics.addMetric(ApiKeyMetricName.SWEEP_FAILED, MetricUnit.Count, 1);
      const name = error instanceof Error ? error.name : typeof error;
      const rawMessage = error instanceof Error ? error.message : String(error);
      const message = redactor.redact(rawMessage);
      logger.error('Sweep failed', { errorName: name, errorMessage: message });
      if (error instanceof RotationError && message === rawMessage) {
        // Ours, and its message is clean; whatever it wraps may not be (a provider's text can quote a key).
        if (error.cause !== undefined) {
          Object.defineProperty(error, 'cause', {
            value: redactor.scrubError(error.cause),
            enumerable: false,
          });
        }
        throw error;
      }
      throw new ApiKeySweepError(secretArn, [], `Sweep of secret ${secretArn} failed: ${name}: ${message}`, {
        cause: redactor.scrubError(error),
      });
    } finally {
      // Every sweep, 0 included, as every rotation step does.
      metrics.addMetric(MetricName.THROTTLED_REQUESTS, MetricUnit.Count, throttles.value);
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  }
}
