import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createJwtHandler, jwksMaxStalenessSeconds, loadJwtConfig } from '../../../functions/jwt';
import { ConfigurationError } from '../../../functions/rotation';

const REQUIRED = { JWKS_BUCKET: 'jwks-bucket' };

describe('JWT function configuration', () => {
  it('has safe defaults: RS256 with 2048 bits, one-hour tokens, a ten-minute cache, no CDN', () => {
    expect(loadJwtConfig(REQUIRED)).toEqual({
      eventBusName: undefined,
      passwordLength: 32,
      excludeCharacters: '/@"\'\\',
      strategy: 'jwks',
      algorithm: 'RS256',
      rsaModulusLength: 2048,
      maxTokenLifetimeSeconds: 3600,
      jwksCacheSeconds: 600,
      jwksCdnCacheSeconds: 0,
      jwksBucket: 'jwks-bucket',
      jwksKey: '.well-known/jwks.json',
    });
  });

  it('reads every variable', () => {
    const config = loadJwtConfig({
      ROTATION_KIND: 'jwt',
      ROTATION_STRATEGY: 'jwks',
      JWKS_BUCKET: 'my.jwks-bucket',
      JWKS_KEY: 'tenants/a/jwks.json',
      JWT_ALGORITHM: 'RS256',
      JWT_RSA_MODULUS_LENGTH: '4096',
      JWT_MAX_TOKEN_LIFETIME_SECONDS: '900',
      JWKS_CACHE_SECONDS: '300',
      JWKS_CDN_CACHE_SECONDS: '60',
      JWKS_SSM_PARAMETER: '/auth/jwks',
      EVENT_BUS_NAME: 'rotation-bus',
    });
    expect(config).toMatchObject({
      jwksBucket: 'my.jwks-bucket',
      jwksKey: 'tenants/a/jwks.json',
      rsaModulusLength: 4096,
      maxTokenLifetimeSeconds: 900,
      jwksCacheSeconds: 300,
      jwksCdnCacheSeconds: 60,
      ssmParameterName: '/auth/jwks',
      eventBusName: 'rotation-bus',
    });
    expect(jwksMaxStalenessSeconds(config)).toBe(360);
  });

  it.each(['ES256', 'EdDSA'])('accepts %s', (algorithm) => {
    expect(loadJwtConfig({ ...REQUIRED, JWT_ALGORITHM: algorithm }).algorithm).toBe(algorithm);
  });

  it.each<[Record<string, string>, string]>([
    [{}, 'Environment variable JWKS_BUCKET is required but not set'],
    [
      { JWKS_BUCKET: 'Upper_Case' },
      "JWKS_BUCKET must be an S3 bucket name (3 to 63 lowercase letters, digits, dots, hyphens), got 'Upper_Case'",
    ],
    [{ ...REQUIRED, JWKS_KEY: '/jwks.json' }, "JWKS_KEY must be an S3 object key without a leading '/'"],
    [
      { ...REQUIRED, JWT_ALGORITHM: 'HS256' },
      "JWT_ALGORITHM must be one of RS256, ES256, EdDSA, got 'HS256'",
    ],
    [
      { ...REQUIRED, JWT_RSA_MODULUS_LENGTH: '1024' },
      "JWT_RSA_MODULUS_LENGTH must be one of 2048, 3072, 4096, got '1024'",
    ],
    [
      { ...REQUIRED, JWT_RSA_MODULUS_LENGTH: '2048.0' },
      "JWT_RSA_MODULUS_LENGTH must be one of 2048, 3072, 4096, got '2048.0'",
    ],
    [
      { ...REQUIRED, JWT_ALGORITHM: 'ES256', JWT_RSA_MODULUS_LENGTH: '3072' },
      "JWT_RSA_MODULUS_LENGTH applies to RS256 keys only, but JWT_ALGORITHM is 'ES256'",
    ],
    [
      { ...REQUIRED, JWT_MAX_TOKEN_LIFETIME_SECONDS: '30' },
      'JWT_MAX_TOKEN_LIFETIME_SECONDS must be between 60 and 604800, got 30',
    ],
    [{ ...REQUIRED, JWKS_CACHE_SECONDS: 'ten' }, "JWKS_CACHE_SECONDS must be an integer, got 'ten'"],
    [{ ...REQUIRED, JWKS_CACHE_SECONDS: '59' }, 'JWKS_CACHE_SECONDS must be between 60 and 86400, got 59'],
    [
      { ...REQUIRED, JWKS_CDN_CACHE_SECONDS: '7200' },
      'JWKS_CDN_CACHE_SECONDS must be between 0 and 3600, got 7200',
    ],
    [
      { ...REQUIRED, JWKS_SSM_PARAMETER: 'arn:aws:ssm:us-east-1:1:parameter/x' },
      'JWKS_SSM_PARAMETER must be an SSM parameter name',
    ],
    [
      { ...REQUIRED, ROTATION_STRATEGY: 'single-user' },
      "ROTATION_STRATEGY must be one of jwks, got 'single-user'",
    ],
    [
      { ...REQUIRED, ROTATION_KIND: 'database' },
      "ROTATION_KIND must be 'jwt' for the JWT rotation function, got 'database'",
    ],
  ])('rejects %j with a message naming the variable', (env, message) => {
    expect(() => loadJwtConfig(env)).toThrow(ConfigurationError);
    expect(() => loadJwtConfig(env)).toThrow(message);
  });

  it('stops the handler at cold start on an invalid variable, before any request', () => {
    const secretsManager = new SecretsManagerClient({ region: 'us-east-1' });
    const send = jest.spyOn(secretsManager, 'send');
    expect(() =>
      createJwtHandler({
        secretsManager,
        s3: new S3Client({ region: 'us-east-1' }),
        env: { JWKS_BUCKET: 'b' },
      }),
    ).toThrow('JWKS_BUCKET must be an S3 bucket name');
    expect(send).not.toHaveBeenCalled();
  });
});
