import { importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { SecretClientError } from './errors.js';
import type { SecretValueSource } from './types.js';

/** Algorithms the rotation function generates keys for. */
export const JWT_SIGNING_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;

/** Defaults of the signer. */
export const JWT_SIGNER_DEFAULTS = {
  /** Token lifetime when none is given, capped at the key set's maximum. */
  expiresInSeconds: 900,
  /** How often the key set is re-read without a change notification when the secret states no policy. */
  maxKeyAgeMs: 600_000,
} as const;

/** A token could not be signed: no usable key, or a lifetime the key set does not allow. Never holds a key. */
export class JwtSigningError extends SecretClientError {
  constructor(
    readonly secretId: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'JwtSigningError';
  }
}

/** Options of a signer. */
export interface JwtSignerOptions {
  /** Where the key set is read (a `SecretCache`, or any `SecretValueSource`). */
  readonly source: SecretValueSource;
  /** ARN or name of the signing key secret. */
  readonly secretId: string;
  /** `iss` of every token. @default - none */
  readonly issuer?: string;
  /** `aud` of every token, unless `sign` is given one. @default - none */
  readonly audience?: string | readonly string[];
  /**
   * Lifetime of a token when `sign` is not given one.
   * @default 900 seconds, or the key set's `maxTokenLifetimeSeconds` when shorter
   */
  readonly expiresInSeconds?: number;
  /**
   * Re-read the key set at least this often, even when no rotation event arrives. The rotation keeps a retired
   * key published for one JWKS staleness budget after it stops signing, so a signer must not lag longer.
   * @default the key set's `jwksMaxStalenessSeconds` (600 seconds when the secret states none)
   */
  readonly maxKeyAgeMs?: number;
  /** Milliseconds since the epoch; injectable for tests. @default Date.now */
  readonly now?: () => number;
}

/** Claims set by `sign` besides the payload. */
export interface JwtSignOptions {
  /** Lifetime of this token; at most the key set's `maxTokenLifetimeSeconds`. */
  readonly expiresInSeconds?: number;
  readonly subject?: string;
  readonly audience?: string | readonly string[];
  /** `jti`. */
  readonly jwtId?: string;
}

interface LoadedKey {
  readonly versionId: string;
  readonly kid: string;
  readonly alg: string;
  readonly key: Awaited<ReturnType<typeof importJWK>>;
  readonly maxTokenLifetimeSeconds?: number;
  readonly maxKeyAgeMs: number;
  readonly loadedAt: number;
  /** The change count when the key set was read. */
  readonly generation: number;
}

/**
 * Signs JWTs with the current key of a rotated key set (`kid` in the header). The key is imported once per
 * secret version; a change notification from the source (a rotation event reaching the cache) makes the next
 * `sign` read the key set again, and so does age (`maxKeyAgeMs`) when no event comes. Tokens longer than the
 * key set's `maxTokenLifetimeSeconds` are refused: the rotation keeps a retired key published only that long.
 */
export class JwtSigner {
  readonly #options: JwtSignerOptions;
  readonly #now: () => number;
  readonly #unsubscribe: () => void;
  #loaded: LoadedKey | undefined;
  #loading: Promise<LoadedKey> | undefined;
  #loadingGeneration = -1;
  #generation = 0;

  constructor(options: JwtSignerOptions) {
    if (options.expiresInSeconds !== undefined) positiveInteger(options.expiresInSeconds, 'expiresInSeconds');
    this.#options = options;
    this.#now = options.now ?? Date.now;
    // Only this secret's changes (the source matches a name with its ARNs).
    this.#unsubscribe = options.source.onChange(() => {
      this.#generation++;
    }, options.secretId);
  }

  /** Signs `payload` with the current key. */
  async sign(payload: JWTPayload = {}, options: JwtSignOptions = {}): Promise<string> {
    const key = await this.#key();
    const max = key.maxTokenLifetimeSeconds;
    const lifetime =
      options.expiresInSeconds ??
      this.#options.expiresInSeconds ??
      Math.min(JWT_SIGNER_DEFAULTS.expiresInSeconds, max ?? Number.POSITIVE_INFINITY);
    positiveInteger(lifetime, 'expiresInSeconds');
    if (max !== undefined && lifetime > max) {
      throw new JwtSigningError(
        this.#options.secretId,
        `A token of ${lifetime} s is longer than secret ${this.#options.secretId} allows (maxTokenLifetimeSeconds ${max})`,
      );
    }
    const issuedAt = Math.floor(this.#now() / 1000);
    const jwt = new SignJWT(payload)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + lifetime);
    const audience = options.audience ?? this.#options.audience;
    if (this.#options.issuer !== undefined) jwt.setIssuer(this.#options.issuer);
    if (audience !== undefined) jwt.setAudience(typeof audience === 'string' ? audience : [...audience]);
    if (options.subject !== undefined) jwt.setSubject(options.subject);
    if (options.jwtId !== undefined) jwt.setJti(options.jwtId);
    return jwt.sign(key.key);
  }

  /** The `kid` that `sign` would use now. */
  async currentKeyId(): Promise<string> {
    return (await this.#key()).kid;
  }

  /** Stops listening to the source. */
  close(): void {
    this.#unsubscribe();
  }

  async #key(): Promise<LoadedKey> {
    const loaded = this.#loaded;
    if (loaded && loaded.generation === this.#generation) {
      if (this.#now() - loaded.loadedAt < loaded.maxKeyAgeMs) return loaded;
      // No event came for a while: read again, but a failed read keeps the key that was current (no evidence
      // that it changed) rather than stopping every signature.
      try {
        this.#options.source.invalidate(this.#options.secretId);
        return await this.#load();
      } catch {
        return loaded;
      }
    }
    return this.#load();
  }

  #load(): Promise<LoadedKey> {
    // Concurrent signers share one read, unless a change arrived after it started: that needs a fresh read.
    if (!this.#loading || this.#loadingGeneration !== this.#generation) {
      this.#loadingGeneration = this.#generation;
      const loading = this.#read().finally(() => {
        if (this.#loading === loading) this.#loading = undefined;
      });
      this.#loading = loading;
    }
    return this.#loading;
  }

  async #read(): Promise<LoadedKey> {
    const generation = this.#generation;
    const secretId = this.#options.secretId;
    const secret = await this.#options.source.current(secretId);
    const previous = this.#loaded;
    if (previous && previous.versionId === secret.versionId) {
      return this.#keep({ ...previous, loadedAt: this.#now(), generation });
    }
    const parsed = parseSigningKey(secretId, secret.secretString);
    let key: LoadedKey['key'];
    try {
      key = await importJWK(parsed.jwk, parsed.alg);
    } catch (error) {
      throw new JwtSigningError(secretId, `The current key of secret ${secretId} cannot be imported`, {
        cause: error,
      });
    }
    return this.#keep({
      versionId: secret.versionId,
      kid: parsed.kid,
      alg: parsed.alg,
      key,
      ...(parsed.maxTokenLifetimeSeconds !== undefined
        ? { maxTokenLifetimeSeconds: parsed.maxTokenLifetimeSeconds }
        : {}),
      maxKeyAgeMs:
        this.#options.maxKeyAgeMs ??
        (parsed.stalenessSeconds !== undefined
          ? parsed.stalenessSeconds * 1000
          : JWT_SIGNER_DEFAULTS.maxKeyAgeMs),
      loadedAt: this.#now(),
      generation,
    });
  }

  /** Keeps `key` unless a read started after it has already been kept (reads can finish out of order). */
  #keep(key: LoadedKey): LoadedKey {
    if (!this.#loaded || this.#loaded.generation <= key.generation) this.#loaded = key;
    return key;
  }
}

