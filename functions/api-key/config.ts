import {
  ConfigurationError,
  type Environment,
  integer,
  loadRotationConfig,
  optionalString,
  type RotationConfig,
} from '../rotation';
import { API_KEY_KIND, ApiKeyDefaults, ApiKeyProviderName } from './constants';
import { type HttpProviderConfig, isSecureUrl, parseHttpProviderConfig } from './providers/http-config';

/** Configuration of the API key rotation function. */
export interface ApiKeyConfig extends RotationConfig {
  readonly provider: ApiKeyProviderName;
  /** How long a superseded key stays valid after its successor became AWSCURRENT. */
  readonly gracePeriodSeconds: number;
  /** Length of keys the function generates. */
  readonly keyLength: number;
  /** Prefix of the names keys are issued under (`<prefix><versionId>`); unset: `<secret name>-`. */
  readonly keyNamePrefix?: string;
  /** Attempts of a check request that gets 401/403 while a new key propagates. */
  readonly checkAttempts: number;
  /** API Gateway: the usage plans keys may join. */
  readonly usagePlanIds?: readonly string[];
  /** API Gateway: a URL of a method requiring the key, requested by testSecret. */
  readonly apiGatewayCheckUrl?: string;
  /** HTTP provider: how to talk to the key service. */
  readonly http?: HttpProviderConfig;
  /** The consumer tracker's table: who still uses a superseded key. */
  readonly consumerTrackerTable?: string;
  /** With the tracker: revoke once no live consumer uses the key, this long after it was superseded. */
  readonly minGracePeriodSeconds?: number;
}

/**
 * Reads the API key function's configuration, validated at cold start:
 * - `ROTATION_STRATEGY` (required): `api-gateway`, `http` or `self-issued`;
 * - `ROTATION_KIND`: `api-key` when set;
 * - `API_KEY_GRACE_PERIOD_SECONDS` (60 to 2592000, default 86400);
 * - `API_KEY_LENGTH` (20 to 128, default 40), `API_KEY_NAME_PREFIX`, `API_KEY_CHECK_ATTEMPTS` (1 to 20, default 5);
 * - api-gateway: `API_GATEWAY_USAGE_PLAN_IDS` (required, comma-separated), `API_GATEWAY_CHECK_URL`;
 * - http: `HTTP_PROVIDER_CONFIG` (required, JSON, see `HttpProviderConfig`);
 * - `CONSUMER_TRACKER_TABLE`: the consumer tracker's table; sweeps report who still uses a superseded key;
 * - `API_KEY_MIN_GRACE_SECONDS` (needs `CONSUMER_TRACKER_TABLE`; 60 to the grace period): revoke a superseded key
 *   as soon as no live consumer uses it and this long has passed; the grace period stays the hard deadline;
 * - and the shared variables of `loadRotationConfig`.
 *
 * @throws ConfigurationError naming the variable (and the field, inside `HTTP_PROVIDER_CONFIG`).
 */
