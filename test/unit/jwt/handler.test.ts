import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutSecretValueCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT } from 'jose';
import {
  buildJwks,
  createJwtHandler,
  generateSigningKey,
  JwksVerificationError,
  type KeySet,
  NextKeyNotReadyError,
  nextKey,
  PublicationMetadata,
  serializeJwks,
  signingKey,
} from '../../../functions/jwt';
import { InvalidSecretValueError } from '../../../functions/rotation';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { STEPS } from '../../helpers/rotate';
import { FakeS3 } from './fake-s3';
import { BUCKET, commandNames, OBJECT_KEY, STALENESS_MS, setUpJwt, T0 } from './harness';

const WRITES = ['PutSecretValueCommand', 'UpdateSecretVersionStageCommand'];
const kidsOf = (document: { keys: Array<Record<string, string>> }) => document.keys.map((k) => k.kid).sort();
const allKids = (set: KeySet) => set.keys.map((k) => k.kid).sort();

async function signWith(set: KeySet, now: number): Promise<string> {
  const key = signingKey(set);
  return new SignJWT({ sub: 'user-1' })
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor(now / 1000) + 60)
    .sign(await importJWK(key.jwk, key.alg));
}

describe('the first rotation', () => {
  it.each(['{}', '{"keys":[]}'])(
    'turns the bootstrap value %s into a current and a next key and publishes both',
    async (initial) => {
      // GIVEN a new secret holding the bootstrap value
      const t = setUpJwt({ initial });
      // WHEN it rotates
      await t.rotate();
      // THEN AWSCURRENT holds a current and a next key, both published with the cache headers
      const set = t.current();
      expect(set.keys.map((k) => k.state)).toEqual(['next', 'current']);
      expect(kidsOf(t.jwks())).toEqual(allKids(set));
      expect(t.object()).toMatchObject({
        contentType: 'application/json',
        cacheControl: 'public, max-age=300, s-maxage=0',
      });
      expect(t.object()?.metadata[PublicationMetadata.SIGNING]).toBe(
        `${signingKey(set).kid}=${Math.floor(T0 / 1000)}`,
      );
      expect(t.generated).toBe(2);
    },
  );

  it('refuses a secret that is not a key set, naming the field, and writes nothing', async () => {
    // GIVEN a secret created with a random password, as a plain `new Secret()` would be
    const t = setUpJwt({ initial: 'Xk2!a-random-password' });
    const token = t.fake.startRotation(t.arn);
    // WHEN / THEN
    await expect(t.step(token, 'createSecret')).rejects.toThrow(InvalidSecretValueError);
    await expect(t.step(token, 'createSecret')).rejects.toThrow("field '(value)' is not JSON");
    expect(commandNames(t.fake.mock).filter((c) => WRITES.includes(c))).toEqual([]);
    expect(t.s3.puts).toEqual([]);
  });

  it.each([
    ['RS256', { JWT_ALGORITHM: 'RS256', JWT_RSA_MODULUS_LENGTH: '3072' }, 'RSA'],
    ['ES256', { JWT_ALGORITHM: 'ES256' }, 'EC'],
    ['EdDSA', { JWT_ALGORITHM: 'EdDSA' }, 'OKP'],
  ])('rotates %s keys whose tokens verify against the published JWKS', async (alg, env, kty) => {
    const t = setUpJwt({ env });
    await t.rotate();
    t.advance(STALENESS_MS);
    await t.rotate();
    const set = t.current();
    expect(set.keys.every((k) => k.alg === alg && k.jwk.kty === kty)).toBe(true);
    if (alg === 'RS256') {
      expect(Buffer.from(String(signingKey(set).jwk.n), 'base64url').length * 8).toBe(3072);
    }
    const token = await signWith(set, t.now());
    const { protectedHeader } = await jwtVerify(token, createLocalJWKSet(t.jwks() as never), {
      currentDate: new Date(t.now()),
    });
    expect(protectedHeader).toMatchObject({ alg, kid: signingKey(set).kid });
  });
});

