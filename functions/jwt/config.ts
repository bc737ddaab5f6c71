import {
  ConfigurationError,
  type Environment,
  integer,
  loadRotationConfig,
  oneOf,
  optionalString,
  type RotationConfig,
  requiredString,
} from '../rotation';

/** `kind` of the JWT rotation: a metric dimension, an event field, and the `ROTATION_KIND` the CDK construct sets. */
export const JWT_ROTATION_KIND = 'jwt';

/** The ways a JWT signing key secret can be rotated (one so far: the next/current/previous key set). */
export const JwtStrategyName = {
  /** A JSON Web Key Set with a next, a current and retired keys, published to S3. */
  JWKS: 'jwks',
} as const;
export type JwtStrategyName = (typeof JwtStrategyName)[keyof typeof JwtStrategyName];

/** Signing algorithms the function generates keys for. */
export const JwtAlgorithm = {
  RS256: 'RS256',
  ES256: 'ES256',
  /** Ed25519. */
  EDDSA: 'EdDSA',
} as const;
export type JwtAlgorithm = (typeof JwtAlgorithm)[keyof typeof JwtAlgorithm];

/** RSA modulus lengths accepted for RS256 keys. */
export const RSA_MODULUS_LENGTHS = [2048, 3072, 4096] as const;
export type RsaModulusLength = (typeof RSA_MODULUS_LENGTHS)[number];

/** Defaults of the JWT function's settings. */
export const JWT_DEFAULTS = {
  algorithm: JwtAlgorithm.RS256,
  rsaModulusLength: 2048,
  jwksKey: '.well-known/jwks.json',
  maxTokenLifetimeSeconds: 3600,
  /** jose's `createRemoteJWKSet` caches for 10 minutes by default: off-the-shelf verifiers are covered. */
  jwksCacheSeconds: 600,
  jwksCdnCacheSeconds: 0,
} as const;

/** Configuration of the JWT signing key rotation function. */
export interface JwtConfig extends RotationConfig {
  readonly strategy: JwtStrategyName;
  /** Algorithm of newly generated keys. Existing keys keep theirs. */
  readonly algorithm: JwtAlgorithm;
  /** Modulus length of newly generated RS256 keys. */
  readonly rsaModulusLength: RsaModulusLength;
  /** The longest lifetime (`exp - iat`) of a token signed with these keys. */
  readonly maxTokenLifetimeSeconds: number;
  /** How long a verifier may cache the JWKS: the `max-age` of the published document. */
  readonly jwksCacheSeconds: number;
  /** How long a shared cache in front of the bucket (CloudFront) may keep the document: its `s-maxage`. */
  readonly jwksCdnCacheSeconds: number;
  /** The bucket the JWKS is published to. */
  readonly jwksBucket: string;
  /** The object key of the JWKS. */
  readonly jwksKey: string;
  /** An SSM parameter that also receives the JWKS. */
  readonly ssmParameterName?: string;
}

/**
 * The longest time any verifier can go on seeing an older JWKS: its own cache plus a shared cache in front.
 * The next key must be published at least this long before it signs, and signers must pick up a new current
 * key within it.
 */
export function jwksMaxStalenessSeconds(config: Pick<JwtConfig, 'jwksCacheSeconds' | 'jwksCdnCacheSeconds'>) {
  return config.jwksCacheSeconds + config.jwksCdnCacheSeconds;
}

/**
 * Reads the JWT function's configuration, validated at cold start:
 * - `JWKS_BUCKET` (required): the bucket the JWKS is published to;
 * - `JWKS_KEY`: its object key (default `.well-known/jwks.json`);
 * - `JWT_ALGORITHM`: `RS256` (default), `ES256` or `EdDSA`;
 * - `JWT_RSA_MODULUS_LENGTH`: 2048 (default), 3072 or 4096, for RS256 only;
 * - `JWT_MAX_TOKEN_LIFETIME_SECONDS`: 60 to 604800 (default 3600);
 * - `JWKS_CACHE_SECONDS`: what verifiers may cache, 60 to 86400 (default 600);
 * - `JWKS_CDN_CACHE_SECONDS`: what a CDN in front may cache, 0 to 3600 (default 0);
 * - `JWKS_SSM_PARAMETER`: an SSM parameter name that also receives the JWKS (optional);
 * - `ROTATION_STRATEGY`: `jwks` (default), `ROTATION_KIND`: `jwt` when set;
 * - the shared variables of every rotation function (`EVENT_BUS_NAME`, ...).
 *
 * @throws ConfigurationError naming the variable and the bad value.
 */
