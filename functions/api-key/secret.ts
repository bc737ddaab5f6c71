import { InvalidSecretValueError } from '../rotation';
import { API_KEY_FIELD } from './constants';

/** The value of an API key secret: `{ "provider", "keyId", "apiKey", ...anything else, kept as is }`. */
export interface ApiKeySecret {
  /** The provider the key belongs to; when present it must be the function's. */
  readonly provider?: string;
  /** The provider's id of the key, when known when the version was written. */
  readonly keyId?: string;
  /** The key. */
  readonly apiKey: string;
  /** Every other field of the JSON, carried over to the next version unchanged. */
  readonly extra: Readonly<Record<string, unknown>>;
}

/**
 * Parses a version of an API key secret. Errors name the version's stage and the field, never a value.
 *
 * @throws InvalidSecretValueError when the value is not a JSON object, `apiKey` is not a non-empty string,
 * `keyId` is not a string, or `provider` names another provider than `expectedProvider`.
 */
export function parseApiKeySecret(
  secretArn: string,
  stage: string,
  secretString: string,
  expectedProvider: string,
): ApiKeySecret {
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    // The parser's message quotes the text: never pass it on.
    throw new InvalidSecretValueError(secretArn, stage, '(value)', 'is not JSON: expected {"apiKey": "..."}');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidSecretValueError(secretArn, stage, '(value)', 'is not a JSON object');
  }
  const { provider, keyId, [API_KEY_FIELD]: apiKey, ...extra } = value as Record<string, unknown>;
  if (apiKey === undefined || apiKey === null) {
    throw new InvalidSecretValueError(secretArn, stage, API_KEY_FIELD, 'is missing');
  }
  if (typeof apiKey !== 'string' || apiKey === '') {
    throw new InvalidSecretValueError(secretArn, stage, API_KEY_FIELD, 'must be a non-empty string');
  }
  if (keyId !== undefined && keyId !== null && (typeof keyId !== 'string' || keyId === '')) {
    throw new InvalidSecretValueError(secretArn, stage, 'keyId', 'must be a non-empty string when present');
  }
  if (provider !== undefined && provider !== null) {
    if (typeof provider !== 'string') {
      throw new InvalidSecretValueError(secretArn, stage, 'provider', 'must be a string when present');
    }
    if (provider !== expectedProvider) {
      throw new InvalidSecretValueError(
        secretArn,
        stage,
        'provider',
        `is '${provider.slice(0, 64)}' but this function rotates '${expectedProvider}' keys`,
      );
    }
  }
  return {
    ...(typeof provider === 'string' ? { provider } : {}),
    ...(typeof keyId === 'string' ? { keyId } : {}),
    apiKey,
    extra,
  };
}

/**
 * The JSON of a new version: the current version's other fields, then `provider`, `keyId` (only when known:
 * never the previous key's id) and `apiKey`.
 */
export function buildApiKeySecret(
  current: ApiKeySecret,
  next: { readonly provider: string; readonly keyId?: string; readonly apiKey: string },
): string {
  return JSON.stringify({
    ...current.extra,
    provider: next.provider,
    ...(next.keyId !== undefined ? { keyId: next.keyId } : {}),
    [API_KEY_FIELD]: next.apiKey,
  });
}
