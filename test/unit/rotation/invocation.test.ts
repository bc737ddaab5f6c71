import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { InvalidEventError, parseRotationEvent, RotationStepError } from '../../../functions/rotation';
import { STEPS } from '../../helpers/rotate';
import { commandNames, INITIAL, setUp, stepEvent, WRITES } from './harness';

describe('invocation', () => {
  it.each([
    ['createSecret', 'createSecret'],
    ['create_secret', 'createSecret'],
    ['setSecret', 'setSecret'],
    ['set_secret', 'setSecret'],
    ['testSecret', 'testSecret'],
    ['test_secret', 'testSecret'],
    ['finishSecret', 'finishSecret'],
    ['finish_secret', 'finishSecret'],
  ])('accepts the step spelling %s as %s', (spelling, step) => {
    expect(parseRotationEvent({ SecretId: 's', ClientRequestToken: 't', Step: spelling }).step).toBe(step);
  });

  it('runs a whole rotation with the snake_case spellings', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp();
    const token = fake.startRotation(arn);
    // WHEN
    for (const step of ['create_secret', 'set_secret', 'test_secret', 'finish_secret']) {
      await handler(stepEvent(arn, token, step));
    }
    // THEN
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
  });

  it.each([
    [{ ClientRequestToken: 't', Step: 'createSecret' }, "missing required field 'SecretId'"],
    [{ SecretId: 's', Step: 'createSecret' }, "missing required field 'ClientRequestToken'"],
    [{ SecretId: 's', ClientRequestToken: 't' }, "missing required field 'Step'"],
    [
      { SecretId: '', ClientRequestToken: 't', Step: 'createSecret' },
      "'SecretId' must be a non-empty string",
    ],
    [
      { SecretId: 's', ClientRequestToken: 7, Step: 'createSecret' },
      "'ClientRequestToken' must be a non-empty string",
    ],
    [{ SecretId: 's', ClientRequestToken: 't', Step: 'rollback' }, "'Step' has unknown value 'rollback'"],
    [
      { SecretId: 's', ClientRequestToken: 't', Step: 'setSecret', RotationToken: 5 },
      "'RotationToken' must be a string",
    ],
  ])('rejects the malformed event %j with a clear error and touches nothing', async (event, message) => {
    // GIVEN
    const { fake, handler, eventBridge } = setUp();
    // WHEN
    const result = handler(event);
    // THEN
    await expect(result).rejects.toThrow(InvalidEventError);
    await expect(result).rejects.toThrow(message);
    expect(fake.mock.calls()).toHaveLength(0);
    expect(eventBridge.calls()).toHaveLength(0);
  });

  it('rejects an event that is not an object', async () => {
    const { handler } = setUp();
    await expect(handler('createSecret')).rejects.toThrow(InvalidEventError);
    await expect(handler(null)).rejects.toThrow(InvalidEventError);
  });

  it('passes the RotationToken on to PutSecretValue', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp();
    const token = fake.startRotation(arn);
    // WHEN
    await handler(stepEvent(arn, token, 'createSecret', { RotationToken: 'cross-account-token' }));
    // THEN
    expect(fake.mock).toHaveReceivedCommandWith(PutSecretValueCommand, {
      ClientRequestToken: token,
      RotationToken: 'cross-account-token',
    });
  });

  it('omits RotationToken from PutSecretValue when the event has none', async () => {
    const { fake, handler, arn } = setUp();
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    const put = fake.mock.commandCalls(PutSecretValueCommand)[0]?.args[0].input;
    expect(put).toBeDefined();
    expect(put).not.toHaveProperty('RotationToken');
  });

  it('reaches the same state when every step runs twice', async () => {
    // GIVEN
    const { fake, handler, arn, strategy } = setUp();
    const token = fake.startRotation(arn);
    // WHEN
    for (const step of STEPS) {
      await handler(stepEvent(arn, token, step));
      await handler(stepEvent(arn, token, step));
    }
    // THEN
    expect(fake.stages(arn)[token]).toEqual(['AWSCURRENT', 'AWSPENDING']);
    expect(fake.valueOf(arn).generation).toBe(1);
    expect(fake.mock.commandCalls(PutSecretValueCommand)).toHaveLength(1);
    expect(strategy.calls.filter((c) => c === 'createPending')).toHaveLength(1);
    // The retried finishSecret still completes the follow-up work.
    expect(strategy.finishes.map((f) => f.alreadyCurrent)).toEqual([false, true]);
  });

  it('keeps one pending value when two createSecret run concurrently', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp();
    const token = fake.startRotation(arn);
    // WHEN
    await Promise.all([
      handler(stepEvent(arn, token, 'createSecret')),
      handler(stepEvent(arn, token, 'createSecret')),
    ]);
    // THEN
    const pending = fake.valueOf(arn, 'AWSPENDING');
    await handler(stepEvent(arn, token, 'createSecret'));
    expect(fake.valueOf(arn, 'AWSPENDING')).toEqual(pending);
  });

  it('moves AWSCURRENT once when two finishSecret run concurrently', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp();
    const before = fake.versionOf(arn, 'AWSCURRENT');
    const token = fake.startRotation(arn);
    for (const step of ['createSecret', 'setSecret', 'testSecret'])
      await handler(stepEvent(arn, token, step));
    // WHEN
    await Promise.all([
      handler(stepEvent(arn, token, 'finishSecret')),
      handler(stepEvent(arn, token, 'finishSecret')),
    ]);
    // THEN
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
    expect(fake.versionOf(arn, 'AWSPREVIOUS')).toBe(before);
    expect(fake.stages(arn)[token]).toEqual(['AWSCURRENT', 'AWSPENDING']);
  });

  it('PROTOCOL "RotateImmediately=false": runs testSecret alone against a temporary copy of AWSCURRENT, changing nothing', async () => {
    // GIVEN what the service stages for RotateImmediately=false: no createSecret, no setSecret before
    const { fake, handler, arn, strategy } = setUp();
    strategy.accepted.add(INITIAL.password); // the target accepts the current password, as a database does
    const token = fake.startConfigurationTest(arn);
    const stagesBefore = fake.stages(arn);
    fake.mock.resetHistory();
    // WHEN
    await handler(stepEvent(arn, token, 'testSecret'));
    // THEN
    expect(commandNames(fake).filter((name) => WRITES.includes(name))).toEqual([]);
    expect(fake.stages(arn)).toEqual(stagesBefore);
    expect(strategy.calls).toEqual(['test']);
  });

  it('wraps a strategy failure in a RotationStepError naming the secret, step and token', async () => {
    // GIVEN
    const { fake, handler, arn, strategy } = setUp();
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    strategy.failNext = { hook: 'set', error: new TypeError('connection refused') };
    // WHEN
    const result = handler(stepEvent(arn, token, 'setSecret'));
    // THEN
    await expect(result).rejects.toThrow(RotationStepError);
    await expect(result).rejects.toThrow(`setSecret failed for secret ${arn} (version ${token})`);
    await expect(handler(stepEvent(arn, token, 'setSecret'))).resolves.toBeUndefined();
  });
});
