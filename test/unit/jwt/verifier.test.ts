import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, SignJWT } from 'jose';
import { JwksUnavailableError, JwtVerificationError, JwtVerifier } from '../../../client/jwt-verifier';
import { buildJwks, generateSigningKey, type JwksDocument, type NewKey } from '../../../functions/jwt';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const ISSUER = 'https://auth.example.com';
const newKey = (alg: 'ES256' | 'EdDSA' = 'ES256') => generateSigningKey(alg, { rsaModulusLength: 2048 });
const published = (...keys: NewKey[]): JwksDocument =>
  buildJwks([
    {
      format: 'jwt-signing-key-set',
      version: 1,
      keys: keys.map((k) => ({ ...k, state: 'next' as const, createdAt: '2030-01-01T00:00:00.000Z' })),
    },
  ]);

async function sign(
  key: NewKey,
  now: number,
  options: { lifetime?: number; iss?: string; aud?: string; kid?: string; noExp?: boolean } = {},
): Promise<string> {
  const iat = Math.floor(now / 1000);
  const jwt = new SignJWT({ sub: 'user-1' })
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid })
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? 'orders')
    .setIssuedAt(iat);
  if (!options.noExp) jwt.setExpirationTime(iat + (options.lifetime ?? 300));
  return jwt.sign(await importJWK(key.jwk, key.alg));
}

function setUp(
  document: () => JwksDocument,
  options: { cooldownMs?: number; maxTokenLifetimeSeconds?: number } = {},
) {
  let clock = T0;
  let fetches = 0;
  const verifier = new JwtVerifier({
    fetchJwks: async () => {
      fetches++;
      return document();
    },
    issuer: ISSUER,
    audience: 'orders',
    cacheMaxAgeMs: 300_000,
    now: () => clock,
    ...options,
  });
  return {
    verifier,
    advance: (ms: number) => (clock += ms),
    now: () => clock,
    get fetches() {
      return fetches;
    },
  };
}

