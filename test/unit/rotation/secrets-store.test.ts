import { SecretsStore } from '../../../functions/rotation';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';

describe('SecretsStore.getVersion', () => {
  it('answers no version when the version no longer holds the stage asked for (InvalidRequestException)', async () => {
    // GIVEN a version whose AWSPENDING was cleared, as a concurrent finishSecret does
    const fake = new FakeSecretsManager();
    const arn = fake.createSecret('app/store', { password: 'store-value-1' });
    const token = fake.startRotation(arn);
    await new SecretsStore(fake.client).putPending(arn, token, '{"password":"store-value-2"}', undefined);
    fake.secret(arn).versions.get(token)?.stages.delete('AWSPENDING');
    // WHEN
    const version = await new SecretsStore(fake.client).getVersion(arn, {
      versionId: token,
      stage: 'AWSPENDING',
    });
    // THEN
    expect(version).toBeUndefined();
  });

  it('answers no version for a version that does not exist', async () => {
    const fake = new FakeSecretsManager();
    const arn = fake.createSecret('app/store', { password: 'store-value-1' });
    const version = await new SecretsStore(fake.client).getVersion(arn, {
      versionId: '00000000-0000-4000-8000-000000000000',
      stage: 'AWSPENDING',
    });
    expect(version).toBeUndefined();
  });

  it('keeps InvalidRequestException when it does not mean a stage mismatch', async () => {
    // GIVEN a service that refuses the secret itself (marked for deletion)
    const fake = new FakeSecretsManager();
    const arn = fake.createSecret('app/store', { password: 'store-value-1' });
    const refusal = Object.assign(
      new Error('You tried to perform the operation on a secret marked deleted.'),
      {
        name: 'InvalidRequestException',
      },
    );
    fake.mock.rejects(refusal);
    // WHEN / THEN
    await expect(new SecretsStore(fake.client).getVersion(arn, { stage: 'AWSCURRENT' })).rejects.toThrow(
      'marked deleted',
    );
  });
});