/** The current key of a key set secret, validated; errors name the field, never a value. */
function parseSigningKey(
  secretId: string,
  secretString: string,
): { kid: string; alg: string; jwk: JWK; maxTokenLifetimeSeconds?: number; stalenessSeconds?: number } {
  const fail = (problem: string) =>
    new JwtSigningError(secretId, `Secret ${secretId} is not a usable JWT key set: ${problem}`);
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    throw fail('the value is not JSON');
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw fail("field 'keys' is empty: the first rotation has not run yet");
  }
  const current = keys.filter((k) => (k as { state?: unknown } | null)?.state === 'current');
  if (current.length !== 1)
    throw fail(`field 'keys' must hold exactly one current key, found ${current.length}`);
  const key = current[0] as { kid?: unknown; alg?: unknown; jwk?: unknown };
  if (typeof key.kid !== 'string' || key.kid === '') throw fail("the current key's field 'kid' is missing");
  if (!(JWT_SIGNING_ALGORITHMS as readonly unknown[]).includes(key.alg)) {
    throw fail(`the current key's field 'alg' must be one of ${JWT_SIGNING_ALGORITHMS.join(', ')}`);
  }
  const jwk = key.jwk as Record<string, unknown> | undefined;
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') {
    throw fail("the current key's field 'jwk' holds no private key");
  }
  const policy = (value as { policy?: Record<string, unknown> }).policy ?? {};
  const seconds = (field: string) => {
    const v = policy[field];
    return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
  };
  const maxTokenLifetimeSeconds = seconds('maxTokenLifetimeSeconds');
  const stalenessSeconds = seconds('jwksMaxStalenessSeconds');
  return {
    kid: key.kid,
    alg: key.alg as string,
    jwk: jwk as JWK,
    ...(maxTokenLifetimeSeconds !== undefined ? { maxTokenLifetimeSeconds } : {}),
    ...(stalenessSeconds !== undefined ? { stalenessSeconds } : {}),
  };
}

function positiveInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`JwtSigner: ${name} must be a positive whole number of seconds, got ${value}`);
  }
}
