import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { importJWK, SignJWT } from 'jose';
import { JwtSigner } from '../../../client/jwt-signer';
import { JwtVerificationError, JwtVerifier } from '../../../client/jwt-verifier';
import { SecretCache } from '../../../client/secret-cache';
import { createJwtHandler, generateSigningKey, type NewKey } from '../../../functions/jwt';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';
import { JwksCdn } from './jwks-cdn';

/**
 * The promise of the JWT rotation, measured: across many rotations, a token signed at any moment verifies for
 * its whole lifetime at every verifier, while each verifier caches the JWKS for its full cache lifetime (and
 * never fetches early on an unknown kid), behind a CDN that caches for its own lifetime. Time is simulated
 * (the handler, signers, verifiers and the CDN share one clock); Secrets Manager and S3 are moto's, and every
 * JWKS fetch is a real HTTP request on loopback.
 */

const KEY = '.well-known/jwks.json';
const ISSUER = 'https://auth.local';
const SECOND = 1000;

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

interface SimulationOptions {
  readonly rotations: number;
  /** JWKS_CACHE_SECONDS given to the rotation function. */
  readonly functionCacheSeconds: number;
  /** JWKS_CDN_CACHE_SECONDS given to the rotation function (and honoured by the CDN through s-maxage). */
  readonly cdnSeconds: number;
  /** What the verifiers actually cache: the function's value unless a test breaks the contract. */
  readonly verifierCacheSeconds: number;
  /** JWT_MAX_TOKEN_LIFETIME_SECONDS. */
  readonly tokenLifetimeSeconds: number;
  /** Overrides the lagging signer's refresh interval (a test breaking the signer's contract). */
  readonly laggingSignerMaxKeyAgeMs?: number;
  readonly seed: number;
}

interface SimulationResult {
  readonly rotations: number;
  readonly refusedEarly: number;
  readonly tokens: number;
  readonly keysThatSigned: number;
  readonly verifications: number;
  readonly failures: readonly string[];
  readonly expiredRejected: number;
  readonly foreignRejected: number;
  readonly jwksFetches: number;
  readonly originFetches: number;
  readonly simulatedHours: number;
}

