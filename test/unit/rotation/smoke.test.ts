import { createRotationHandler, loadRotationConfig } from '../../../functions/rotation';
import { CounterStrategy } from '../../helpers/counter-strategy';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { rotateOnce } from '../../helpers/rotate';

describe('a full rotation with the counter strategy', () => {
  it('moves AWSCURRENT to a new value three times in a row', async () => {
    const fake = new FakeSecretsManager();
    const strategy = new CounterStrategy();
    const arn = fake.createSecret('app', { generation: 0, password: 'initial-password' });
    const handler = createRotationHandler({
      strategy,
      secretsManager: fake.client,
      config: loadRotationConfig({}),
    });
    for (let i = 1; i <= 3; i++) {
      const token = await rotateOnce(fake, handler, arn);
      expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
      expect(fake.valueOf(arn).generation).toBe(i);
      expect(fake.versionOf(arn, 'AWSPENDING')).toBeUndefined();
    }
  });
});
