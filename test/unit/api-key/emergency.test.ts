import { FakeProvider, followUps, GRACE_SECONDS, rotate, setUp, sweepEvent } from './harness';

const EMERGENCY = 'secret-rotation:api-key:emergency';
const TAG = 'secret-rotation:api-key:revoke-after:';
const step = (arn: string, token: string, Step: string) => ({
  SecretId: arn,
  ClientRequestToken: token,
  Step,
});

describe('emergency mode', () => {
  it('with the emergency tag set, the rotation revokes the superseded key at finishSecret and removes the tag', async () => {
    // GIVEN a leaked current key: an operator tags the secret, then rotates it
    const { fake, handler, arn, initial, eventBridge } = setUp();
    fake.tag(arn, EMERGENCY, 'leaked in ticket 4711');
    // WHEN
    const token = await rotate(fake, handler, arn);
    // THEN
    expect(initial.revoked).toBe(true);
    expect(fake.tagsOf(arn)).toEqual({});
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
    expect(fake.versionOf(arn, 'AWSPREVIOUS')).toBeUndefined();
    expect(followUps(eventBridge)).toContainEqual(
      expect.objectContaining({ action: 'api-key-revoked', keyId: initial.keyId, reason: 'emergency' }),
    );
  });

  it('revokes every older key still in its grace period too', async () => {
    // GIVEN one key in its grace period
    const { fake, handler, arn, provider } = setUp();
    await rotate(fake, handler, arn);
    fake.tag(arn, EMERGENCY, 'true');
    // WHEN
    const token = await rotate(fake, handler, arn);
    // THEN only the new key is left
    expect(provider.live().map((k) => k.name)).toEqual([`orders/api-key-${token}`]);
  });

  it('keeps the emergency tag when the emergency revocation fails, so the retried finishSecret revokes', async () => {
    // GIVEN
    const { fake, handler, arn, provider, initial } = setUp();
    fake.tag(arn, EMERGENCY, 'true');
    provider.failures.set('revoke', new Error('HTTP 503'));
    const token = fake.startRotation(arn);
    for (const s of ['createSecret', 'setSecret', 'testSecret']) await handler(step(arn, token, s));
    // WHEN
    await expect(handler(step(arn, token, 'finishSecret'))).rejects.toThrow(
      'Emergency revocation incomplete',
    );
    // THEN the key is current and the old one not yet revoked; the retry completes
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
    expect(fake.tagsOf(arn)).toHaveProperty([EMERGENCY]);
    await handler(step(arn, token, 'finishSecret'));
    expect(initial.revoked).toBe(true);
    expect(fake.tagsOf(arn)).toEqual({});
  });

  it('the sweep event with Emergency true revokes every key but the current one at once', async () => {
    // GIVEN a key in its grace period
    const { fake, handler, arn, initial } = setUp();
    const token = await rotate(fake, handler, arn);
    // WHEN
    const report = await handler(sweepEvent(arn, { Emergency: true }));
    // THEN
    expect(report?.revoked).toEqual([expect.objectContaining({ keyId: initial.keyId, reason: 'emergency' })]);
    expect(initial.revoked).toBe(true);
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
  });

  it('the scheduled sweep does not consume the emergency tag meant for the next rotation', async () => {
    // GIVEN
    const { fake, handler, arn, initial } = setUp();
    fake.tag(arn, EMERGENCY, 'true');
    // WHEN
    await handler(sweepEvent(arn));
    // THEN
    expect(fake.tagsOf(arn)).toEqual({ [EMERGENCY]: 'true' });
    expect(initial.revoked).toBe(false);
  });
});

describe('self-issued keys and the grace period', () => {
  const selfIssued = () => setUp({ provider: new FakeProvider({ name: 'self-issued', canList: false }) });

  it('refuses a new rotation while the previous key is in its grace period, naming the deadline', async () => {
    // GIVEN
    const { fake, handler, arn, clock } = selfIssued();
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    await rotate(fake, handler, arn);
    clock.advance(GRACE_SECONDS - 60);
    const current = fake.versionOf(arn, 'AWSCURRENT');
    // WHEN
    const token = fake.startRotation(arn);
    const failure = handler(step(arn, token, 'createSecret'));
    // THEN
    await expect(failure).rejects.toThrow(
      `the previous key (version ${previous}) is in its grace period until`,
    );
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(current);
    expect(fake.versionOf(arn, 'AWSPREVIOUS')).toBe(previous);
  });

  it('rotates again once the grace period is over, the previous key revoked by removing AWSPREVIOUS', async () => {
    // GIVEN
    const { fake, handler, arn, clock } = selfIssued();
    const first = fake.versionOf(arn, 'AWSCURRENT') as string;
    const second = await rotate(fake, handler, arn);
    clock.advance(GRACE_SECONDS);
    // WHEN
    await rotate(fake, handler, arn);
    // THEN
    expect(fake.stages(arn)[first]).toEqual([]);
    expect(fake.versionOf(arn, 'AWSPREVIOUS')).toBe(second);
    expect(Object.keys(fake.tagsOf(arn))).toEqual([`${TAG}${second}`]);
  });

  it('rotates during the grace period in an emergency, revoking the previous key', async () => {
    // GIVEN
    const { fake, handler, arn } = selfIssued();
    const leaked = await rotate(fake, handler, arn);
    fake.tag(arn, EMERGENCY, 'true');
    // WHEN
    await rotate(fake, handler, arn);
    // THEN neither the key before nor the leaked one is AWSPREVIOUS any more
    expect(fake.versionOf(arn, 'AWSPREVIOUS')).toBeUndefined();
    expect(fake.stages(arn)[leaked]).toEqual([]);
  });
});
