import { generateKeyPairSync } from 'node:crypto';
import {
  assertKidsAreThumbprints,
  bootstrapKeySet,
  buildJwks,
  checkJwks,
  generateSigningKey,
  type KeySet,
  type KeySetPolicy,
  KeyState,
  type NewKey,
  NextKeyNotReadyError,
  nextKey,
  PRIVATE_JWK_MEMBERS,
  parseKeySet,
  parseKeySetOrBootstrap,
  privateStrings,
  rotateKeySet,
  serializeKeySet,
  signingKey,
} from '../../../functions/jwt';
import { InvalidSecretValueError } from '../../../functions/rotation';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/jwt-AbCdEf';
const WHERE = { secretArn: ARN, stage: 'AWSCURRENT' };
const LOCATION = { secretArn: ARN, step: 'createSecret', token: 'token-1' };
const POLICY: KeySetPolicy = { maxTokenLifetimeSeconds: 900, jwksMaxStalenessSeconds: 300 };
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const SECOND = 1000;
const MINUTE = 60 * SECOND;

const newKey = (): Promise<NewKey> => generateSigningKey('ES256', { rsaModulusLength: 2048 });

async function firstSet(now = T0): Promise<KeySet> {
  return bootstrapKeySet({ now, current: await newKey(), next: await newKey(), policy: POLICY });
}

/** A rotation at `now` whose next key was published when the previous rotation ran, and signed since `signedSince`. */
async function rotateAt(set: KeySet, now: number, published: number, signedSince?: number): Promise<KeySet> {
  return rotateKeySet(
    set,
    {
      now,
      newKey: await newKey(),
      nextPublishedAt: published,
      ...(signedSince !== undefined ? { signingSince: { kid: signingKey(set).kid, at: signedSince } } : {}),
      policy: POLICY,
    },
    LOCATION,
  );
}

const states = (set: KeySet) => set.keys.map((k) => [k.kid, k.state]);

describe('bootstrap', () => {
  it.each(['{}', '{"keys":[]}', '{"format":"jwt-signing-key-set","version":1,"keys":[]}'])(
    'treats %s as a bootstrap value',
    (value) => {
      expect(parseKeySetOrBootstrap(value, WHERE)).toBeUndefined();
    },
  );

  it('builds the first key set from a bootstrap value: a current key that signs now and a next key', async () => {
    // GIVEN two fresh keys WHEN the first set is built
    const set = await firstSet();
    // THEN
    expect(set.keys.map((k) => k.state)).toEqual(['next', 'current']);
    expect(signingKey(set)).toMatchObject({
      createdAt: '2030-01-01T00:00:00.000Z',
      activatedAt: '2030-01-01T00:00:00.000Z',
    });
    expect(signingKey(set).publishedAt).toBeUndefined();
    expect(nextKey(set).activatedAt).toBeUndefined();
    expect(set.policy).toEqual(POLICY);
    expect(parseKeySet(serializeKeySet(set), WHERE)).toEqual(set);
  });
});

