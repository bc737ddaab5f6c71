import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { checkOverdue, loadOverdueConfig, overdueMetrics } from '../../../functions/overdue/check';
import { ConfigurationError } from '../../../functions/rotation';

describe('overdue rotation check', () => {
  const now = new Date('2026-11-24T12:00:00Z');
  const client = new SecretsManagerClient({ region: 'us-east-1' });
  const sm = mockClient(client);
  beforeEach(() => sm.reset());

  it('flags a secret whose next rotation is past by more than the margin, and one with rotation disabled', async () => {
    sm.on(DescribeSecretCommand, { SecretId: 'on-time' }).resolves({
      Name: 'on-time',
      RotationEnabled: true,
      NextRotationDate: new Date('2026-11-24T11:30:00Z'),
    });
    sm.on(DescribeSecretCommand, { SecretId: 'late' }).resolves({
      Name: 'late',
      RotationEnabled: true,
      NextRotationDate: new Date('2026-11-24T10:00:00Z'),
    });
    sm.on(DescribeSecretCommand, { SecretId: 'disabled' }).resolves({
      Name: 'disabled',
      RotationEnabled: false,
    });
    const metrics = overdueMetrics();
    const results = await checkOverdue(
      client,
      { secretIds: ['on-time', 'late', 'disabled'], marginSeconds: 3600 },
      metrics,
      now,
    );
    expect(results.map((r) => [r.secret, r.overdue])).toEqual([
      ['on-time', false],
      ['late', true],
      ['disabled', true],
    ]);
  });

  it('requires SECRET_IDS', () => {
    expect(() => loadOverdueConfig({})).toThrow(ConfigurationError);
    expect(loadOverdueConfig({ SECRET_IDS: 'a, b' }).secretIds).toEqual(['a', 'b']);
  });
});
