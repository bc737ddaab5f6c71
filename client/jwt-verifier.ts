import {
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyResult,
  jwtVerify,
} from 'jose';
import { SecretClientError } from './errors.js';
import { JWT_SIGNING_ALGORITHMS } from './jwt-signer.js';

/** Defaults of the verifier. */
export const JWT_VERIFIER_DEFAULTS = {
  /** The rotation function's default `JWKS_CACHE_SECONDS`. */
  cacheMaxAgeMs: 600_000,
  /** Least time between two fetches caused by an unknown `kid`. */
  cooldownMs: 30_000,
  timeoutMs: 5_000,
  /** Largest JWKS response read; a key set of a few keys is a few kilobytes. */
  maxResponseBytes: 65_536,
  /** Most keys a JWKS may hold (the rotation publishes current, next and previous). */
  maxKeys: 20,
} as const;

/** Private JWK members: a public document holding any of them is refused. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** A token was refused: bad signature, unknown key, expired, wrong issuer or audience, too long-lived. */
export class JwtVerificationError extends SecretClientError {
  constructor(
    /** jose's error code (e.g. `ERR_JWT_EXPIRED`, `ERR_JWKS_NO_MATCHING_KEY`), or `ERR_JWT_LIFETIME`. */
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'JwtVerificationError';
  }
}

/** The JWKS could not be fetched or is unusable: an infrastructure problem, not a bad token. */
export class JwksUnavailableError extends SecretClientError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'JwksUnavailableError';
  }
}

/** Options of a verifier. Give `jwksUrl` or `fetchJwks`. */
export interface JwtVerifierOptions {
  /** Where the JWKS is served (the CloudFront URL of `JwtSigningKeyRotation`, or any HTTPS URL). */
  readonly jwksUrl?: string | URL;
  /**
   * Fetches the JWKS another way (S3 `GetObject` with IAM, an SSM parameter) and returns the parsed document.
   * Exclusive with `jwksUrl`.
   */
  readonly fetchJwks?: () => Promise<unknown>;
  /** Accepted `iss`. @default - not checked */
  readonly issuer?: string | readonly string[];
  /** Accepted `aud`. @default - not checked */
  readonly audience?: string | readonly string[];
  /** Accepted algorithms. @default ['RS256', 'ES256', 'EdDSA'] */
  readonly algorithms?: readonly string[];
  /**
   * How long a fetched JWKS is used before it is fetched again. Must not exceed the rotation's
   * `JWKS_CACHE_SECONDS`: the rotation publishes a key that long before it signs.
   * @default 600_000 (ten minutes, the rotation's default)
   */
  readonly cacheMaxAgeMs?: number;
  /**
   * A token whose `kid` the cached JWKS lacks causes a fetch, at most once per this interval (bounding what a
   * flood of forged kids costs). `Infinity` never fetches early.
   * @default 30_000
   */
  readonly cooldownMs?: number;
  /** HTTP timeout. @default 5_000 */
  readonly timeoutMs?: number;
  /** A JWKS response longer than this is refused without being read whole. @default 65_536 */
  readonly maxResponseBytes?: number;
  /** A JWKS with more keys than this is refused. @default 20 */
  readonly maxKeys?: number;
  /** Leeway for `exp`/`nbf`/`iat`. @default 0 */
  readonly clockToleranceSeconds?: number;
  /** Refuse tokens whose `exp - iat` exceeds this (the rotation's `JWT_MAX_TOKEN_LIFETIME_SECONDS`). @default - not checked */
  readonly maxTokenLifetimeSeconds?: number;
  /** Milliseconds since the epoch, for the cache and for token times; injectable for tests. @default Date.now */
  readonly now?: () => number;
}

/** Per-call overrides. */
export interface JwtVerifyOptions {
  readonly issuer?: string | readonly string[];
  readonly audience?: string | readonly string[];
  readonly subject?: string;
}

interface CachedJwks {
  readonly resolve: ReturnType<typeof createLocalJWKSet>;
  readonly fetchedAt: number;
  readonly kids: readonly string[];
}

