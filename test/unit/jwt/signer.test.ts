import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { JwtSigner, JwtSigningError } from '../../../client/jwt-signer';
import {
  bootstrapKeySet,
  buildJwks,
  generateSigningKey,
  type KeySet,
  nextKey,
  privateStrings,
  rotateKeySet,
  serializeKeySet,
  signingKey,
} from '../../../functions/jwt';
import { MemorySource } from './memory-source';

const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/jwt-AbCdEf';
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const POLICY = { maxTokenLifetimeSeconds: 900, jwksMaxStalenessSeconds: 300 };

async function keySets(): Promise<[KeySet, KeySet]> {
  const key = () => generateSigningKey('ES256', { rsaModulusLength: 2048 });
  const first = bootstrapKeySet({ now: T0, current: await key(), next: await key(), policy: POLICY });
  const second = rotateKeySet(
    first,
    { now: T0 + 300_000, newKey: await key(), nextPublishedAt: T0, policy: POLICY },
    { secretArn: SECRET, step: 'createSecret', token: 't' },
  );
  return [first, second];
}

function setUp(first: KeySet, options: { maxKeyAgeMs?: number } = {}) {
  let clock = T0;
  const source = new MemorySource(SECRET, serializeKeySet(first));
  const signer = new JwtSigner({
    source,
    secretId: SECRET,
    issuer: 'https://auth.example.com',
    audience: 'orders',
    now: () => clock,
    ...options,
  });
  return { source, signer, advance: (ms: number) => (clock += ms), now: () => clock };
}

describe('JwtSigner', () => {
  let first: KeySet;
  let second: KeySet;
  beforeAll(async () => {
    [first, second] = await keySets();
  });

  it('signs with the current key, names it in the kid header, and sets the registered claims', async () => {
    // GIVEN
    const { signer, now } = setUp(first);
    // WHEN
    const token = await signer.sign(
      { scope: 'read' },
      { subject: 'user-1', jwtId: 'j-1', expiresInSeconds: 120 },
    );
    // THEN
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: signingKey(first).kid, typ: 'JWT' });
    const { payload } = await jwtVerify(token, createLocalJWKSet(buildJwks([first]) as never), {
      currentDate: new Date(now()),
      issuer: 'https://auth.example.com',
      audience: 'orders',
    });
    expect(payload).toEqual({
      scope: 'read',
      sub: 'user-1',
      jti: 'j-1',
      iss: 'https://auth.example.com',
      aud: 'orders',
      iat: T0 / 1000,
      exp: T0 / 1000 + 120,
    });
  });

  it('switches to the new current key as soon as the source reports a change, reading each version once', async () => {
    // GIVEN a signer that has signed with the first set
    const { source, signer } = setUp(first);
    await signer.sign();
    await signer.sign();
    expect(source.reads).toBe(1);
    // WHEN a rotation happens and its event reaches the cache
    source.put(serializeKeySet(second));
    source.invalidate(SECRET);
    // THEN the next token is signed by the promoted key
    expect(decodeProtectedHeader(await signer.sign()).kid).toBe(nextKey(first).kid);
    await signer.sign();
    expect(source.reads).toBe(2);
  });

  it('reads again when a change arrives while a read is in flight, rather than sharing the older read', async () => {
    // GIVEN a read that started before a rotation and is slow to return
    const source = new MemorySource(SECRET, serializeKeySet(first));
    const signer = new JwtSigner({ source, secretId: SECRET, now: () => T0 });
    let open = () => {};
    source.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const before = signer.sign();
    // WHEN the rotation's event arrives, and another token is signed
    source.put(serializeKeySet(second));
    source.invalidate(SECRET);
    const after = signer.sign();
    open();
    // THEN the token asked for after the event is signed by the new current key
    expect(decodeProtectedHeader(await before).kid).toBe(signingKey(first).kid);
    expect(decodeProtectedHeader(await after).kid).toBe(signingKey(second).kid);
    expect(await signer.currentKeyId()).toBe(signingKey(second).kid);
  });

  it('reads the key set again after the staleness budget when no event comes, so it never lags longer', async () => {
    // GIVEN a rotation whose event is lost
    const { source, signer, advance } = setUp(first);
    await signer.sign();
    source.put(serializeKeySet(second));
    // WHEN less than the budget passes, THEN the old key still signs
    advance(299_000);
    expect(await signer.currentKeyId()).toBe(signingKey(first).kid);
    // WHEN the budget (jwksMaxStalenessSeconds from the secret) has passed, THEN the new key signs
    advance(1000);
    expect(await signer.currentKeyId()).toBe(signingKey(second).kid);
  });

  it('keeps signing with its key when an age-triggered read fails, but not after a change notification', async () => {
    const { source, signer, advance } = setUp(first);
    await signer.sign();
    source.failReads = new Error('Secrets Manager unavailable');
    advance(600_000);
    expect(decodeProtectedHeader(await signer.sign()).kid).toBe(signingKey(first).kid);
    source.invalidate(SECRET);
    await expect(signer.sign()).rejects.toThrow('Secrets Manager unavailable');
  });

  it('refuses a lifetime longer than the key set allows, naming the secret and no key', async () => {
    const { signer } = setUp(first);
    const attempt = signer.sign({}, { expiresInSeconds: 901 });
    await expect(attempt).rejects.toThrow(JwtSigningError);
    await expect(attempt).rejects.toThrow(
      `A token of 901 s is longer than secret ${SECRET} allows (maxTokenLifetimeSeconds 900)`,
    );
    await expect(signer.sign({}, { expiresInSeconds: 0 })).rejects.toThrow(RangeError);
  });

  it('gives tokens fifteen minutes by default, capped at the key set maximum', async () => {
    const short = { ...first, policy: { maxTokenLifetimeSeconds: 300, jwksMaxStalenessSeconds: 300 } };
    const { signer } = setUp(short);
    const { exp, iat } = decodeJwt(await signer.sign());
    expect((exp ?? 0) - (iat ?? 0)).toBe(300);
    const { signer: other } = setUp(first);
    const claims = decodeJwt(await other.sign());
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(900);
  });

  it.each([
    ['{}', "field 'keys' is empty: the first rotation has not run yet"],
    ['not json', 'the value is not JSON'],
  ])('refuses the secret value %s with a message naming the problem', async (value, message) => {
    const source = new MemorySource(SECRET, value);
    const signer = new JwtSigner({ source, secretId: SECRET });
    await expect(signer.sign()).rejects.toThrow(JwtSigningError);
    await expect(signer.sign()).rejects.toThrow(message);
  });

  it('never quotes the key in an error about a malformed current key', async () => {
    const broken = JSON.parse(serializeKeySet(first));
    broken.keys[1].alg = 'HS256';
    const source = new MemorySource(SECRET, JSON.stringify(broken));
    const error = await new JwtSigner({ source, secretId: SECRET }).sign().catch((e: Error) => e);
    expect(String(error)).toContain("the current key's field 'alg' must be one of RS256, ES256, EdDSA");
    for (const value of privateStrings(signingKey(first).jwk)) expect(String(error)).not.toContain(value);
  });

  it('stops listening when closed', async () => {
    const { source, signer } = setUp(first);
    await signer.sign();
    signer.close();
    source.put(serializeKeySet(second));
    source.invalidate(SECRET);
    expect(await signer.currentKeyId()).toBe(signingKey(first).kid);
  });
});
