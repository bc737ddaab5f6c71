import { GetRandomPasswordCommand } from '@aws-sdk/client-secrets-manager';
import { FakeProvider, followUps, GRACE_SECONDS, INITIAL_KEY, rotate, setUp, sweepEvent } from './harness';

const step = (arn: string, token: string, Step: string) => ({
  SecretId: arn,
  ClientRequestToken: token,
  Step,
});

describe('createSecret', () => {
  it('generates a letters-and-digits key through GetRandomPassword, keeps other fields and drops the old key id', async () => {
    // GIVEN
    const { fake, handler, arn, initial } = setUp();
    const token = fake.startRotation(arn);
    // WHEN
    await handler(step(arn, token, 'createSecret'));
    // THEN
    const pending = fake.valueOf<Record<string, unknown>>(arn, 'AWSPENDING');
    expect(pending).toEqual({ header: 'x-api-key', provider: 'http', apiKey: expect.any(String) });
    expect(pending.keyId).toBeUndefined();
    expect(pending.apiKey).not.toBe(INITIAL_KEY);
    expect(fake.mock).toHaveReceivedCommandWith(GetRandomPasswordCommand, {
      PasswordLength: 40,
      ExcludePunctuation: true,
    });
    expect(initial.revoked).toBe(false);
  });

  it('issues nothing at a provider that takes our key: the key is issued in setSecret under the token', async () => {
    // GIVEN
    const { fake, handler, arn, provider } = setUp();
    const token = fake.startRotation(arn);
    // WHEN
    await handler(step(arn, token, 'createSecret'));
    // THEN
    expect(provider.calls.filter((c) => c.operation === 'issue')).toEqual([]);
  });

  it('gives a self-issued key its version id as key id', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp({
      provider: new FakeProvider({ name: 'self-issued', canList: false }),
    });
    const token = fake.startRotation(arn);
    // WHEN
    await handler(step(arn, token, 'createSecret'));
    // THEN
    expect(fake.valueOf(arn, 'AWSPENDING')).toMatchObject({ provider: 'self-issued', keyId: token });
  });

  it('issues in createSecret when the provider generates the key, and records its id', async () => {
    // GIVEN
    const provider = new FakeProvider({ generatesValue: true });
    const { fake, handler, arn } = setUp({ provider });
    const token = fake.startRotation(arn);
    // WHEN
    await handler(step(arn, token, 'createSecret'));
    // THEN
    const pending = fake.valueOf<{ keyId: string; apiKey: string }>(arn, 'AWSPENDING');
    const issued = provider.keys.get(pending.keyId);
    expect(issued).toMatchObject({ name: `orders/api-key-${token}`, value: pending.apiKey, revoked: false });
  });

  it('after a crash between the provider issuing and PutSecretValue, issues another key; the sweep revokes the lost one', async () => {
    // GIVEN a provider-generated key whose PutSecretValue failed
    const provider = new FakeProvider({ generatesValue: true });
    const { fake, handler, arn } = setUp({ provider });
    const token = fake.startRotation(arn);
    fake.failNext('PutSecretValue');
    await expect(handler(step(arn, token, 'createSecret'))).rejects.toThrow(/InternalServiceError|injected/);
    const lost = provider.live().find((k) => k.name.endsWith(token));
    expect(lost).toBeDefined();
    // WHEN the service retries, and a sweep runs
    await handler(step(arn, token, 'createSecret'));
    const report = await handler(sweepEvent(arn));
    // THEN the version records the new key, and the lost one is revoked
    const pending = fake.valueOf<{ keyId: string }>(arn, 'AWSPENDING');
    expect(pending.keyId).not.toBe(lost?.keyId);
    expect(report?.revoked).toEqual([expect.objectContaining({ keyId: lost?.keyId, reason: 'orphan' })]);
    expect(
      provider
        .live()
        .filter((k) => k.name.endsWith(token))
        .map((k) => k.keyId),
    ).toEqual([pending.keyId]);
  });

  it('when two createSecret run at once, one key is recorded and the sweep revokes the other', async () => {
    // GIVEN
    const provider = new FakeProvider({ generatesValue: true });
    const { fake, handler, arn } = setUp({ provider });
    const token = fake.startRotation(arn);
    // WHEN
    await Promise.all([handler(step(arn, token, 'createSecret')), handler(step(arn, token, 'createSecret'))]);
    expect(provider.live().filter((k) => k.name.endsWith(token))).toHaveLength(2);
    await handler(sweepEvent(arn));
    // THEN
    const pending = fake.valueOf<{ keyId: string }>(arn, 'AWSPENDING');
    expect(
      provider
        .live()
        .filter((k) => k.name.endsWith(token))
        .map((k) => k.keyId),
    ).toEqual([pending.keyId]);
  });

  it.each([
    ['not JSON', 'apiKey=abc', "field '(value)' is not JSON"],
    ['without apiKey', { keyId: 'k1' }, "field 'apiKey' is missing"],
    ['with an empty apiKey', { apiKey: '' }, "field 'apiKey' must be a non-empty string"],
    [
      'with a numeric keyId',
      { apiKey: 'k'.repeat(30), keyId: 7 },
      "field 'keyId' must be a non-empty string",
    ],
    [
      'of another provider',
      { apiKey: 'k'.repeat(30), provider: 'api-gateway' },
      "is 'api-gateway' but this function rotates 'http' keys",
    ],
  ])(
    'refuses a current value %s with an error naming the field, issuing nothing',
    async (_name, secret, message) => {
      // GIVEN
      const { fake, handler, arn, provider } = setUp({ secret: secret as never });
      const token = fake.startRotation(arn);
      // WHEN
      const failure = handler(step(arn, token, 'createSecret'));
      // THEN
      await expect(failure).rejects.toThrow(message);
      expect(provider.calls.filter((c) => c.operation === 'issue')).toEqual([]);
      expect(fake.versionOf(arn, 'AWSPENDING')).toBe(token);
    },
  );
});

