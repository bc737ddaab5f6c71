import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { setUpJwt } from './harness';

describe('PROTOCOL "RotateImmediately=false" with JWT signing keys', () => {
  it('passes testSecret alone on a never-rotated key set and writes nothing', async () => {
    // GIVEN the temporary AWSPENDING copies AWSCURRENT, the bootstrap value
    const { fake, arn, step, s3 } = setUpJwt();
    const token = fake.startRotation(arn);
    await fake.client.send(
      new PutSecretValueCommand({
        SecretId: arn,
        ClientRequestToken: token,
        SecretString: '{}',
        VersionStages: ['AWSPENDING'],
      }),
    );
    fake.mock.resetHistory();
    // WHEN
    await step(token, 'testSecret');
    // THEN
    expect(fake.mock).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(s3.puts).toEqual([]);
  });

  it('refuses a bootstrap AWSPENDING that is not a copy of AWSCURRENT: it would leave signers without a key', async () => {
    // GIVEN
    const { fake, arn, step } = setUpJwt();
    const token = fake.startRotation(arn);
    await fake.client.send(
      new PutSecretValueCommand({
        SecretId: arn,
        ClientRequestToken: token,
        SecretString: '{"keys":[]}',
        VersionStages: ['AWSPENDING'],
      }),
    );
    // WHEN / THEN
    await expect(step(token, 'testSecret')).rejects.toThrow("field 'keys' is empty");
  });
});
