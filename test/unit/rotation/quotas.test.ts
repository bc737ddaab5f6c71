import { PutSecretValueCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { STEPS } from '../../helpers/rotate';
import { setUp, stepEvent } from './harness';

describe('PROTOCOL "Quotas": only the writes the protocol needs', () => {
  // The RotateSecret API reference: a rotation may end with AWSPENDING on the same version as AWSCURRENT, so
  // finishSecret does not spend a write removing it.
  it('a rotation writes one PutSecretValue and one UpdateSecretVersionStage (AWSCURRENT)', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp();
    const token = fake.startRotation(arn);
    // WHEN
    for (const step of STEPS) await handler(stepEvent(arn, token, step));
    // THEN
    expect(fake.mock.commandCalls(PutSecretValueCommand)).toHaveLength(1);
    expect(
      fake.mock.commandCalls(UpdateSecretVersionStageCommand).map((c) => c.args[0].input.VersionStage),
    ).toEqual(['AWSCURRENT']);
    expect(fake.stages(arn)[token]).toEqual(['AWSCURRENT', 'AWSPENDING']);
  });

  it('a re-run of every step after the rotation writes nothing', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp();
    const token = fake.startRotation(arn);
    for (const step of STEPS) await handler(stepEvent(arn, token, step));
    fake.mock.resetHistory();
    // WHEN the service (or an operator) invokes every step again with the same token
    for (const step of STEPS) await handler(stepEvent(arn, token, step));
    // THEN
    expect(fake.mock.commandCalls(PutSecretValueCommand)).toHaveLength(0);
    expect(fake.mock.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  it('a duplicate finishSecret sends at most one update of AWSCURRENT per racer, and puts nothing', async () => {
    // GIVEN two finishSecret that read the labels before either moves them
    const { fake, handler, arn } = setUp();
    const token = fake.startRotation(arn);
    for (const step of STEPS.slice(0, 3)) await handler(stepEvent(arn, token, step));
    fake.mock.resetHistory();
    fake.barrier('DescribeSecret', 2);
    // WHEN
    await Promise.all([
      handler(stepEvent(arn, token, 'finishSecret')),
      handler(stepEvent(arn, token, 'finishSecret')),
    ]);
    // THEN
    const updates = fake.mock
      .commandCalls(UpdateSecretVersionStageCommand)
      .map((c) => c.args[0].input.VersionStage);
    expect(updates).toEqual(['AWSCURRENT', 'AWSCURRENT']);
    expect(fake.mock.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });
});