export function loadApiKeyConfig(env: Environment = process.env): ApiKeyConfig {
  const names = Object.values(ApiKeyProviderName);
  const strategy = optionalString(env, 'ROTATION_STRATEGY');
  if (strategy === undefined) {
    throw new ConfigurationError(
      `Environment variable ROTATION_STRATEGY is required: one of ${names.join(', ')}`,
    );
  }
  if (!(names as readonly string[]).includes(strategy)) {
    throw new ConfigurationError(
      `Environment variable ROTATION_STRATEGY must be one of ${names.join(', ')}, got '${strategy}'`,
    );
  }
  const provider = strategy as ApiKeyProviderName;
  const kind = optionalString(env, 'ROTATION_KIND');
  if (kind !== undefined && kind !== API_KEY_KIND) {
    throw new ConfigurationError(
      `Environment variable ROTATION_KIND must be '${API_KEY_KIND}' for the API key function, got '${kind}'`,
    );
  }
  const keyNamePrefix = optionalString(env, 'API_KEY_NAME_PREFIX');
  if (keyNamePrefix !== undefined && (keyNamePrefix.length > 128 || /[\s{}]/.test(keyNamePrefix))) {
    throw new ConfigurationError(
      'Environment variable API_KEY_NAME_PREFIX must be at most 128 characters without spaces or braces',
    );
  }
  const config: ApiKeyConfig = {
    ...loadRotationConfig(env),
    provider,
    gracePeriodSeconds: integer(env, 'API_KEY_GRACE_PERIOD_SECONDS', {
      min: 60,
      max: 2_592_000,
      default: ApiKeyDefaults.GRACE_PERIOD_SECONDS,
    }),
    keyLength: integer(env, 'API_KEY_LENGTH', { min: 20, max: 128, default: ApiKeyDefaults.KEY_LENGTH }),
    checkAttempts: integer(env, 'API_KEY_CHECK_ATTEMPTS', {
      min: 1,
      max: 20,
      default: ApiKeyDefaults.CHECK_ATTEMPTS,
    }),
    ...(keyNamePrefix !== undefined ? { keyNamePrefix } : {}),
  };
  const trackerTable = optionalString(env, 'CONSUMER_TRACKER_TABLE');
  if (trackerTable !== undefined) Object.assign(config, { consumerTrackerTable: trackerTable });
  if (optionalString(env, 'API_KEY_MIN_GRACE_SECONDS') !== undefined) {
    if (trackerTable === undefined) {
      throw new ConfigurationError(
        'Environment variable API_KEY_MIN_GRACE_SECONDS needs CONSUMER_TRACKER_TABLE: without the tracker nobody knows whether consumers moved',
      );
    }
    Object.assign(config, {
      minGracePeriodSeconds: integer(env, 'API_KEY_MIN_GRACE_SECONDS', {
        min: 60,
        max: config.gracePeriodSeconds,
        default: config.gracePeriodSeconds,
      }),
    });
  }
  switch (provider) {
    case ApiKeyProviderName.API_GATEWAY:
      return { ...config, ...apiGatewaySettings(env) };
    case ApiKeyProviderName.HTTP:
      return { ...config, http: httpSettings(env) };
    case ApiKeyProviderName.SELF_ISSUED:
      return config;
  }
}

function apiGatewaySettings(env: Environment): Pick<ApiKeyConfig, 'usagePlanIds' | 'apiGatewayCheckUrl'> {
  const raw = optionalString(env, 'API_GATEWAY_USAGE_PLAN_IDS');
  if (raw === undefined) {
    throw new ConfigurationError(
      'Environment variable API_GATEWAY_USAGE_PLAN_IDS is required for the api-gateway provider: the usage plan ids keys may join, comma-separated',
    );
  }
  const usagePlanIds = raw.split(',').map((id) => id.trim());
  const bad = usagePlanIds.find((id) => !/^[A-Za-z0-9]{1,64}$/.test(id));
  if (bad !== undefined) {
    throw new ConfigurationError(
      `Environment variable API_GATEWAY_USAGE_PLAN_IDS must list usage plan ids (letters and digits), got '${bad}'`,
    );
  }
  const checkUrl = optionalString(env, 'API_GATEWAY_CHECK_URL');
  if (checkUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(checkUrl);
    } catch {
      url = undefined;
    }
    if (!url || !isSecureUrl(url)) {
      throw new ConfigurationError(
        `Environment variable API_GATEWAY_CHECK_URL must be an https URL, got '${checkUrl.slice(0, 200)}'`,
      );
    }
  }
  return { usagePlanIds, ...(checkUrl !== undefined ? { apiGatewayCheckUrl: checkUrl } : {}) };
}

function httpSettings(env: Environment): HttpProviderConfig {
  const raw = optionalString(env, 'HTTP_PROVIDER_CONFIG');
  if (raw === undefined) {
    throw new ConfigurationError(
      'Environment variable HTTP_PROVIDER_CONFIG is required for the http provider: a JSON description of the key service',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ConfigurationError('Environment variable HTTP_PROVIDER_CONFIG is not valid JSON', {
      cause: error,
    });
  }
  return parseHttpProviderConfig(parsed, 'HTTP_PROVIDER_CONFIG');
}
