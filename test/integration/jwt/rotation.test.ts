import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { JwtSigner } from '../../../client/jwt-signer';
import { JwtVerifier } from '../../../client/jwt-verifier';
import { SecretCache } from '../../../client/secret-cache';
import { createJwtHandler, type KeySet, nextKey, signingKey } from '../../../functions/jwt';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';
import { JwksCdn } from './jwks-cdn';

const KEY = '.well-known/jwks.json';
let aws: LocalAws;
let secrets: SecretsManagerClient;
let s3: S3Client;

beforeAll(async () => {
  aws = await startMoto();
  secrets = new SecretsManagerClient(aws.clientConfig);
  s3 = new S3Client({ ...aws.clientConfig, forcePathStyle: true });
}, 60_000);

afterAll(async () => {
  await aws?.stop();
});

/** A bucket, a bootstrap secret, the real handler on a simulated clock, and the loopback CDN. */
async function environment(name: string, env: Record<string, string>) {
  const bucket = `jwks-${randomUUID().slice(0, 8)}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await secrets.send(new CreateSecretCommand({ Name: name, SecretString: '{}' }));
  let clock = Date.parse('2030-01-01T00:00:00.000Z');
  const now = () => clock;
  const driver = new RotationDriver(aws.clientConfig);
  const handler = createJwtHandler({
    secretsManager: driver.client,
    s3,
    env: { JWKS_BUCKET: bucket, ...env },
    now,
  });
  const cdn = new JwksCdn({ s3, bucket, key: KEY, now });
  const url = await cdn.start();
  const current = async () =>
    JSON.parse(
      (await secrets.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' })))
        .SecretString ?? '',
    ) as KeySet;
  return {
    bucket,
    driver,
    handler,
    cdn,
    url,
    now,
    advance: (ms: number) => {
      clock += ms;
    },
    rotate: () => driver.rotate(name, handler, { maxAttempts: 2 }),
    current,
  };
}

describe('JWT signing key rotation through moto', () => {
  it('rotates end to end with the real handler and the driver, serving a JWKS that verifies the signer’s tokens', async () => {
    // GIVEN a new secret with the bootstrap value, RS256, a one-minute cache behind a 20-second CDN
    const name = 'jwt/e2e';
    const e = await environment(name, {
      JWT_ALGORITHM: 'RS256',
      JWKS_CACHE_SECONDS: '60',
      JWKS_CDN_CACHE_SECONDS: '20',
      JWT_MAX_TOKEN_LIFETIME_SECONDS: '300',
    });
    try {
      // WHEN the first rotation runs
      const first = await e.rotate();
      // THEN it succeeded at once, and the secret and the object are what the README says
      expect(first).toMatchObject({ succeeded: true, attempts: 1 });
      const set = await e.current();
      expect(set).toMatchObject({
        format: 'jwt-signing-key-set',
        version: 1,
        policy: { maxTokenLifetimeSeconds: 300, jwksMaxStalenessSeconds: 80 },
      });
      expect(set.keys.map((k) => [k.state, k.alg])).toEqual([
        ['next', 'RS256'],
        ['current', 'RS256'],
      ]);
      const object = await s3.send(new GetObjectCommand({ Bucket: e.bucket, Key: KEY }));
      expect(object.ContentType).toBe('application/json');
      expect(object.CacheControl).toBe('public, max-age=60, s-maxage=20');
      expect(Object.keys(object.Metadata ?? {}).sort()).toEqual(['jwks-published', 'jwks-signing']);
      const document = JSON.parse((await object.Body?.transformToString()) ?? '{}');
      expect(document.keys.map((k: { kid: string }) => k.kid).sort()).toEqual(
        set.keys.map((k) => k.kid).sort(),
      );
      expect(JSON.stringify(document)).not.toMatch(/"(d|p|q|dp|dq|qi)":/);

      // and a signer on the secret and a verifier on the served JWKS agree
      const cache = new SecretCache({ client: secrets, now: e.now });
      const signer = new JwtSigner({
        source: cache,
        secretId: name,
        issuer: 'https://auth.local',
        now: e.now,
      });
      const verifier = new JwtVerifier({ jwksUrl: e.url, issuer: 'https://auth.local', now: e.now });
      const token = await signer.sign({}, { subject: 'user-1', expiresInSeconds: 300 });
      await expect(verifier.verify(token)).resolves.toMatchObject({
        protectedHeader: { kid: signingKey(set).kid, alg: 'RS256' },
      });

      // WHEN a second rotation comes ten seconds later
      e.advance(10_000);
      const early = await e.rotate();
      // THEN it is refused on every attempt with the typed error, and AWSCURRENT has not moved
      expect(early.succeeded).toBe(false);
      expect(early.steps.map((s) => `${s.step}:${s.errorName ?? 'ok'}`)).toEqual([
        'createSecret:NextKeyNotReadyError',
        'createSecret:NextKeyNotReadyError',
      ]);
      const stages = (await secrets.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages;
      expect(stages?.[first.token]).toContain('AWSCURRENT');

      // WHEN it comes once the next key has been published for the whole budget (80 s)
      e.advance(70_000);
      const second = await e.rotate();
      // THEN the next key signs, and the old token still verifies
      expect(second.succeeded).toBe(true);
      expect(signingKey(await e.current()).kid).toBe(nextKey(set).kid);
      cache.notify({ secretId: name, versionId: second.token });
      expect(await signer.currentKeyId()).toBe(nextKey(set).kid);
      await expect(verifier.verify(token)).resolves.toBeDefined();
      await expect(verifier.verify(await signer.sign())).resolves.toBeDefined();
    } finally {
      await e.cdn.stop();
    }
  });
});
