import { ConfigurationError, loadRotationConfig } from '../../../functions/rotation';

describe('configuration', () => {
  it('has safe defaults', () => {
    expect(loadRotationConfig({})).toEqual({
      eventBusName: undefined,
      passwordLength: 32,
      excludeCharacters: '/@"\'\\',
    });
  });

  it('reads every variable', () => {
    expect(
      loadRotationConfig({ EVENT_BUS_NAME: ' bus ', PASSWORD_LENGTH: '64', EXCLUDE_CHARACTERS: ':/' }),
    ).toEqual({ eventBusName: 'bus', passwordLength: 64, excludeCharacters: ':/' });
  });

  it.each([
    ['abc', "PASSWORD_LENGTH must be an integer, got 'abc'"],
    ['12.5', "PASSWORD_LENGTH must be an integer, got '12.5'"],
    ['4', 'PASSWORD_LENGTH must be between 8 and 4096, got 4'],
    ['5000', 'PASSWORD_LENGTH must be between 8 and 4096, got 5000'],
  ])('rejects PASSWORD_LENGTH=%s with a message naming the variable', (value, message) => {
    expect(() => loadRotationConfig({ PASSWORD_LENGTH: value })).toThrow(ConfigurationError);
    expect(() => loadRotationConfig({ PASSWORD_LENGTH: value })).toThrow(message);
  });
});
