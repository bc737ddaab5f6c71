import { UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { RotationStepError, VersionNotPendingError } from '../../../functions/rotation';
import { STEPS } from '../../helpers/rotate';
import { setUp, stepEvent } from './harness';

async function prepared() {
  const context = setUp();
  const { fake, handler, arn } = context;
  const token = fake.startRotation(arn);
  for (const step of ['createSecret', 'setSecret', 'testSecret']) await handler(stepEvent(arn, token, step));
  return { ...context, token };
}

describe('finishSecret', () => {
  it('moves AWSCURRENT from the version that is current now, read rather than assumed', async () => {
    // GIVEN an operator changed AWSCURRENT after the rotation started
    const { fake, handler, arn, token } = await prepared();
    const original = fake.versionOf(arn, 'AWSCURRENT')!;
    const outside = fake.putFromOutside(arn, { generation: 7, password: 'operator-value' });
    fake.startRotation(arn, token); // the rotation is resumed with its token still pending
    fake.mock.resetHistory();
    // WHEN
    await handler(stepEvent(arn, token, 'finishSecret'));
    // THEN
    expect(fake.mock).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      SecretId: arn,
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: token,
      RemoveFromVersionId: outside,
    });
    expect(fake.versionOf(arn, 'AWSPREVIOUS')).toBe(outside);
    expect(original).not.toBe(outside);
  });

  // The RotateSecret API reference: a rotation may end with AWSPENDING attached to the same version as
  // AWSCURRENT; removing it would be a write the protocol does not need (issue 18).
  it('makes the token AWSCURRENT, the old version AWSPREVIOUS, and leaves AWSPENDING on the token', async () => {
    // GIVEN
    const { fake, handler, arn, token } = await prepared();
    const old = fake.versionOf(arn, 'AWSCURRENT');
    fake.mock.resetHistory();
    // WHEN
    await handler(stepEvent(arn, token, 'finishSecret'));
    // THEN
    expect(fake.stages(arn)[token]).toEqual(['AWSCURRENT', 'AWSPENDING']);
    expect(fake.versionOf(arn, 'AWSPREVIOUS')).toBe(old);
    expect(fake.mock.commandCalls(UpdateSecretVersionStageCommand).map((c) => c.args[0].input)).toEqual([
      { SecretId: arn, VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: old },
    ]);
  });

  it('runs the follow-up work with the new and the previous version', async () => {
    const { fake, handler, arn, token, strategy } = await prepared();
    const old = fake.versionOf(arn, 'AWSCURRENT');
    await handler(stepEvent(arn, token, 'finishSecret'));
    expect(strategy.finishes).toHaveLength(1);
    expect(strategy.finishes[0]).toMatchObject({
      alreadyCurrent: false,
      current: { versionId: token },
      previous: { versionId: old },
    });
  });

  it('changes no label on a retry when the token is already current, but completes the follow-up work', async () => {
    // GIVEN the follow-up work failed after the labels moved
    const { fake, handler, arn, token, strategy } = await prepared();
    const old = fake.versionOf(arn, 'AWSCURRENT');
    strategy.failNext = { hook: 'afterFinish', error: new Error('provider timed out') };
    await expect(handler(stepEvent(arn, token, 'finishSecret'))).rejects.toThrow(RotationStepError);
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
    expect(strategy.finishes).toHaveLength(0);
    fake.mock.resetHistory();
    // WHEN the service retries
    await handler(stepEvent(arn, token, 'finishSecret'));
    // THEN
    expect(fake.mock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
    expect(strategy.finishes).toHaveLength(1);
    expect(strategy.finishes[0]).toMatchObject({ alreadyCurrent: true, previous: { versionId: old } });
  });

  it('a retry after AWSCURRENT moved changes no label and completes the follow-up work', async () => {
    // GIVEN AWSCURRENT moved (the token holds AWSCURRENT and AWSPENDING), then the function died
    const { fake, handler, arn, token, strategy } = await prepared();
    const secret = fake.secret(arn);
    const old = fake.versionOf(arn, 'AWSCURRENT')!;
    secret.versions.get(old)?.stages.delete('AWSCURRENT');
    secret.versions.get(old)?.stages.add('AWSPREVIOUS');
    secret.versions.get(token)?.stages.add('AWSCURRENT');
    fake.mock.resetHistory();
    // WHEN
    await handler(stepEvent(arn, token, 'finishSecret'));
    // THEN
    expect(fake.stages(arn)[token]).toEqual(['AWSCURRENT', 'AWSPENDING']);
    expect(fake.mock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
    expect(strategy.finishes.map((f) => f.alreadyCurrent)).toEqual([true]);
  });

  it('refuses to make a version current that has no value', async () => {
    // GIVEN finishSecret invoked by hand before createSecret ever ran
    const { fake, handler, arn } = setUp();
    const old = fake.versionOf(arn, 'AWSCURRENT');
    const token = fake.startRotation(arn);
    // WHEN
    await expect(handler(stepEvent(arn, token, 'finishSecret'))).rejects.toThrow(VersionNotPendingError);
    // THEN
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(old);
  });

  it('leaves AWSCURRENT working when setSecret or testSecret fails', async () => {
    // GIVEN
    const { fake, handler, arn, strategy } = setUp();
    const old = fake.versionOf(arn, 'AWSCURRENT');
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    await handler(stepEvent(arn, token, 'setSecret'));
    strategy.failNext = { hook: 'test', error: new Error('cannot log in') };
    // WHEN
    await expect(handler(stepEvent(arn, token, 'testSecret'))).rejects.toThrow('cannot log in');
    // THEN
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(old);
    expect(fake.valueOf(arn)).toEqual({ generation: 0, password: 'initial-Pa55word-value' });
  });

  it('rotates ten times in a row, each rotation starting from the previous one', async () => {
    const { fake, handler, arn } = setUp();
    for (let i = 1; i <= 10; i++) {
      const previous = fake.versionOf(arn, 'AWSCURRENT');
      const token = fake.startRotation(arn);
      for (const step of STEPS) await handler(stepEvent(arn, token, step));
      expect(fake.valueOf(arn).generation).toBe(i);
      expect(fake.versionOf(arn, 'AWSPREVIOUS')).toBe(previous);
    }
  });
});