describe('JwtVerifier', () => {
  let a: NewKey;
  let b: NewKey;
  beforeAll(async () => {
    [a, b] = [await newKey(), await newKey('EdDSA')];
  });

  it('verifies a token of a published key and uses the fetched document for the whole cache lifetime', async () => {
    // GIVEN
    const t = setUp(() => published(a));
    // WHEN tokens are verified across one cache lifetime
    const { payload } = await t.verifier.verify(await sign(a, t.now()));
    t.advance(299_999);
    await t.verifier.verify(await sign(a, t.now()));
    // THEN one fetch served them all, and the next one comes when the lifetime is over
    expect(payload.sub).toBe('user-1');
    expect(t.fetches).toBe(1);
    t.advance(1);
    await t.verifier.verify(await sign(a, t.now()));
    expect(t.fetches).toBe(2);
  });

  it('fetches again for an unknown kid, at most once per cooldown', async () => {
    // GIVEN a cached document with key a only
    let document = published(a);
    const t = setUp(() => document, { cooldownMs: 30_000 });
    await t.verifier.verify(await sign(a, t.now()));
    document = published(a, b);
    // WHEN a token of b arrives within the cooldown, THEN it is refused without a fetch
    t.advance(10_000);
    await expect(t.verifier.verify(await sign(b, t.now()))).rejects.toMatchObject({
      code: 'ERR_JWKS_NO_MATCHING_KEY',
    });
    expect(t.fetches).toBe(1);
    // WHEN the cooldown has passed, THEN one fetch finds b
    t.advance(20_000);
    await t.verifier.verify(await sign(b, t.now()));
    expect(t.fetches).toBe(2);
    expect(t.verifier.cachedKeyIds).toEqual(published(a, b).keys.map((k) => k.kid));
  });

  it('never fetches early with an infinite cooldown: a new key is unknown until the cache expires', async () => {
    let document = published(a);
    const t = setUp(() => document, { cooldownMs: Number.POSITIVE_INFINITY });
    await t.verifier.verify(await sign(a, t.now()));
    document = published(a, b);
    t.advance(299_000);
    await expect(t.verifier.verify(await sign(b, t.now()))).rejects.toThrow(JwtVerificationError);
    t.advance(1000);
    await t.verifier.verify(await sign(b, t.now()));
    expect(t.fetches).toBe(2);
  });

  it('shares one fetch among concurrent verifications', async () => {
    const t = setUp(() => published(a));
    const token = await sign(a, t.now());
    await Promise.all(Array.from({ length: 20 }, () => t.verifier.verify(token)));
    expect(t.fetches).toBe(1);
  });

  it.each<[string, (now: number) => Promise<string>, string]>([
    ['an expired token', async (now) => sign(a, now - 301_000), 'ERR_JWT_EXPIRED'],
    ['a token of a foreign key', async (now) => sign(b, now), 'ERR_JWKS_NO_MATCHING_KEY'],
    [
      'a token signed by another key under a published kid',
      async (now) => sign(await newKey(), now, { kid: a.kid }),
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    ],
    [
      'a token from another issuer',
      async (now) => sign(a, now, { iss: 'https://evil.example.com' }),
      'ERR_JWT_CLAIM_VALIDATION_FAILED',
    ],
    [
      'a token for another audience',
      async (now) => sign(a, now, { aud: 'billing' }),
      'ERR_JWT_CLAIM_VALIDATION_FAILED',
    ],
    ['a token without exp', async (now) => sign(a, now, { noExp: true }), 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    [
      'a token living longer than allowed',
      async (now) => sign(a, now, { lifetime: 3601 }),
      'ERR_JWT_LIFETIME',
    ],
  ])('refuses %s with a JwtVerificationError carrying jose’s code', async (_case, make, code) => {
    const t = setUp(() => published(a), { maxTokenLifetimeSeconds: 3600, cooldownMs: 0 });
    const token = await make(t.now());
    const attempt = t.verifier.verify(token);
    await expect(attempt).rejects.toThrow(JwtVerificationError);
    await expect(attempt).rejects.toMatchObject({ code });
  });

  it('refuses an algorithm it was not told to accept', async () => {
    const t = setUp(() => published(a, b));
    const verifier = new JwtVerifier({
      fetchJwks: async () => published(a, b),
      algorithms: ['ES256'],
      now: t.now,
    });
    await expect(verifier.verify(await sign(b, t.now()))).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  it('refuses a document with private members as unavailable, not as a bad token, and caches nothing', async () => {
    const leaky = { keys: [{ ...published(a).keys[0], d: 'A'.repeat(43) }] };
    const t = setUp(() => leaky as never);
    const attempt = t.verifier.verify(await sign(a, t.now()));
    await expect(attempt).rejects.toThrow(JwksUnavailableError);
    await expect(attempt).rejects.toThrow('holds private key members (d)');
    expect(t.verifier.cachedKeyIds).toEqual([]);
  });

  it('requires exactly one of jwksUrl and fetchJwks', () => {
    expect(() => new JwtVerifier({})).toThrow('give exactly one of jwksUrl and fetchJwks');
    expect(() => new JwtVerifier({ jwksUrl: 'https://x', fetchJwks: async () => ({}) })).toThrow(RangeError);
    expect(() => new JwtVerifier({ jwksUrl: 'https://x', cacheMaxAgeMs: -1 })).toThrow(
      'cacheMaxAgeMs must be zero or more',
    );
  });

  describe('over HTTP', () => {
    let server: Server;
    let status = 200;
    let url: string;
    beforeAll(async () => {
      server = createServer((_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(published(a)));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('fetches the document from the URL, and reports an HTTP error as unavailable', async () => {
      status = 200;
      const verifier = new JwtVerifier({ jwksUrl: url, issuer: ISSUER });
      await verifier.verify(await sign(a, Date.now()));
      expect(verifier.fetches).toBe(1);
      status = 404;
      const failing = new JwtVerifier({ jwksUrl: url });
      await expect(failing.verify(await sign(a, Date.now()))).rejects.toThrow(
        new JwksUnavailableError(`The JWKS at ${url} answered HTTP 404`),
      );
    });
  });
});
