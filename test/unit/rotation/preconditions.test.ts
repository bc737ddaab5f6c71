import {
  ForeignPendingVersionError,
  RotationNotEnabledError,
  VersionNotFoundError,
  VersionNotPendingError,
} from '../../../functions/rotation';
import { STEPS } from '../../helpers/rotate';
import { commandNames, setUp, stepEvent, WRITES } from './harness';

describe('preconditions of every step', () => {
  it.each(STEPS)('%s fails when rotation is not enabled, and writes nothing', async (step) => {
    // GIVEN
    const { fake, handler, arn } = setUp({ rotationEnabled: false });
    const token = fake.startRotation(arn);
    // WHEN
    const result = handler(stepEvent(arn, token, step));
    // THEN
    await expect(result).rejects.toThrow(RotationNotEnabledError);
    await expect(result).rejects.toThrow(`Rotation is not enabled for secret ${arn}`);
    expect(commandNames(fake).filter((name) => WRITES.includes(name))).toEqual([]);
  });

  it.each(STEPS)('%s fails when the token is not a staged version of the secret', async (step) => {
    const { fake, handler, arn } = setUp();
    const result = handler(stepEvent(arn, 'no-such-version', step));
    await expect(result).rejects.toThrow(VersionNotFoundError);
    await expect(result).rejects.toThrow(
      `Version no-such-version has no stage for rotation of secret ${arn}`,
    );
    expect(commandNames(fake).filter((name) => WRITES.includes(name))).toEqual([]);
  });

  it.each(STEPS)('%s does nothing when the token is already AWSCURRENT', async (step) => {
    // GIVEN
    const { fake, handler, arn, strategy } = setUp();
    const current = fake.versionOf(arn, 'AWSCURRENT')!;
    const stagesBefore = fake.stages(arn);
    // WHEN
    await handler(stepEvent(arn, current, step));
    // THEN
    expect(fake.stages(arn)).toEqual(stagesBefore);
    expect(commandNames(fake).filter((name) => WRITES.includes(name))).toEqual([]);
    const strategyCalls = step === 'finishSecret' ? ['afterFinish'] : [];
    expect(strategy.calls).toEqual(strategyCalls);
  });

  it.each(STEPS)('%s fails when the token is staged but not AWSPENDING', async (step) => {
    // GIVEN a finished rotation: the old version is AWSPREVIOUS only
    const { fake, handler, arn } = setUp();
    const old = fake.versionOf(arn, 'AWSCURRENT')!;
    const token = fake.startRotation(arn);
    for (const s of STEPS) await handler(stepEvent(arn, token, s));
    // WHEN
    const result = handler(stepEvent(arn, old, step));
    // THEN
    await expect(result).rejects.toThrow(VersionNotPendingError);
    await expect(result).rejects.toThrow(
      `Version ${old} is not set as AWSPENDING for rotation of secret ${arn}`,
    );
  });

  it.each(STEPS)('%s refuses to touch an AWSPENDING that belongs to another rotation', async (step) => {
    // GIVEN a rotation in progress holding AWSPENDING, and a retry arriving for an older version
    const { fake, handler, arn } = setUp();
    const first = fake.startRotation(arn);
    for (const s of STEPS) await handler(stepEvent(arn, first, s));
    const third = fake.startRotation(arn);
    await handler(stepEvent(arn, third, 'createSecret'));
    const pendingValue = fake.valueOf(arn, 'AWSPENDING');
    const stray = fake.versionOf(arn, 'AWSPREVIOUS')!;
    fake.mock.resetHistory();
    // WHEN a retry of an older rotation arrives for a version that is not pending
    const result = handler(stepEvent(arn, stray, step));
    // THEN
    await expect(result).rejects.toThrow(ForeignPendingVersionError);
    await expect(result).rejects.toThrow(
      `has AWSPENDING on version ${third}, not on this rotation's token ${stray}`,
    );
    expect(commandNames(fake).filter((name) => WRITES.includes(name))).toEqual([]);
    expect(fake.versionOf(arn, 'AWSPENDING')).toBe(third);
    expect(fake.valueOf(arn, 'AWSPENDING')).toEqual(pendingValue);
  });

  it('starts the next rotation cleanly when AWSPENDING and AWSCURRENT are left on the same version', async () => {
    // GIVEN the legal leftover of a finished rotation that did not clear AWSPENDING
    const { fake, handler, arn } = setUp();
    const first = fake.startRotation(arn);
    for (const s of ['createSecret', 'setSecret', 'testSecret']) await handler(stepEvent(arn, first, s));
    const secret = fake.secret(arn);
    const old = fake.versionOf(arn, 'AWSCURRENT')!;
    secret.versions.get(old)?.stages.delete('AWSCURRENT');
    secret.versions.get(old)?.stages.add('AWSPREVIOUS');
    secret.versions.get(first)?.stages.add('AWSCURRENT');
    expect(fake.stages(arn)[first]).toEqual(['AWSCURRENT', 'AWSPENDING']);
    // WHEN
    const next = fake.startRotation(arn);
    for (const s of STEPS) await handler(stepEvent(arn, next, s));
    // THEN
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(next);
    expect(fake.versionOf(arn, 'AWSPREVIOUS')).toBe(first);
    expect(fake.stages(arn)[next]).toEqual(['AWSCURRENT', 'AWSPENDING']);
    expect(fake.valueOf(arn).generation).toBe(2);
  });

  describe('AWSPENDING on the AWSCURRENT version is no rotation in progress (RotateSecret API reference)', () => {
    /** A finished rotation as finishSecret leaves it: the token holds AWSCURRENT and AWSPENDING. */
    function finished() {
      const set = setUp();
      const secret = set.fake.secret(set.arn);
      const old = set.fake.versionOf(set.arn, 'AWSCURRENT')!;
      const token = set.fake.startRotation(set.arn);
      secret.versions.get(token)!.secretString = JSON.stringify({ generation: 1 });
      secret.versions.get(old)?.stages.delete('AWSCURRENT');
      secret.versions.get(old)?.stages.add('AWSPREVIOUS');
      secret.versions.get(token)?.stages.add('AWSCURRENT');
      set.fake.mock.resetHistory();
      return { ...set, old, token };
    }

    it.each(STEPS)('%s of an older token fails as not pending, not as a foreign rotation', async (step) => {
      // GIVEN
      const { fake, handler, arn, old } = finished();
      // WHEN
      const result = handler(stepEvent(arn, old, step));
      // THEN
      await expect(result).rejects.toThrow(VersionNotPendingError);
      expect(commandNames(fake).filter((name) => WRITES.includes(name))).toEqual([]);
    });

    it.each(STEPS)('%s of an unknown token fails as not found, not as a foreign rotation', async (step) => {
      // GIVEN
      const { fake, handler, arn } = finished();
      // WHEN
      const result = handler(stepEvent(arn, 'no-such-version', step));
      // THEN
      await expect(result).rejects.toThrow(VersionNotFoundError);
      expect(commandNames(fake).filter((name) => WRITES.includes(name))).toEqual([]);
    });
  });

  it.each(['setSecret', 'testSecret', 'finishSecret'])(
    '%s fails cleanly and changes nothing after an outside PutSecretValue abandoned the rotation',
    async (step) => {
      // GIVEN
      const { fake, handler, arn } = setUp();
      const token = fake.startRotation(arn);
      await handler(stepEvent(arn, token, 'createSecret'));
      if (step !== 'setSecret') await handler(stepEvent(arn, token, 'setSecret'));
      const outside = fake.putFromOutside(arn, { generation: 42, password: 'set-by-an-operator' });
      const stagesBefore = fake.stages(arn);
      fake.mock.resetHistory();
      // WHEN
      const result = handler(stepEvent(arn, token, step));
      // THEN: the token lost its only label, so it is no longer a version staged for rotation
      await expect(result).rejects.toThrow(VersionNotFoundError);
      expect(fake.stages(arn)).toEqual(stagesBefore);
      expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(outside);
      expect(commandNames(fake).filter((name) => WRITES.includes(name))).toEqual([]);
    },
  );
});
