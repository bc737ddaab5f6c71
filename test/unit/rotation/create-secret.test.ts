import { GetRandomPasswordCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import {
  CurrentVersionMissingError,
  InvalidSecretValueError,
  type RotationContext,
} from '../../../functions/rotation';
import { setUp, stepEvent } from './harness';

describe('createSecret', () => {
  it('puts the new value with VersionStages AWSPENDING only, under the token', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp();
    const token = fake.startRotation(arn);
    // WHEN
    await handler(stepEvent(arn, token, 'createSecret'));
    // THEN
    const puts = fake.mock.commandCalls(PutSecretValueCommand);
    expect(puts).toHaveLength(1);
    expect(puts[0]?.args[0].input).toMatchObject({
      SecretId: arn,
      ClientRequestToken: token,
      VersionStages: ['AWSPENDING'],
    });
    expect(fake.versionOf(arn, 'AWSPENDING')).toBe(token);
    expect(fake.valueOf(arn, 'AWSCURRENT')).toEqual({ generation: 0, password: 'initial-Pa55word-value' });
    expect(fake.valueOf(arn, 'AWSPENDING').generation).toBe(1);
  });

  it('creates no new version when the token already has an AWSPENDING value', async () => {
    // GIVEN
    const { fake, handler, arn, strategy } = setUp();
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    const pending = fake.valueOf(arn, 'AWSPENDING');
    fake.mock.resetHistory();
    // WHEN
    await handler(stepEvent(arn, token, 'createSecret'));
    // THEN
    expect(fake.mock).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(fake.mock).not.toHaveReceivedCommand(GetRandomPasswordCommand);
    expect(fake.valueOf(arn, 'AWSPENDING')).toEqual(pending);
    expect(strategy.calls).toEqual(['createPending']);
  });

  it('generates the password through GetRandomPassword with the configured length and exclusions', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp({ config: { passwordLength: 48, excludeCharacters: '/@"\'\\' } });
    const token = fake.startRotation(arn);
    // WHEN
    await handler(stepEvent(arn, token, 'createSecret'));
    // THEN
    expect(fake.mock).toHaveReceivedCommandWith(GetRandomPasswordCommand, {
      PasswordLength: 48,
      ExcludeCharacters: '/@"\'\\',
    });
    const password = fake.valueOf<{ password: string }>(arn, 'AWSPENDING').password;
    expect(password).toHaveLength(48);
    expect(password).not.toMatch(/[/@"'\\]/);
  });

  it("adds a strategy's own exclusions to the configured ones", async () => {
    // GIVEN
    const { fake, handler, arn, strategy } = setUp({ config: { excludeCharacters: '/@' } });
    strategy.createPending = async (context: RotationContext) => {
      const password = await context.passwords.generate({ excludeCharacters: '@;%', length: 20 });
      return JSON.stringify({ generation: 1, password });
    };
    const token = fake.startRotation(arn);
    // WHEN
    await handler(stepEvent(arn, token, 'createSecret'));
    // THEN
    expect(fake.mock).toHaveReceivedCommandWith(GetRandomPasswordCommand, {
      PasswordLength: 20,
      ExcludeCharacters: '/@;%',
    });
  });

  it('fails with an error naming the field when AWSCURRENT has the wrong shape, and puts nothing', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp();
    fake.putFromOutside(arn, { generation: 'three', password: 'x-password-x' });
    const token = fake.startRotation(arn);
    // WHEN
    const result = handler(stepEvent(arn, token, 'createSecret'));
    // THEN
    await expect(result).rejects.toThrow(InvalidSecretValueError);
    await expect(result).rejects.toThrow("field 'generation' must be a number");
    expect(fake.mock).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  it('fails with an error naming the value when AWSCURRENT is not JSON, without quoting it', async () => {
    const { fake, handler, arn } = setUp();
    fake.putFromOutside(arn, 'not-json-but-a-secret');
    const token = fake.startRotation(arn);
    const result = handler(stepEvent(arn, token, 'createSecret'));
    await expect(result).rejects.toThrow("field '(value)' is not JSON");
    await expect(result).rejects.not.toThrow('not-json-but-a-secret');
  });

  it('fails when the secret has no AWSCURRENT value', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp();
    const secret = fake.secret(arn);
    for (const version of secret.versions.values()) version.secretString = undefined;
    const token = fake.startRotation(arn);
    // WHEN / THEN
    await expect(handler(stepEvent(arn, token, 'createSecret'))).rejects.toThrow(CurrentVersionMissingError);
    expect(fake.mock).not.toHaveReceivedCommand(PutSecretValueCommand);
  });
});
