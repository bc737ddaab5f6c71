import { loadOverdueConfig, secretIdsToCheck } from '../../../functions/overdue/check';
import { ConfigurationError } from '../../../functions/rotation';

// RotationAlarms sends the watched secrets in the scheduled event, not in SECRET_IDS (4 KB for all of them).
describe('the secrets the overdue check reads', () => {
  it("takes the scheduled event's SecretIds when SECRET_IDS is not set", () => {
    // prepare
    const config = loadOverdueConfig({ OVERDUE_MARGIN_SECONDS: '600' }, { secretIdsFromEvent: true });
    // act
    const ids = secretIdsToCheck(config, { SecretIds: ['arn:one', 'arn:two'] });
    // assess
    expect(ids).toEqual(['arn:one', 'arn:two']);
    expect(config.marginSeconds).toBe(600);
  });

  it('falls back to SECRET_IDS for an event without SecretIds', () => {
    const config = loadOverdueConfig({ SECRET_IDS: 'arn:env' }, { secretIdsFromEvent: true });
    expect(secretIdsToCheck(config, {})).toEqual(['arn:env']);
  });

  it('fails with a clear error when neither names a secret', () => {
    const config = loadOverdueConfig({}, { secretIdsFromEvent: true });
    expect(() => secretIdsToCheck(config, { SecretIds: [] })).toThrow(ConfigurationError);
    expect(() => secretIdsToCheck(config, undefined)).toThrow('neither the event SecretIds nor SECRET_IDS');
  });

  it('still requires SECRET_IDS when the event is not the source', () => {
    expect(() => loadOverdueConfig({})).toThrow(ConfigurationError);
  });
});