/**
 * Verifies JWTs against a remote JWKS. The document is cached for `cacheMaxAgeMs`; a token with a `kid` the
 * cache lacks causes one fetch (shared by concurrent callers) at most every `cooldownMs`. `exp` is required:
 * a token without one would outlive the retention of its key.
 */
export class JwtVerifier {
  readonly #options: JwtVerifierOptions;
  readonly #now: () => number;
  readonly #fetch: () => Promise<unknown>;
  #cached: CachedJwks | undefined;
  #inFlight: Promise<CachedJwks> | undefined;
  /** Number of JWKS fetches made, for tests and metrics. */
  fetches = 0;

  constructor(options: JwtVerifierOptions) {
    if ((options.jwksUrl === undefined) === (options.fetchJwks === undefined)) {
      throw new RangeError('JwtVerifier: give exactly one of jwksUrl and fetchJwks');
    }
    if (options.jwksUrl !== undefined) checkJwksUrl(options.jwksUrl);
    for (const name of ['cacheMaxAgeMs', 'cooldownMs', 'timeoutMs', 'maxResponseBytes', 'maxKeys'] as const) {
      const value = options[name];
      if (value !== undefined && !(value >= 0)) {
        throw new RangeError(`JwtVerifier: ${name} must be zero or more, got ${value}`);
      }
    }
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const url = options.jwksUrl;
    this.#fetch = options.fetchJwks ?? (() => this.#fetchUrl(new URL(String(url))));
  }

  /** The kids of the cached document (empty before the first fetch). */
  get cachedKeyIds(): readonly string[] {
    return this.#cached?.kids ?? [];
  }