/** A small deterministic PRNG, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const rand = random(options.seed);
  const name = `jwt/overlap-${randomUUID().slice(0, 8)}`;
  const bucket = `jwks-${randomUUID().slice(0, 8)}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await secrets.send(new CreateSecretCommand({ Name: name, SecretString: '{}' }));
  const stalenessMs = (options.functionCacheSeconds + options.cdnSeconds) * SECOND;
  const lifetime = options.tokenLifetimeSeconds;

  let clock = Date.parse('2030-01-01T00:00:00.000Z');
  const start = clock;
  const now = () => clock;
  const driver = new RotationDriver(aws.clientConfig);
  const handler = createJwtHandler({
    secretsManager: driver.client,
    s3,
    env: {
      JWKS_BUCKET: bucket,
      JWT_ALGORITHM: 'ES256',
      JWKS_CACHE_SECONDS: String(options.functionCacheSeconds),
      JWKS_CDN_CACHE_SECONDS: String(options.cdnSeconds),
      JWT_MAX_TOKEN_LIFETIME_SECONDS: String(lifetime),
    },
    now,
  });
  const cdn = new JwksCdn({ s3, bucket, key: KEY, now });
  const url = await cdn.start();

  // One signer hears every rotation event; the other hears none and relies on its own refresh.
  const evented = new SecretCache({ client: secrets, now });
  const silent = new SecretCache({ client: secrets, now, refreshIntervalMs: 3_600_000 });
  const signers = [
    { name: 'evented', signer: new JwtSigner({ source: evented, secretId: name, issuer: ISSUER, now }) },
    {
      name: 'lagging',
      signer: new JwtSigner({
        source: silent,
        secretId: name,
        issuer: ISSUER,
        now,
        ...(options.laggingSignerMaxKeyAgeMs ? { maxKeyAgeMs: options.laggingSignerMaxKeyAgeMs } : {}),
      }),
    },
  ];
  // Verifiers that hold every document for their full cache lifetime and never fetch early.
  const verifiers = Array.from(
    { length: 3 },
    () =>
      new JwtVerifier({
        jwksUrl: url,
        issuer: ISSUER,
        cacheMaxAgeMs: options.verifierCacheSeconds * SECOND,
        cooldownMs: Number.POSITIVE_INFINITY,
        now,
      }),
  );
  const foreign: NewKey = await generateSigningKey('ES256', { rsaModulusLength: 2048 });

  // A discrete-event loop on the simulated clock.
  const queue: Array<{ at: number; seq: number; run: () => Promise<void> }> = [];
  let seq = 0;
  const at = (time: number, run: () => Promise<void>) => {
    queue.push({ at: time, seq: seq++, run });
    queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
  };

  const failures: string[] = [];
  let rotations = 0;
  let refusedEarly = 0;
  let tokens = 0;
  let verifications = 0;
  let expiredRejected = 0;
  let foreignRejected = 0;
  const signingKids = new Set<string>();
  let signingUntil = Number.POSITIVE_INFINITY;

  const verifyValid = async (token: string, exp: number, who: string, kid: string) => {
    for (const [index, verifier] of verifiers.entries()) {
      verifications++;
      try {
        await verifier.verify(token);
      } catch (error) {
        const code = error instanceof JwtVerificationError ? error.code : (error as Error).name;
        failures.push(
          `t+${(clock - start) / SECOND}s verifier ${index} refused a ${who} token of key ${kid} ` +
            `(${Math.round((exp - clock) / SECOND)} s before exp): ${code}`,
        );
      }
    }
  };

  const sign = async (index: number) => {
    if (clock > signingUntil) return;
    const { name: who, signer } = signers[index]!;
    const seconds = rand() < 0.5 ? lifetime : 60 + Math.floor(rand() * (lifetime - 60));
    const token = await signer.sign({}, { expiresInSeconds: seconds, subject: `user-${tokens}` });
    const kid = await signer.currentKeyId();
    signingKids.add(kid);
    tokens++;
    const iat = Math.floor(clock / SECOND) * SECOND;
    const exp = iat + seconds * SECOND;
    await verifyValid(token, exp, who, kid);
    at(iat + Math.floor(rand() * (exp - iat - SECOND)), () => verifyValid(token, exp, who, kid));
    at(exp - SECOND, () => verifyValid(token, exp, who, kid));
    at(exp + SECOND, async () => {
      const verifier = verifiers[Math.floor(rand() * verifiers.length)]!;
      const outcome = await verifier.verify(token).catch((e: JwtVerificationError) => e.code);
      if (outcome === 'ERR_JWT_EXPIRED') expiredRejected++;
      else failures.push(`an expired ${who} token was not refused as expired: ${JSON.stringify(outcome)}`);
    });
    at(clock + 10 * SECOND, () => sign(index));
  };

  const foreignTokens = async () => {
    const iat = Math.floor(clock / SECOND);
    const key = await importJWK(foreign.jwk, foreign.alg);
    const current = await signers[0]!.signer.currentKeyId();
    // one with its own kid (unknown), one claiming the current kid (forged)
    for (const kid of [foreign.kid, current]) {
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid })
        .setIssuer(ISSUER)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 60)
        .sign(key);
      for (const verifier of verifiers) {
        const outcome = await verifier.verify(token).catch((e: JwtVerificationError) => e.code);
        if (outcome === 'ERR_JWKS_NO_MATCHING_KEY' || outcome === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') {
          foreignRejected++;
        } else {
          failures.push(`a foreign token with kid ${kid} was not refused: ${JSON.stringify(outcome)}`);
        }
      }
    }
  };

  const rotate = async () => {
    const record = await driver.rotate(name, handler, { maxAttempts: 1 });
    if (!record.succeeded) {
      failures.push(`rotation ${rotations + 1} failed: ${record.steps.map((s) => s.errorName).join()}`);
      return;
    }
    rotations++;
    evented.notify({ secretId: name, versionId: record.token });
    if (rotations === 1) {
      await Promise.all(signers.map((_, index) => sign(index)));
    } else {
      await foreignTokens();
    }
    if (rotations >= options.rotations) {
      signingUntil = clock + stalenessMs; // long enough for the last current key to sign too
      return;
    }
    if (rotations % 10 === 0) {
      // Two rotations in quick succession: the second must be refused and change nothing.
      at(clock + 5 * SECOND, async () => {
        const early = await driver.rotate(name, handler, { maxAttempts: 1 });
        if (!early.succeeded && early.steps[0]?.errorName === 'NextKeyNotReadyError') refusedEarly++;
        else
          failures.push(
            `a rotation five seconds after another was not refused: ${JSON.stringify(early.steps)}`,
          );
      });
    }
    // Half the rotations come at the earliest moment the rule allows; the others up to a minute later.
    const next = clock + stalenessMs + (rand() < 0.5 ? 0 : Math.floor(rand() * 60) * SECOND);
    // The worst moments for verifiers: the CDN and one verifier fetch just before the rotation publishes the
    // new next key; another verifier fetches the CDN's stale copy just before that copy expires.
    at(next - SECOND, async () => {
      await cdn.refresh();
      await verifiers[0]!.refresh();
    });
    at(next - SECOND + options.cdnSeconds * SECOND - SECOND, () => verifiers[1]!.refresh());
    at(next, rotate);
  };

  at(clock, rotate);
  try {
    while (queue.length > 0) {
      const event = queue.shift()!;
      clock = event.at;
      await event.run();
    }
  } finally {
    await cdn.stop();
  }
  return {
    rotations,
    refusedEarly,
    tokens,
    keysThatSigned: signingKids.size,
    verifications,
    failures,
    expiredRejected,
    foreignRejected,
    jwksFetches: verifiers.reduce((sum, v) => sum + v.fetches, 0),
    originFetches: cdn.originFetches,
    simulatedHours: Math.round(((clock - start) / 3_600_000) * 10) / 10,
  };
}

describe('tokens across JWT signing key rotations', () => {
  it('verify for their whole lifetime at verifiers caching the JWKS for its full lifetime, across 100 rotations, with zero failures', async () => {
    // GIVEN a 60-second verifier cache behind a 20-second CDN, tokens of up to 4 minutes
    const options = {
      rotations: 100,
      functionCacheSeconds: 60,
      cdnSeconds: 20,
      verifierCacheSeconds: 60,
      tokenLifetimeSeconds: 240,
      seed: 20300101,
    };
    // WHEN
    const result = await simulate(options);
    // THEN
    console.log(`JWT overlap simulation: ${JSON.stringify({ ...result, failures: result.failures.length })}`);
    expect(result.failures).toEqual([]);
    expect(result.rotations).toBe(100);
    expect(result.refusedEarly).toBe(9);
    expect(result.keysThatSigned).toBe(100);
    expect(result.tokens).toBeGreaterThan(1500);
    expect(result.verifications).toBeGreaterThan(3 * 3 * 1500);
    expect(result.expiredRejected).toBe(result.tokens);
    expect(result.foreignRejected).toBe(99 * 2 * 3);
    expect(result.jwksFetches).toBeGreaterThan(300); // real HTTP fetches, each one cache lifetime apart
  }, 240_000);

  it('does fail, as a control, when verifiers cache longer than the rotation waits for', async () => {
    const result = await simulate({
      rotations: 12,
      functionCacheSeconds: 60,
      cdnSeconds: 20,
      verifierCacheSeconds: 150,
      tokenLifetimeSeconds: 240,
      seed: 7,
    });
    expect(result.failures.length).toBeGreaterThan(0);
    expect(result.failures.join('\n')).toContain('ERR_JWKS_NO_MATCHING_KEY');
  }, 120_000);

  it('does fail, as a control, when a signer keeps a retired key longer than the staleness budget', async () => {
    const result = await simulate({
      rotations: 12,
      functionCacheSeconds: 60,
      cdnSeconds: 20,
      verifierCacheSeconds: 60,
      tokenLifetimeSeconds: 240,
      laggingSignerMaxKeyAgeMs: 400_000,
      seed: 11,
    });
    expect(result.failures.some((f) => f.includes('lagging') && f.includes('ERR_JWKS_NO_MATCHING_KEY'))).toBe(
      true,
    );
  }, 120_000);
});