export function loadJwtConfig(env: Environment = process.env): JwtConfig {
  const kind = optionalString(env, 'ROTATION_KIND');
  if (kind !== undefined && kind !== JWT_ROTATION_KIND) {
    throw new ConfigurationError(
      `Environment variable ROTATION_KIND must be '${JWT_ROTATION_KIND}' for the JWT rotation function, got '${kind}'`,
    );
  }
  const algorithm = oneOf(env, 'JWT_ALGORITHM', Object.values(JwtAlgorithm), JWT_DEFAULTS.algorithm);
  return {
    ...loadRotationConfig(env),
    strategy: oneOf(env, 'ROTATION_STRATEGY', Object.values(JwtStrategyName), JwtStrategyName.JWKS),
    algorithm,
    rsaModulusLength: rsaModulusLength(env, algorithm),
    maxTokenLifetimeSeconds: integer(env, 'JWT_MAX_TOKEN_LIFETIME_SECONDS', {
      min: 60,
      max: 604_800,
      default: JWT_DEFAULTS.maxTokenLifetimeSeconds,
    }),
    jwksCacheSeconds: integer(env, 'JWKS_CACHE_SECONDS', {
      min: 60,
      max: 86_400,
      default: JWT_DEFAULTS.jwksCacheSeconds,
    }),
    jwksCdnCacheSeconds: integer(env, 'JWKS_CDN_CACHE_SECONDS', {
      min: 0,
      max: 3600,
      default: JWT_DEFAULTS.jwksCdnCacheSeconds,
    }),
    jwksBucket: bucketName(env),
    jwksKey: objectKey(env),
    ...optionalParameter(env),
  };
}

function rsaModulusLength(env: Environment, algorithm: JwtAlgorithm): RsaModulusLength {
  const raw = optionalString(env, 'JWT_RSA_MODULUS_LENGTH');
  if (raw === undefined) return JWT_DEFAULTS.rsaModulusLength;
  if (algorithm !== JwtAlgorithm.RS256) {
    throw new ConfigurationError(
      `Environment variable JWT_RSA_MODULUS_LENGTH applies to RS256 keys only, but JWT_ALGORITHM is '${algorithm}'`,
    );
  }
  const value = Number(raw);
  if (!(RSA_MODULUS_LENGTHS as readonly number[]).includes(value) || !/^\d+$/.test(raw)) {
    throw new ConfigurationError(
      `Environment variable JWT_RSA_MODULUS_LENGTH must be one of ${RSA_MODULUS_LENGTHS.join(', ')}, got '${raw}'`,
    );
  }
  return value as RsaModulusLength;
}

// S3's naming rules for general purpose buckets.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function bucketName(env: Environment): string {
  const name = requiredString(env, 'JWKS_BUCKET');
  if (!BUCKET_NAME.test(name) || name.includes('..')) {
    throw new ConfigurationError(
      `Environment variable JWKS_BUCKET must be an S3 bucket name (3 to 63 lowercase letters, digits, dots, hyphens), got '${name}'`,
    );
  }
  return name;
}

function objectKey(env: Environment): string {
  const key = optionalString(env, 'JWKS_KEY') ?? JWT_DEFAULTS.jwksKey;
  if (key.startsWith('/') || Buffer.byteLength(key) > 1024) {
    throw new ConfigurationError(
      `Environment variable JWKS_KEY must be an S3 object key without a leading '/' and at most 1024 bytes, got '${key}'`,
    );
  }
  return key;
}

function optionalParameter(env: Environment): { ssmParameterName?: string } {
  const name = optionalString(env, 'JWKS_SSM_PARAMETER');
  if (name === undefined) return {};
  if (!/^\/?[A-Za-z0-9_.\-/]{1,1011}$/.test(name) || name.startsWith('arn:')) {
    throw new ConfigurationError(
      `Environment variable JWKS_SSM_PARAMETER must be an SSM parameter name (letters, digits, _ . - /), got '${name}'`,
    );
  }
  return { ssmParameterName: name };
}
