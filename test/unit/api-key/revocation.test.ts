import { UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { ApiKeySweepError } from '../../../functions/api-key/errors';
import { FakeProvider, followUps, GRACE_SECONDS, rotate, setUp, sweepEvent } from './harness';

const TAG = 'secret-rotation:api-key:revoke-after:';

describe('the grace period', () => {
  it('keeps the superseded key valid until its deadline, and the sweep revokes it after', async () => {
    // GIVEN a rotation done
    const { fake, handler, arn, clock, initial } = setUp();
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    await rotate(fake, handler, arn);
    // WHEN the sweep runs one second before the deadline
    clock.advance(GRACE_SECONDS - 1);
    const early = await handler(sweepEvent(arn));
    // THEN nothing is revoked
    expect(early?.revoked).toEqual([]);
    expect(early?.waiting).toEqual([{ versionId: previous, revokeAfter: expect.any(String) }]);
    expect(initial.revoked).toBe(false);
    // WHEN it runs at the deadline
    clock.advance(1);
    const due = await handler(sweepEvent(arn));
    // THEN
    expect(due?.revoked).toEqual([
      expect.objectContaining({
        versionId: previous,
        keyId: initial.keyId,
        reason: 'grace-period-ended',
        outcome: 'revoked',
      }),
    ]);
    expect(initial.revoked).toBe(true);
  });

  it('after revoking, removes AWSPREVIOUS from the revoked version and the tag, and publishes api-key-revoked', async () => {
    // GIVEN
    const { fake, handler, arn, clock, eventBridge, initial } = setUp();
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    const token = await rotate(fake, handler, arn);
    // when Secrets Manager created the two versions (the revocation latency is measured from the second)
    const versions = fake.secrets.get(arn)?.versions;
    const supersededAt = clock.ms - 1000;
    (versions?.get(previous) as { createdDate: Date }).createdDate = new Date(supersededAt - 60_000);
    (versions?.get(token) as { createdDate: Date }).createdDate = new Date(supersededAt);
    clock.advance(GRACE_SECONDS);
    // WHEN
    await handler(sweepEvent(arn));
    // THEN
    expect(fake.stages(arn)[previous]).toEqual([]);
    expect(fake.tagsOf(arn)).toEqual({});
    expect(followUps(eventBridge)).toContainEqual({
      secretArn: arn,
      kind: 'api-key',
      strategy: 'http',
      action: 'api-key-revoked',
      versionId: previous,
      keyId: initial.keyId,
      keyName: `orders/api-key-${previous}`,
      reason: 'grace-period-ended',
      outcome: 'revoked',
      revokeAfter: expect.any(String),
      supersededAt: new Date(supersededAt).toISOString(),
      latencyMs: GRACE_SECONDS * 1000 + 1000,
    });
  });

  it('lets two superseded keys each keep their own deadline when rotations come quickly', async () => {
    // GIVEN two rotations half a grace period apart
    const { fake, handler, arn, clock, provider } = setUp();
    const first = fake.versionOf(arn, 'AWSCURRENT') as string;
    const second = await rotate(fake, handler, arn);
    clock.advance(GRACE_SECONDS / 2);
    await rotate(fake, handler, arn);
    // WHEN the first deadline passes
    clock.advance(GRACE_SECONDS / 2);
    const report = await handler(sweepEvent(arn));
    // THEN only the first key goes; the second keeps its grace period
    expect(report?.revoked.map((r) => r.versionId)).toEqual([first]);
    expect(Object.keys(fake.tagsOf(arn))).toEqual([`${TAG}${second}`]);
    expect(provider.live().map((k) => k.name)).toEqual([
      `orders/api-key-${second}`,
      expect.stringMatching(/^orders\/api-key-/),
    ]);
  });

  it('revokes overdue keys at the start of every rotation', async () => {
    // GIVEN a superseded key past its deadline, and no sweep ran
    const { fake, handler, arn, clock, initial } = setUp();
    await rotate(fake, handler, arn);
    clock.advance(GRACE_SECONDS + 60);
    // WHEN the next rotation's createSecret runs
    const token = fake.startRotation(arn);
    await handler({ SecretId: arn, ClientRequestToken: token, Step: 'createSecret' });
    // THEN
    expect(initial.revoked).toBe(true);
  });

  it('still rotates when the overdue revocation fails, leaving it to the sweep', async () => {
    // GIVEN
    const { fake, handler, arn, clock, provider } = setUp();
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    await rotate(fake, handler, arn);
    clock.advance(GRACE_SECONDS);
    provider.failures.set('revoke', new Error('provider down'));
    // WHEN
    const token = await rotate(fake, handler, arn);
    // THEN
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
    expect(Object.keys(fake.tagsOf(arn))).toContain(`${TAG}${previous}`);
  });
});

describe('the sweep', () => {
  it('schedules AWSPREVIOUS when no deadline was recorded (a manual PutSecretValue)', async () => {
    // GIVEN a key replaced from outside the rotation
    const { fake, handler, arn, clock, initial } = setUp();
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    fake.putFromOutside(arn, { apiKey: 'replaced-by-hand-0123456789abcdef' });
    // (the fake does not move AWSPREVIOUS on a PutSecretValue as the service does)
    await fake.client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: arn,
        VersionStage: 'AWSPREVIOUS',
        MoveToVersionId: previous,
      }),
    );
    // WHEN
    const report = await handler(sweepEvent(arn));
    // THEN
    const deadline = new Date(clock.ms + GRACE_SECONDS * 1000).toISOString().replace('.000Z', 'Z');
    expect(report?.scheduled).toEqual([{ versionId: previous, revokeAfter: deadline }]);
    expect(fake.tagsOf(arn)).toEqual({ [`${TAG}${previous}`]: deadline });
    expect(initial.revoked).toBe(false);
  });

  it('revokes a key issued under our prefix that no version records (a crashed rotation), at once', async () => {
    // GIVEN a key named for a version that never got AWSCURRENT or AWSPENDING
    const { handler, arn, provider } = setUp();
    const orphan = provider.seed(
      'orders/api-key-0b0e6f6c-1f4d-4d7e-9e55-5d3a1c2b9f00',
      'orphan-key-value-0123456789',
    );
    const unrelated = provider.seed('orders/api-key-for-the-team', 'unrelated-key-value-0123456789');
    // WHEN
    const report = await handler(sweepEvent(arn));
    // THEN
    expect(report?.revoked).toEqual([
      expect.objectContaining({ keyId: orphan.keyId, reason: 'orphan', outcome: 'revoked' }),
    ]);
    expect(orphan.revoked).toBe(true);
    expect(unrelated.revoked).toBe(false);
  });

  it('never takes the key of a rotation under way for an orphan', async () => {
    // GIVEN setSecret done, finishSecret not yet
    const { fake, handler, arn, provider } = setUp();
    const token = fake.startRotation(arn);
    for (const Step of ['createSecret', 'setSecret'])
      await handler({ SecretId: arn, ClientRequestToken: token, Step });
    // WHEN
    const report = await handler(sweepEvent(arn));
    // THEN
    expect(report?.revoked).toEqual([]);
    expect(provider.live().some((k) => k.name.endsWith(token))).toBe(true);
  });

  it('drops the schedule of a version that became current again (a rollback) and revokes nothing', async () => {
    // GIVEN a deadline on the version that is current
    const { fake, handler, arn, clock, initial } = setUp();
    const current = fake.versionOf(arn, 'AWSCURRENT') as string;
    fake.tag(arn, `${TAG}${current}`, '2029-01-01T00:00:00Z');
    clock.advance(10);
    // WHEN
    const report = await handler(sweepEvent(arn));
    // THEN
    expect(report?.revoked).toEqual([]);
    expect(fake.tagsOf(arn)).toEqual({});
    expect(initial.revoked).toBe(false);
  });

  it('refuses to revoke a version that holds the current key', async () => {
    // GIVEN an old version with the same key id as the current one, past its deadline
    const { fake, handler, arn, initial } = setUp();
    const old = fake.versionOf(arn, 'AWSCURRENT') as string;
    fake.putFromOutside(arn, { apiKey: 'another-value-0123456789abcdef', keyId: initial.keyId });
    fake.tag(arn, `${TAG}${old}`, '2029-01-01T00:00:00Z');
    // WHEN
    const failure = handler(sweepEvent(arn));
    // THEN
    await expect(failure).rejects.toThrow(ApiKeySweepError);
    await expect(failure).rejects.toThrow('CurrentKeyRevocationError');
    expect(initial.revoked).toBe(false);
  });

  it('replaces a deadline that is not an instant with a new grace period rather than revoking', async () => {
    // GIVEN
    const { fake, handler, arn, initial } = setUp();
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    await rotate(fake, handler, arn);
    fake.tag(arn, `${TAG}${previous}`, 'soon');
    // WHEN
    const report = await handler(sweepEvent(arn));
    // THEN
    expect(report?.scheduled.map((s) => s.versionId)).toEqual([previous]);
    expect(fake.tagsOf(arn)[`${TAG}${previous}`]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(initial.revoked).toBe(false);
  });

  it('fails naming the versions it could not revoke, keeps their tags, and the next sweep completes them', async () => {
    // GIVEN the provider fails once
    const { fake, handler, arn, clock, provider, initial } = setUp();
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    await rotate(fake, handler, arn);
    clock.advance(GRACE_SECONDS);
    provider.failures.set('revoke', new Error('HTTP 503'));
    // WHEN
    const failure = handler(sweepEvent(arn));
    // THEN
    await expect(failure).rejects.toThrow(new RegExp(`could not complete 1 revocation\\(s\\): ${previous}`));
    expect(Object.keys(fake.tagsOf(arn))).toEqual([`${TAG}${previous}`]);
    // WHEN the next sweep runs
    await handler(sweepEvent(arn));
    // THEN
    expect(initial.revoked).toBe(true);
    expect(fake.tagsOf(arn)).toEqual({});
  });

  it('completes a revocation that crashed after the provider revoked, reporting the key as already gone', async () => {
    // GIVEN the provider revoked, then the answer was lost
    const { fake, handler, arn, clock, provider, initial } = setUp();
    await rotate(fake, handler, arn);
    clock.advance(GRACE_SECONDS);
    provider.failuresAfter.set('revoke', new Error('connection reset'));
    await expect(handler(sweepEvent(arn))).rejects.toThrow();
    expect(initial.revoked).toBe(true);
    // WHEN
    const report = await handler(sweepEvent(arn));
    // THEN
    expect(report?.revoked).toEqual([expect.objectContaining({ outcome: 'absent' })]);
    expect(fake.tagsOf(arn)).toEqual({});
  });

  it('works without a provider that lists keys: no orphan search, deadlines still honoured', async () => {
    // GIVEN
    const provider = new FakeProvider({ canList: false });
    const { fake, handler, arn, clock, initial } = setUp({ provider });
    await rotate(fake, handler, arn);
    clock.advance(GRACE_SECONDS);
    // WHEN
    await handler(sweepEvent(arn));
    // THEN
    expect(initial.revoked).toBe(true);
    expect(provider.calls.some((c) => c.operation === 'list')).toBe(false);
  });
});
