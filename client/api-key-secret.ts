/** The key an API key secret version holds, and its provider id when the version records one. */
export interface ApiKeyValue {
  readonly value: string;
  readonly keyId?: string;
}

/**
 * Reads the key from an API key secret's JSON (`field`, by default `apiKey`, and `keyId`). Returns
 * `undefined` when the value is not JSON or has no non-empty string in `field`; never echoes the value.
 */
export function readApiKey(secretString: string, field: string): ApiKeyValue | undefined {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(secretString) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const value = parsed?.[field];
  if (typeof value !== 'string' || value === '') return undefined;
  return { value, ...(typeof parsed.keyId === 'string' ? { keyId: parsed.keyId } : {}) };
}
