/** Keys of secret JSON whose values identify rather than authenticate; they stay readable in messages. */
const NON_SECRET_KEYS = new Set([
  'engine',
  'host',
  'port',
  'username',
  'dbname',
  'masterarn',
  'dbInstanceIdentifier',
  'dbClusterIdentifier',
  'ssl',
  'kid',
  'kty',
  'alg',
  'use',
  'crv',
  'state',
  'keyId',
  'provider',
]);

/** Shortest string worth redacting: shorter values would mangle ordinary words. */
const MIN_LENGTH = 6;

/** The replacement of a redacted value. */
export const REDACTED = '[REDACTED]';

/**
 * Remembers every secret value an invocation has seen and scrubs them from text: the last line of defence
 * for error messages of drivers and SDKs, which we do not control.
 */
export class Redactor {
  readonly #values = new Set<string>();

  /** Registers a raw secret string, and each sensitive string inside it when it is JSON. */
  addSecretString(secretString: string): void {
    this.add(secretString);
    try {
      this.#addLeaves(JSON.parse(secretString), undefined);
    } catch {
      // Not JSON: the whole string is the secret, registered above.
    }
  }

  /** Registers one sensitive value. */
  add(value: string): void {
    if (value.length >= MIN_LENGTH) this.#values.add(value);
  }

  /** `text` with every registered value replaced. */
  redact(text: string): string {
    let result = text;
    // Longest first, so that a value containing another is replaced whole.
    for (const value of [...this.#values].sort((a, b) => b.length - a.length)) {
      if (result.includes(value)) result = result.split(value).join(REDACTED);
    }
    return result;
  }

  /** Whether `text` contains any registered value. */
  contains(text: string): boolean {
    for (const value of this.#values) if (text.includes(value)) return true;
    return false;
  }

  #addLeaves(node: unknown, key: string | undefined): void {
    if (typeof node === 'string') {
      if (key === undefined || !NON_SECRET_KEYS.has(key)) this.add(node);
    } else if (Array.isArray(node)) {
      for (const item of node) this.#addLeaves(item, key);
    } else if (typeof node === 'object' && node !== null) {
      for (const [childKey, child] of Object.entries(node)) this.#addLeaves(child, childKey);
    }
  }
}