  /** Verifies `token`; resolves with its payload and header, rejects with `JwtVerificationError`. */
  async verify<T extends JWTPayload = JWTPayload>(
    token: string,
    options: JwtVerifyOptions = {},
  ): Promise<JWTVerifyResult<T>> {
    const issuer = options.issuer ?? this.#options.issuer;
    const audience = options.audience ?? this.#options.audience;
    let result: JWTVerifyResult<T>;
    try {
      result = await jwtVerify<T>(token, (header, input) => this.#resolve(header, input), {
        algorithms: [...(this.#options.algorithms ?? JWT_SIGNING_ALGORITHMS)],
        currentDate: new Date(this.#now()),
        requiredClaims: ['exp'],
        ...(issuer !== undefined ? { issuer: typeof issuer === 'string' ? issuer : [...issuer] } : {}),
        ...(audience !== undefined
          ? { audience: typeof audience === 'string' ? audience : [...audience] }
          : {}),
        ...(options.subject !== undefined ? { subject: options.subject } : {}),
        ...(this.#options.clockToleranceSeconds !== undefined
          ? { clockTolerance: this.#options.clockToleranceSeconds }
          : {}),
      });
    } catch (error) {
      if (error instanceof JwksUnavailableError) throw error;
      const code = (error as { code?: unknown }).code;
      throw new JwtVerificationError(
        typeof code === 'string' ? code : 'ERR_JWT_INVALID',
        `JWT refused: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const max = this.#options.maxTokenLifetimeSeconds;
    const { exp, iat } = result.payload;
    if (max !== undefined && (typeof iat !== 'number' || (exp ?? 0) - iat > max)) {
      throw new JwtVerificationError(
        'ERR_JWT_LIFETIME',
        `JWT refused: its lifetime is over ${max} s or it has no iat`,
      );
    }
    return result;
  }

  /** Fetches the JWKS now, whatever the cache holds. */
  async refresh(): Promise<void> {
    await this.#reload();
  }

  async #resolve(...args: Parameters<ReturnType<typeof createLocalJWKSet>>) {
    const now = this.#now();
    let cached = this.#cached;
    if (
      !cached ||
      now - cached.fetchedAt >= (this.#options.cacheMaxAgeMs ?? JWT_VERIFIER_DEFAULTS.cacheMaxAgeMs)
    ) {
      cached = await this.#reload();
    }
    try {
      return await cached.resolve(...args);
    } catch (error) {
      const cooldown = this.#options.cooldownMs ?? JWT_VERIFIER_DEFAULTS.cooldownMs;
      if (
        (error as { code?: unknown }).code !== 'ERR_JWKS_NO_MATCHING_KEY' ||
        now - cached.fetchedAt < cooldown
      ) {
        throw error;
      }
      return (await this.#reload()).resolve(...args);
    }
  }

  #reload(): Promise<CachedJwks> {
    this.#inFlight ??= this.#load().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #load(): Promise<CachedJwks> {
    this.fetches++;
    let document: unknown;
    try {
      document = await this.#fetch();
    } catch (error) {
      if (error instanceof JwksUnavailableError) throw error;
      throw new JwksUnavailableError(`The JWKS could not be fetched: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const keys = (document as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new JwksUnavailableError('The JWKS is not a JWK Set (no "keys" array)');
    const maxKeys = this.#options.maxKeys ?? JWT_VERIFIER_DEFAULTS.maxKeys;
    if (keys.length > maxKeys) {
      throw new JwksUnavailableError(
        `The JWKS holds ${keys.length} keys, more than maxKeys (${maxKeys}); refusing it`,
      );
    }
    for (const key of keys) {
      if (typeof key !== 'object' || key === null)
        throw new JwksUnavailableError('The JWKS has a key that is not an object');
      const leaked = PRIVATE_MEMBERS.filter((m) => m in key);
      if (leaked.length > 0) {
        // A public document with private members is a publishing accident: refuse it rather than trust it.
        throw new JwksUnavailableError(
          `The JWKS holds private key members (${leaked.join(', ')}); refusing it`,
        );
      }
    }
    this.#cached = {
      resolve: createLocalJWKSet(document as JSONWebKeySet),
      fetchedAt: this.#now(),
      kids: keys.map((k) => String((k as { kid?: unknown }).kid ?? '')),
    };
    return this.#cached;
  }

  async #fetchUrl(url: URL): Promise<unknown> {
    const response = await fetch(url, {
      headers: { accept: 'application/json, application/jwk-set+json' },
      redirect: 'error',
      signal: AbortSignal.timeout(this.#options.timeoutMs ?? JWT_VERIFIER_DEFAULTS.timeoutMs),
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new JwksUnavailableError(`The JWKS at ${url.href} answered HTTP ${response.status}`);
    }
    const limit = this.#options.maxResponseBytes ?? JWT_VERIFIER_DEFAULTS.maxResponseBytes;
    const text = await readLimited(response, limit, url);
    try {
      return JSON.parse(text);
    } catch {
      // JSON.parse's message quotes the document; a public key set, but an unknown server's answer
      throw new JwksUnavailableError(`The JWKS at ${url.href} is not JSON`);
    }
  }
}

/** Reads a response's body as text, refusing it once it passes `limit` bytes (declared or read). */
async function readLimited(response: Response, limit: number, url: URL): Promise<string> {
  const tooLarge = () =>
    new JwksUnavailableError(
      `The JWKS at ${url.href} is larger than maxResponseBytes (${limit}); refusing it`,
    );
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A JWKS URL must be https: keys fetched over plain HTTP could be swapped in transit, and then any token
 * signed by the swapper's key verifies. Loopback (`localhost`, 127.0.0.0/8, `::1`) is allowed over http for
 * local development and sidecars.
 */
export function checkJwksUrl(jwksUrl: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(jwksUrl));
  } catch {
    throw new RangeError(`JwtVerifier: jwksUrl is not a URL: '${String(jwksUrl)}'`);
  }
  if (url.protocol === 'https:') return url;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
  if (url.protocol === 'http:' && loopback) return url;
  throw new RangeError(
    `JwtVerifier: jwksUrl must use https (http is allowed only for loopback), got '${url.protocol}//${url.host}'`,
  );
}