describe('createSecret', () => {
  it('is idempotent: a second createSecret with the same token generates nothing and puts nothing', async () => {
    // GIVEN a first set, one staleness budget old
    const t = setUpJwt();
    await t.rotate();
    t.advance(STALENESS_MS);
    const token = t.fake.startRotation(t.arn);
    await t.step(token, 'createSecret');
    const generated = t.generated;
    const pending = t.fake.valueOf(t.arn, 'AWSPENDING');
    // WHEN createSecret runs again (a service retry)
    await t.step(token, 'createSecret');
    // THEN
    expect(t.generated).toBe(generated);
    expect(t.fake.valueOf(t.arn, 'AWSPENDING')).toEqual(pending);
    expect(t.fake.mock.commandCalls(PutSecretValueCommand, { ClientRequestToken: token })).toHaveLength(1);
  });

  it('refuses a second rotation within one cache lifetime, writing and generating nothing, and lets it succeed later', async () => {
    // GIVEN a rotation that has just finished
    const t = setUpJwt();
    await t.rotate();
    const currentVersion = t.fake.versionOf(t.arn, 'AWSCURRENT');
    const puts = t.s3.puts.length;
    const generated = t.generated;
    // WHEN another rotation comes 299 seconds later
    t.advance(STALENESS_MS - 1000);
    const token = t.fake.startRotation(t.arn);
    const attempt = t.step(token, 'createSecret');
    // THEN it fails with the typed error, AWSCURRENT and the JWKS untouched
    await expect(attempt).rejects.toThrow(NextKeyNotReadyError);
    await expect(attempt).rejects.toMatchObject({
      secretArn: t.arn,
      token,
      step: 'createSecret',
      retryAfterSeconds: 1,
    });
    expect(t.fake.versionOf(t.arn, 'AWSCURRENT')).toBe(currentVersion);
    expect(t.fake.mock.commandCalls(PutSecretValueCommand, { ClientRequestToken: token })).toHaveLength(0);
    expect(t.s3.puts).toHaveLength(puts);
    expect(t.generated).toBe(generated);
    // WHEN the service retries the same token one second later, THEN the rotation completes
    t.advance(1000);
    for (const step of STEPS) await t.step(token, step);
    expect(t.fake.versionOf(t.arn, 'AWSCURRENT')).toBe(token);
  });

  it('publishes a lost JWKS again and refuses the rotation until the next key has been published for one cache lifetime', async () => {
    // GIVEN a JWKS object deleted after the first rotation
    const t = setUpJwt();
    await t.rotate();
    const first = t.current();
    t.advance(60 * STALENESS_MS);
    t.s3.objects.clear();
    // WHEN a rotation starts
    const token = t.fake.startRotation(t.arn);
    const attempt = t.step(token, 'createSecret');
    // THEN AWSCURRENT's keys are published again, and the rotation waits a whole budget from now
    await expect(attempt).rejects.toMatchObject({ name: 'NextKeyNotReadyError', republished: true });
    expect(kidsOf(t.jwks())).toEqual(allKids(first));
    await expect(t.step(token, 'createSecret')).rejects.toThrow(NextKeyNotReadyError);
    t.advance(STALENESS_MS);
    for (const step of STEPS) await t.step(token, step);
    expect(signingKey(t.current()).kid).toBe(nextKey(first).kid);
  });
});