describe('setSecret', () => {
  it('issues the pending key under <secret name>-<token> and leaves the current key valid', async () => {
    // GIVEN
    const { fake, handler, arn, provider, initial } = setUp();
    const token = fake.startRotation(arn);
    await handler(step(arn, token, 'createSecret'));
    // WHEN
    await handler(step(arn, token, 'setSecret'));
    // THEN
    const pending = fake.valueOf<{ apiKey: string }>(arn, 'AWSPENDING');
    expect(provider.live().map((k) => [k.name, k.value])).toEqual([
      ['hand-made', INITIAL_KEY],
      [`orders/api-key-${token}`, pending.apiKey],
    ]);
    expect(initial.revoked).toBe(false);
    expect(provider.calls.filter((c) => c.operation === 'revoke')).toEqual([]);
  });

  it('is idempotent: a second setSecret finds the key it issued and issues no other', async () => {
    // GIVEN
    const { fake, handler, arn, provider } = setUp();
    const token = fake.startRotation(arn);
    await handler(step(arn, token, 'createSecret'));
    await handler(step(arn, token, 'setSecret'));
    // WHEN
    await handler(step(arn, token, 'setSecret'));
    // THEN
    expect(provider.live()).toHaveLength(2);
  });

  it('leaves AWSCURRENT as it was when the provider fails', async () => {
    // GIVEN
    const { fake, handler, arn, provider } = setUp();
    const before = fake.versionOf(arn, 'AWSCURRENT');
    provider.failures.set('issue', new Error('provider down (HTTP 503)'));
    const token = fake.startRotation(arn);
    await handler(step(arn, token, 'createSecret'));
    // WHEN
    const failure = handler(step(arn, token, 'setSecret'));
    // THEN
    await expect(failure).rejects.toThrow('provider down');
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(before);
    expect(provider.accepts(INITIAL_KEY)).toBe(true);
  });
});

describe('testSecret', () => {
  it("calls only the provider's check, with the pending key", async () => {
    // GIVEN
    const { fake, handler, arn, provider } = setUp();
    const token = fake.startRotation(arn);
    await handler(step(arn, token, 'createSecret'));
    await handler(step(arn, token, 'setSecret'));
    const before = provider.calls.length;
    // WHEN
    await handler(step(arn, token, 'testSecret'));
    // THEN
    expect(provider.calls.slice(before)).toEqual([{ operation: 'check', name: `orders/api-key-${token}` }]);
  });

  it('fails, leaving the labels, when the provider does not accept the pending key', async () => {
    // GIVEN a pending key never issued
    const { fake, handler, arn } = setUp();
    const token = fake.startRotation(arn);
    await handler(step(arn, token, 'createSecret'));
    const stages = fake.stages(arn);
    // WHEN
    const failure = handler(step(arn, token, 'testSecret'));
    // THEN
    await expect(failure).rejects.toThrow('does not accept');
    expect(fake.stages(arn)).toEqual(stages);
  });
});

describe('finishSecret', () => {
  it('records the revocation deadline of the superseded key, grace period from now, and says so in an event', async () => {
    // GIVEN
    const { fake, handler, arn, clock, eventBridge, initial } = setUp();
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    // WHEN
    await rotate(fake, handler, arn);
    // THEN
    const deadline = new Date(clock.ms + GRACE_SECONDS * 1000).toISOString().replace('.000Z', 'Z');
    expect(fake.tagsOf(arn)).toEqual({ [`secret-rotation:api-key:revoke-after:${previous}`]: deadline });
    expect(followUps(eventBridge)).toContainEqual(
      expect.objectContaining({
        action: 'api-key-revocation-scheduled',
        versionId: previous,
        keyId: initial.keyId,
        revokeAfter: deadline,
      }),
    );
    expect(initial.revoked).toBe(false);
  });

  it('keeps the recorded deadline when finishSecret runs again later', async () => {
    // GIVEN
    const { fake, handler, arn, clock } = setUp();
    const token = await rotate(fake, handler, arn);
    const tags = fake.tagsOf(arn);
    clock.advance(600);
    // WHEN the service retries finishSecret
    await handler(step(arn, token, 'finishSecret'));
    // THEN
    expect(fake.tagsOf(arn)).toEqual(tags);
  });

  it('completes the schedule on a retry after the tag could not be written', async () => {
    // GIVEN finishSecret moved the labels, then failed to tag
    const { fake, handler, arn } = setUp();
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    const token = fake.startRotation(arn);
    for (const s of ['createSecret', 'setSecret', 'testSecret']) await handler(step(arn, token, s));
    fake.failNext('TagResource');
    await expect(handler(step(arn, token, 'finishSecret'))).rejects.toThrow();
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
    // WHEN
    await handler(step(arn, token, 'finishSecret'));
    // THEN
    expect(Object.keys(fake.tagsOf(arn))).toEqual([`secret-rotation:api-key:revoke-after:${previous}`]);
  });
});