describe('a rotation', () => {
  it('moves previous ← current ← next and adds a new next, recording when each happened', async () => {
    // GIVEN a first set whose next key was published at T0
    const set = await firstSet();
    const [next, current] = [nextKey(set), signingKey(set)];
    // WHEN it rotates five minutes later
    const rotated = await rotateAt(set, T0 + 5 * MINUTE, T0);
    // THEN
    expect(rotated.keys.map((k) => k.state)).toEqual(['next', 'current', 'previous']);
    expect(signingKey(rotated)).toMatchObject({
      kid: next.kid,
      publishedAt: '2030-01-01T00:00:00.000Z',
      activatedAt: '2030-01-01T00:05:00.000Z',
    });
    expect(rotated.keys[2]).toMatchObject({
      kid: current.kid,
      state: 'previous',
      activatedAt: '2030-01-01T00:00:00.000Z',
      retiredAt: '2030-01-01T00:05:00.000Z',
    });
    expect(rotated.keys[2]?.signingEndedAt).toBeUndefined();
    expect(nextKey(rotated)).toMatchObject({ createdAt: '2030-01-01T00:05:00.000Z' });
    expect(new Set(rotated.keys.map((k) => k.kid)).size).toBe(3);
  });

  it('strips every private member from a key when it retires', async () => {
    const set = await firstSet();
    const rotated = await rotateAt(set, T0 + 5 * MINUTE, T0);
    const retired = rotated.keys.find((k) => k.state === KeyState.PREVIOUS);
    for (const member of PRIVATE_JWK_MEMBERS) expect(retired?.jwk).not.toHaveProperty(member);
    expect(retired?.jwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    for (const value of privateStrings(signingKey(set).jwk))
      expect(serializeKeySet(rotated)).not.toContain(value);
  });

  it('refuses to promote a next key published less than one staleness budget ago, naming the key and the wait', async () => {
    // GIVEN a next key published at T0
    const set = await firstSet();
    // WHEN a rotation comes 299 seconds later
    const attempt = rotateAt(set, T0 + 299 * SECOND, T0);
    // THEN
    await expect(attempt).rejects.toThrow(NextKeyNotReadyError);
    const error = (await attempt.catch((e) => e)) as NextKeyNotReadyError;
    expect(error).toMatchObject({
      name: 'NextKeyNotReadyError',
      kid: nextKey(set).kid,
      publishedSecondsAgo: 299,
      requiredSeconds: 300,
      retryAfterSeconds: 1,
      republished: false,
      secretArn: ARN,
      token: 'token-1',
      step: 'createSecret',
    });
    expect(error.message).toContain(ARN);
    expect(error.message).toContain('token-1');
    expect(error.message).toContain('AWSCURRENT is unchanged');
    for (const value of [...privateStrings(signingKey(set).jwk), ...privateStrings(nextKey(set).jwk)]) {
      expect(error.message).not.toContain(value);
    }
    // and exactly one staleness budget is enough
    await expect(rotateAt(set, T0 + 300 * SECOND, T0)).resolves.toBeDefined();
  });

  it('refuses to promote a next key that the published JWKS does not list', async () => {
    const set = await firstSet();
    const key = await newKey();
    let caught: unknown;
    try {
      rotateKeySet(
        set,
        { now: T0 + 60 * MINUTE, newKey: key, nextPublishedAt: undefined, policy: POLICY },
        LOCATION,
      );
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(NextKeyNotReadyError);
    expect(caught).toMatchObject({ republished: true, publishedSecondsAgo: 0, retryAfterSeconds: 300 });
    expect((caught as Error).message).toContain('was missing from the published JWKS');
  });

  it('never skips a stage when rotations come in quick succession: every key is next, then current, then previous', async () => {
    // GIVEN rotations attempted every minute, each next key published when its rotation ran
    let set = await firstSet();
    const bootstrapCurrent = signingKey(set).kid;
    let publishedAt = T0;
    const history = new Map<string, string[]>();
    const record = (s: KeySet) => {
      for (const key of s.keys) {
        const seen = history.get(key.kid) ?? [];
        if (seen.at(-1) !== key.state) seen.push(key.state);
        history.set(key.kid, seen);
      }
    };
    record(set);
    let refused = 0;
    // WHEN
    for (let now = T0 + MINUTE; now <= T0 + 60 * MINUTE; now += MINUTE) {
      try {
        set = await rotateAt(set, now, publishedAt);
        publishedAt = now; // setSecret of this rotation publishes the new next key
        record(set);
      } catch (error) {
        expect(error).toBeInstanceOf(NextKeyNotReadyError);
        refused++;
      }
    }
    // THEN only one rotation in five succeeded, and no key skipped a state
    expect(refused).toBe(48);
    const order = ['next', 'current', 'previous'];
    for (const [kid, states] of history) {
      const start = order.indexOf(states[0] ?? '');
      expect(states).toEqual(order.slice(start, start + states.length));
      if (start !== 0) expect(kid).toBe(bootstrapCurrent); // only the first key starts as current
    }
    // and each promoted key had been published for the whole budget when it started signing
    for (const key of set.keys.filter((k) => k.publishedAt)) {
      expect(Date.parse(key.activatedAt ?? '') - Date.parse(key.publishedAt ?? '')).toBeGreaterThanOrEqual(
        300 * SECOND,
      );
    }
  });
});

describe('retention of retired keys', () => {
  it('keeps a retired key while its signing ended less than token lifetime plus staleness ago, then drops it', async () => {
    // GIVEN a key that stopped signing at T0 + 5 min (retention 900 + 300 s = 20 min)
    let set = await firstSet();
    const first = signingKey(set).kid;
    set = await rotateAt(set, T0 + 5 * MINUTE, T0, T0);
    set = await rotateAt(set, T0 + 10 * MINUTE, T0 + 5 * MINUTE, T0 + 5 * MINUTE);
    expect(set.keys.find((k) => k.kid === first)?.signingEndedAt).toBe('2030-01-01T00:05:00.000Z');
    // WHEN the clock is one second short of the retention, THEN the key stays
    const kept = await rotateAt(set, T0 + 25 * MINUTE - SECOND, T0 + 10 * MINUTE, T0 + 10 * MINUTE);
    expect(kept.keys.map((k) => k.kid)).toContain(first);
    // WHEN the retention has passed, THEN it is dropped
    const dropped = await rotateAt(set, T0 + 25 * MINUTE, T0 + 10 * MINUTE, T0 + 10 * MINUTE);
    expect(dropped.keys.map((k) => k.kid)).not.toContain(first);
  });

  it('measures retention from when the publication record saw AWSCURRENT switch, not from when the retiring rotation started', async () => {
    // GIVEN a rotation started at T0 + 5 min whose finish was recorded at T0 + 3 h (a rotation retried for hours)
    let set = await firstSet();
    const first = signingKey(set).kid;
    set = await rotateAt(set, T0 + 5 * MINUTE, T0);
    // WHEN the next rotation runs ten minutes after that finish (long after 5 min + the 20 min retention)
    set = await rotateAt(set, T0 + 190 * MINUTE, T0 + 5 * MINUTE, T0 + 180 * MINUTE);
    // THEN the retired key is kept: its signing is taken to have ended at the recorded switch
    expect(set.keys.find((k) => k.kid === first)).toMatchObject({
      retiredAt: '2030-01-01T00:05:00.000Z',
      signingEndedAt: '2030-01-01T03:00:00.000Z',
    });
  });

  it('takes the rotation start as the end of signing when the record names another signing key', async () => {
    let set = await firstSet();
    const first = signingKey(set).kid;
    set = await rotateAt(set, T0 + 5 * MINUTE, T0);
    const rotated = rotateKeySet(
      set,
      {
        now: T0 + 60 * MINUTE,
        newKey: await newKey(),
        nextPublishedAt: T0 + 5 * MINUTE,
        signingSince: { kid: first, at: T0 }, // the record never saw the switch: afterFinish did not publish
        policy: POLICY,
      },
      LOCATION,
    );
    expect(rotated.keys.find((k) => k.kid === first)?.signingEndedAt).toBe('2030-01-01T01:00:00.000Z');
  });

  it('never drops the key the previous rotation retired, however long ago that rotation started', async () => {
    let set = await firstSet();
    const first = signingKey(set).kid;
    set = await rotateAt(set, T0 + 5 * MINUTE, T0);
    const much = await rotateAt(set, T0 + 30 * 24 * 60 * MINUTE, T0 + 5 * MINUTE);
    expect(much.keys.map((k) => k.kid)).toContain(first);
  });
});

describe('a crash and a re-run', () => {
  it('gives the same transition from the same AWSCURRENT and record, differing only in the new next key', async () => {
    // GIVEN createSecret computed a set, then crashed before PutSecretValue
    const set = await firstSet();
    const crashed = await rotateAt(set, T0 + 6 * MINUTE, T0, T0);
    // WHEN the service retries
    const retried = await rotateAt(set, T0 + 7 * MINUTE, T0, T0);
    // THEN the same keys moved the same way
    expect(states(retried).slice(1)).toEqual(states(crashed).slice(1));
    expect(nextKey(retried).kid).not.toBe(nextKey(crashed).kid);
  });
});

describe('the published document', () => {
  it('lists each kid once with public members, kid, alg and use only, sorted by kid', async () => {
    // GIVEN AWSCURRENT and AWSPENDING sharing two keys
    const current = await firstSet();
    const pending = await rotateAt(current, T0 + 5 * MINUTE, T0);
    // WHEN
    const document = buildJwks([pending, current]);
    // THEN
    const kids = document.keys.map((k) => k.kid ?? '');
    expect(kids).toEqual([...new Set(kids)].sort());
    expect(kids).toHaveLength(3);
    for (const key of document.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(key.use).toBe('sig');
    }
    expect(checkJwks(document, kids)).toEqual([]);
  });

  it('finds a missing array, keys without kid, repeated kids, private members and missing required kids', () => {
    expect(checkJwks({ nope: [] }, [])).toEqual(['is not a JWK Set (no "keys" array)']);
    const problems = checkJwks({ keys: [{ kty: 'EC' }, { kid: 'a', x: '1' }, { kid: 'a', d: 'private' }] }, [
      'a',
      'b',
    ]);
    expect(problems).toEqual([
      'has a key without a kid at keys[0]',
      'repeats kid a',
      'has private members (d) in key a',
      'lacks key b',
    ]);
    expect(problems.join()).not.toContain('private'.repeat(2));
  });
});

describe('parsing a stored value', () => {
  let valid: KeySet;
  beforeAll(async () => {
    valid = await rotateAt(await firstSet(), T0 + 5 * MINUTE, T0);
  });
  const edit = (change: (v: Record<string, unknown> & { keys: Array<Record<string, unknown>> }) => void) => {
    const value = JSON.parse(serializeKeySet(valid));
    change(value);
    return JSON.stringify(value);
  };
  const weakRsa = () =>
    generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' });

  it.each<[string, () => string, string]>([
    ['not JSON', () => 'a-random-password', "field '(value)' is not JSON"],
    ['an array', () => '[]', "field '(value)' must be a JSON object"],
    ['a misspelt keys member', () => JSON.stringify({ Keys: [] }), "field 'keys' is missing or empty"],
    ['a wrong format', () => edit((v) => (v.format = 'other')), "field 'format' must be"],
    ['a wrong version', () => edit((v) => (v.version = 2)), "field 'version' must be 1"],
    [
      'two current keys',
      () => edit((v) => Object.assign(v.keys[0]!, { state: 'current', activatedAt: v.keys[1]!.activatedAt })),
      'exactly one current key, found 2',
    ],
    ['no next key', () => edit((v) => v.keys.shift()), 'exactly one next key, found 0'],
    [
      'a next key stored public only',
      () => edit((v) => delete (v.keys[0]!.jwk as Record<string, unknown>).d),
      "field 'keys[0].jwk.d' must be present: a next key",
    ],
    ['a repeated kid', () => edit((v) => v.keys.push({ ...v.keys[2]! })), "field 'keys[3].kid' repeats kid"],
    [
      'an unknown state',
      () => edit((v) => (v.keys[0]!.state = 'standby')),
      "field 'keys[0].state' must be one of",
    ],
    ['an unknown alg', () => edit((v) => (v.keys[0]!.alg = 'HS256')), "field 'keys[0].alg' must be one of"],
    [
      'a bad timestamp',
      () => edit((v) => (v.keys[1]!.createdAt = 'yesterday')),
      "field 'keys[1].createdAt' must be an ISO 8601",
    ],
    [
      'a current key without activatedAt',
      () => edit((v) => delete v.keys[1]!.activatedAt),
      "field 'keys[1].activatedAt'",
    ],
    [
      'a current key without its private member',
      () => edit((v) => delete (v.keys[1]!.jwk as Record<string, unknown>).d),
      "field 'keys[1].jwk.d' must be present",
    ],
    [
      'a previous key with a private member',
      () => edit((v) => ((v.keys[2]!.jwk as Record<string, unknown>).d = 'x'.repeat(43))),
      "field 'keys[2].jwk' of a previous key must be public only, has d",
    ],
    [
      'an EC key labelled RS256',
      () => edit((v) => (v.keys[1]!.alg = 'RS256')),
      "field 'keys[1].jwk.kty' must be 'RSA' for RS256",
    ],
    [
      'a jwk.kid that differs',
      () => edit((v) => ((v.keys[1]!.jwk as Record<string, unknown>).kid = 'other')),
      "field 'keys[1].jwk.kid' must equal kid",
    ],
    [
      'an RSA modulus of 1024 bits',
      () => edit((v) => (v.keys[1] = { ...v.keys[1], alg: 'RS256', jwk: weakRsa() })),
      "field 'keys[1].jwk.n' must be an RSA modulus of at least 2048 bits",
    ],
    [
      'a negative policy',
      () => edit((v) => (v.policy = { maxTokenLifetimeSeconds: -1, jwksMaxStalenessSeconds: 1 })),
      "field 'policy.maxTokenLifetimeSeconds'",
    ],
  ])('rejects %s with an error naming the field and quoting no key', (_case, value, message) => {
    const text = value();
    let caught: unknown;
    try {
      parseKeySetOrBootstrap(text, WHERE);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidSecretValueError);
    expect((caught as Error).message).toContain(message);
    expect((caught as Error).message).toContain(ARN);
    for (const key of valid.keys) {
      for (const secret of privateStrings(key.jwk)) expect((caught as Error).message).not.toContain(secret);
    }
  });

  it('rejects a kid that is not the RFC 7638 thumbprint of its key', async () => {
    const forged = JSON.parse(serializeKeySet(valid));
    const other = await newKey();
    forged.keys[1].jwk = { ...other.jwk, kid: forged.keys[1].kid };
    const set = parseKeySet(JSON.stringify(forged), WHERE);
    await expect(assertKidsAreThumbprints(set, WHERE)).rejects.toThrow(
      "field 'keys[1].kid' is not the RFC 7638 thumbprint of its jwk",
    );
    await expect(assertKidsAreThumbprints(valid, WHERE)).resolves.toBeUndefined();
  });

  it('requires a key set, not a bootstrap value, where a pending version is read', () => {
    expect(() => parseKeySet('{}', { secretArn: ARN, stage: 'AWSPENDING' })).toThrow(
      'Secret ' + ARN + " (AWSPENDING): field 'keys' is empty",
    );
  });
});

describe('a key set that is not JSON (finding 7)', () => {
  it('fails naming the value and the position, keeping no cause that quotes the key material', () => {
    // GIVEN a truncated value: V8's SyntaxError quotes the text around the fault
    const material = 'pQ7vX2kLmN9sT4wYzA1bC3dE5fG7hJ9k';
    const truncated = `{"keys":[{"kid":"k1","jwk":{"kty":"OKP","d":"${material}"`;
    // WHEN
    let thrown: unknown;
    try {
      parseKeySetOrBootstrap(truncated, {
        secretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:jwt',
        stage: 'AWSCURRENT',
      });
    } catch (error) {
      thrown = error;
    }
    // THEN
    expect(thrown).toBeInstanceOf(Error);
    const error = thrown as Error;
    expect(error.message).toContain("field '(value)' is not JSON");
    expect(error.cause).toBeUndefined();
    expect(`${error.message}\n${error.stack}`).not.toContain(material.slice(0, 8));
  });
});