describe('setSecret', () => {
  it('publishes the keys of AWSCURRENT and AWSPENDING before finishSecret, leaving AWSCURRENT where it is', async () => {
    // GIVEN
    const t = setUpJwt();
    await t.rotate();
    const before = t.current();
    t.advance(STALENESS_MS);
    const token = t.fake.startRotation(t.arn);
    await t.step(token, 'createSecret');
    const pending = t.fake.valueOf<KeySet>(t.arn, 'AWSPENDING');
    expect(kidsOf(t.jwks())).not.toContain(nextKey(pending).kid);
    t.fake.mock.resetHistory();
    // WHEN
    await t.step(token, 'setSecret');
    // THEN the union is published and no label moved
    expect(kidsOf(t.jwks())).toEqual([...new Set([...allKids(before), ...allKids(pending)])].sort());
    expect(t.fake.mock.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
    expect(t.current()).toEqual(before);
    expect(t.fake.versionOf(t.arn, 'AWSPENDING')).toBe(token);
  });

  it('is idempotent: a second setSecret writes nothing and keeps every first-publication time', async () => {
    const t = setUpJwt();
    await t.rotate();
    t.advance(STALENESS_MS);
    const token = t.fake.startRotation(t.arn);
    await t.step(token, 'createSecret');
    await t.step(token, 'setSecret');
    const puts = t.s3.puts.length;
    const metadata = { ...t.object()?.metadata };
    t.advance(60_000);
    await t.step(token, 'setSecret');
    expect(t.s3.puts).toHaveLength(puts);
    expect(t.object()?.metadata).toEqual(metadata);
  });
});

describe('testSecret', () => {
  async function pendingRotation() {
    const t = setUpJwt();
    await t.rotate();
    t.advance(STALENESS_MS);
    const token = t.fake.startRotation(t.arn);
    await t.step(token, 'createSecret');
    await t.step(token, 'setSecret');
    return { t, token, pending: t.fake.valueOf<KeySet>(t.arn, 'AWSPENDING') };
  }

  it('writes nothing: no S3 object, no secret value, no label', async () => {
    // GIVEN
    const { t, token } = await pendingRotation();
    const puts = t.s3.puts.length;
    t.fake.mock.resetHistory();
    t.s3.mock.resetHistory();
    // WHEN
    await t.step(token, 'testSecret');
    await t.step(token, 'testSecret');
    // THEN
    expect(t.s3.puts).toHaveLength(puts);
    expect(commandNames(t.fake.mock).filter((c) => WRITES.includes(c))).toEqual([]);
    expect(commandNames(t.s3.mock)).toEqual(['GetObjectCommand', 'GetObjectCommand']);
  });

  it('fails when the published JWKS lacks the pending signing key, naming the key and the document', async () => {
    const { t, token, pending } = await pendingRotation();
    const signing = signingKey(pending).kid;
    const object = t.object()!;
    object.body = serializeJwks({ keys: buildJwks([pending]).keys.filter((k) => k.kid !== signing) });
    const attempt = t.step(token, 'testSecret');
    await expect(attempt).rejects.toThrow(JwksVerificationError);
    await expect(attempt).rejects.toThrow(`the JWKS at s3://${BUCKET}/${OBJECT_KEY} lacks key ${signing}`);
    expect(t.fake.versionOf(t.arn, 'AWSPENDING')).toBe(token);
  });

  it('fails when the published JWKS carries a private member', async () => {
    const { t, token } = await pendingRotation();
    const object = t.object()!;
    const document = JSON.parse(object.body);
    document.keys[0].d = 'A'.repeat(43);
    object.body = JSON.stringify(document);
    await expect(t.step(token, 'testSecret')).rejects.toThrow(/has private members \(d\) in key/);
  });

  it('fails when the published key under the signing kid is another key: the probe token does not verify', async () => {
    const { t, token, pending } = await pendingRotation();
    const other = await generateSigningKey('ES256', { rsaModulusLength: 2048 });
    const object = t.object()!;
    const document = JSON.parse(object.body);
    for (const key of document.keys) {
      if (key.kid === signingKey(pending).kid) Object.assign(key, { x: other.jwk.x, y: other.jwk.y });
    }
    object.body = JSON.stringify(document);
    await expect(t.step(token, 'testSecret')).rejects.toThrow(
      `does not verify a token signed by the pending signing key ${signingKey(pending).kid} (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)`,
    );
  });

  it('fails when the document allows verifiers a longer cache than the rotation waits for', async () => {
    const { t, token } = await pendingRotation();
    t.object()!.cacheControl = 'public, max-age=86400';
    await expect(t.step(token, 'testSecret')).rejects.toThrow(
      "has Cache-Control 'public, max-age=86400', not 'public, max-age=300, s-maxage=0'",
    );
  });

  it('fails when there is no document at all', async () => {
    const { t, token } = await pendingRotation();
    t.s3.objects.clear();
    await expect(t.step(token, 'testSecret')).rejects.toThrow('does not exist');
  });
});

describe('finishSecret', () => {
  it('republishes the JWKS AWSCURRENT needs on every retry, and says so in a follow-up event', async () => {
    // GIVEN a finished rotation whose JWKS was then lost
    const t = setUpJwt({ events: true });
    await t.rotate();
    t.advance(STALENESS_MS);
    const token = await t.rotate();
    t.s3.objects.clear();
    t.eventBridge.resetHistory();
    // WHEN Secrets Manager retries finishSecret
    await t.step(token, 'finishSecret');
    // THEN
    expect(kidsOf(t.jwks())).toEqual(allKids(t.current()));
    const details = t.eventBridge.commandCalls(PutEventsCommand).map((c) => ({
      type: c.args[0].input.Entries?.[0]?.DetailType,
      detail: JSON.parse(c.args[0].input.Entries?.[0]?.Detail ?? '{}'),
    }));
    expect(details.find((d) => d.type === 'Secret Rotation Follow-up')?.detail).toMatchObject({
      action: 'jwks-published',
      kind: 'jwt',
      strategy: 'jwks',
      signingKid: signingKey(t.current()).kid,
      kids: allKids(t.current()),
    });
    expect(details.find((d) => d.type === 'Secret Rotated')?.detail).toMatchObject({ replay: true });
    // and a further retry finds nothing to write
    const puts = t.s3.puts.length;
    await t.step(token, 'finishSecret');
    expect(t.s3.puts).toHaveLength(puts);
  });

  it('drops the keys AWSCURRENT no longer lists once the labels moved, and records the new signing key', async () => {
    // GIVEN rotations every five minutes for an hour (retention 15 + 5 minutes)
    const t = setUpJwt();
    for (let i = 0; i < 12; i++) {
      await t.rotate();
      t.advance(STALENESS_MS);
    }
    // THEN the JWKS is exactly AWSCURRENT's keys: next, current and the previous keys still within retention
    const set = t.current();
    expect(kidsOf(t.jwks())).toEqual(allKids(set));
    expect(set.keys.map((k) => k.state)).toEqual([
      'next',
      'current',
      'previous',
      'previous',
      'previous',
      'previous',
    ]);
    expect(t.object()?.metadata[PublicationMetadata.SIGNING]).toMatch(new RegExp(`^${signingKey(set).kid}=`));
  });

  it('keeps the keys of a rotation in progress when an older finishSecret is retried', async () => {
    // GIVEN rotation A finished, and rotation B has published its keys
    const t = setUpJwt();
    await t.rotate();
    t.advance(STALENESS_MS);
    const a = await t.rotate();
    t.advance(STALENESS_MS);
    const b = t.fake.startRotation(t.arn);
    await t.step(b, 'createSecret');
    await t.step(b, 'setSecret');
    const pendingNext = nextKey(t.fake.valueOf<KeySet>(t.arn, 'AWSPENDING')).kid;
    // WHEN a late retry of A's finishSecret arrives
    await t.step(a, 'finishSecret');
    // THEN B's next key is still published, with its first-publication time intact
    expect(kidsOf(t.jwks())).toContain(pendingNext);
    await t.step(b, 'testSecret');
    await t.step(b, 'finishSecret');
    expect(t.fake.versionOf(t.arn, 'AWSCURRENT')).toBe(b);
  });
});

describe('a crash between any two steps', () => {
  type Harness = ReturnType<typeof setUpJwt>;
  type Crash = (t: Harness, token: string) => Promise<void>;
  const runUntil =
    (last: (typeof STEPS)[number]): Crash =>
    async (t, token) => {
      for (const step of STEPS.slice(0, STEPS.indexOf(last) + 1)) await t.step(token, step);
    };
  // [crash point, what happens there, whether the new next key was first published by the retry]
  const crashes: Array<[string, Crash, boolean]> = [
    [
      'during createSecret, before the pending version is put',
      async (t, token) => {
        t.faults.failNextGeneration = true;
        await expect(t.step(token, 'createSecret')).rejects.toThrow('crashed while generating');
      },
      true,
    ],
    ['after createSecret', runUntil('createSecret'), true],
    [
      'during setSecret, before the JWKS is written',
      async (t, token) => {
        await t.step(token, 'createSecret');
        t.s3.failNextPut = new Error('S3 is having a bad day');
        await expect(t.step(token, 'setSecret')).rejects.toThrow();
      },
      true,
    ],
    ['after setSecret', runUntil('setSecret'), false],
    ['after testSecret', runUntil('testSecret'), false],
    [
      'during finishSecret, after the labels moved but before the JWKS is republished',
      async (t, token) => {
        await runUntil('testSecret')(t, token);
        t.s3.failNextPut = new Error('S3 is having a bad day');
        t.s3.objects.get(`${BUCKET}/${OBJECT_KEY}`)!.body += ' '; // so that afterFinish has something to write
        await expect(t.step(token, 'finishSecret')).rejects.toThrow();
        expect(t.fake.versionOf(t.arn, 'AWSCURRENT')).toBe(token);
      },
      false,
    ],
  ];

  it.each(crashes)(
    'converges when the service re-runs the rotation after a crash %s',
    async (_point, crash, publishedByRetry) => {
      // GIVEN a key set due for rotation at T1
      const t = setUpJwt();
      await t.rotate();
      t.advance(STALENESS_MS);
      const t1 = t.now();
      const before = t.current();
      const token = t.fake.startRotation(t.arn);
      // WHEN it crashes at that point, and the whole rotation is retried a minute later with the same token
      await crash(t, token);
      t.advance(60_000);
      for (const step of STEPS) await t.step(token, step);
      // THEN the rotation completed exactly as an uninterrupted one would have
      const after = t.current();
      expect(t.fake.versionOf(t.arn, 'AWSCURRENT')).toBe(token);
      expect(signingKey(after).kid).toBe(nextKey(before).kid);
      expect(after.keys.map((k) => k.state)).toEqual(['next', 'current', 'previous']);
      expect(kidsOf(t.jwks())).toEqual(allKids(after));
      // and every key's recorded publication is its first one: the promoted key's at T0, the new key's at the
      // first setSecret that wrote it
      const published = t.object()?.metadata[PublicationMetadata.PUBLISHED] ?? '';
      const firstPublished = publishedByRetry ? t1 + 60_000 : t1;
      expect(published).toContain(`${signingKey(after).kid}=${Math.floor(T0 / 1000)}`);
      expect(published).toContain(`${nextKey(after).kid}=${Math.floor(firstPublished / 1000)}`);
      // so the next rotation is possible exactly one budget after that first publication, not before
      t.advance(firstPublished + STALENESS_MS - 1000 - t.now());
      await expect(t.rotate()).rejects.toThrow(NextKeyNotReadyError);
      t.advance(1000);
      await t.rotate();
    },
  );
});

describe('the SSM parameter target', () => {
  it('receives the same document before S3, and testSecret checks it too', async () => {
    // GIVEN an SSM parameter configured
    const fake = new FakeSecretsManager();
    const s3 = new FakeS3();
    const ssmClient = new SSMClient({ region: 'us-east-1' });
    const ssm = mockClient(ssmClient);
    let parameter: string | undefined;
    const order: string[] = [];
    ssm.on(GetParameterCommand).callsFake(() => {
      if (parameter === undefined) {
        throw Object.assign(new Error('not found'), { name: 'ParameterNotFound' });
      }
      return { Parameter: { Value: parameter } };
    });
    ssm.on(PutParameterCommand).callsFake((input) => {
      order.push(`ssm written after ${s3.puts.length} S3 writes`);
      parameter = input.Value;
      return {};
    });
    const arn = fake.createSecret('app/jwt', {});
    let clock = T0;
    const handler = createJwtHandler({
      secretsManager: fake.client,
      s3: s3.client,
      ssm: ssmClient,
      env: {
        JWKS_BUCKET: BUCKET,
        JWT_ALGORITHM: 'ES256',
        JWKS_CACHE_SECONDS: '300',
        JWKS_SSM_PARAMETER: '/auth/jwks',
      },
      now: () => clock,
    });
    const rotate = async () => {
      const token = fake.startRotation(arn);
      for (const step of STEPS) await handler({ SecretId: arn, ClientRequestToken: token, Step: step });
    };
    // WHEN
    await rotate();
    clock += STALENESS_MS;
    await rotate();
    // THEN
    expect(parameter).toBe(s3.objects.get(`${BUCKET}/${OBJECT_KEY}`)?.body);
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, {
      Name: '/auth/jwks',
      Type: 'String',
      Overwrite: true,
    });
    // and a parameter that lost the signing key fails testSecret
    parameter = '{"keys":[]}';
    clock += STALENESS_MS;
    const token = fake.startRotation(arn);
    await handler({ SecretId: arn, ClientRequestToken: token, Step: 'createSecret' });
    ssm.on(PutParameterCommand).callsFake(() => ({})); // setSecret's write is lost
    await handler({ SecretId: arn, ClientRequestToken: token, Step: 'setSecret' });
    await expect(handler({ SecretId: arn, ClientRequestToken: token, Step: 'testSecret' })).rejects.toThrow(
      'the JWKS at ssm:/auth/jwks lacks key',
    );
    expect(order[0]).toBe('ssm written after 0 S3 writes');
  });
});
