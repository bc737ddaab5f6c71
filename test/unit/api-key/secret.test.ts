import { buildApiKeySecret, parseApiKeySecret } from '../../../functions/api-key/secret';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-AbCdEf';
const KEY = 'a-key-that-must-never-be-quoted-0123';

describe('parseApiKeySecret', () => {
  it('reads provider, key id and key, and keeps every other field', () => {
    const parsed = parseApiKeySecret(
      ARN,
      'AWSCURRENT',
      JSON.stringify({ provider: 'http', keyId: 'k1', apiKey: KEY, header: 'x-api-key', url: 'https://x' }),
      'http',
    );
    expect(parsed).toEqual({
      provider: 'http',
      keyId: 'k1',
      apiKey: KEY,
      extra: { header: 'x-api-key', url: 'https://x' },
    });
  });

  it('accepts the minimal shape {"apiKey"}', () => {
    expect(parseApiKeySecret(ARN, 'AWSCURRENT', JSON.stringify({ apiKey: KEY }), 'self-issued').apiKey).toBe(
      KEY,
    );
  });

  it.each([
    [`{"apiKey": "${KEY}"`, "'(value)' is not JSON"],
    [JSON.stringify([KEY]), "'(value)' is not a JSON object"],
    [JSON.stringify({ apiKey: 42 }), "'apiKey' must be a non-empty string"],
    [JSON.stringify({ apiKey: KEY, provider: 7 }), "'provider' must be a string"],
  ])('rejects %s naming the stage and field, never quoting the value', (value, message) => {
    let error: Error | undefined;
    try {
      parseApiKeySecret(ARN, 'AWSPENDING', value, 'http');
    } catch (e) {
      error = e as Error;
    }
    expect(error?.name).toBe('InvalidSecretValueError');
    expect(error?.message).toContain(`${ARN} (AWSPENDING): field ${message}`);
    expect(error?.message).not.toContain(KEY);
  });
});

describe('buildApiKeySecret', () => {
  it('writes the new key and key id over the current fields, and never carries the old key id over', () => {
    const current = parseApiKeySecret(
      ARN,
      'AWSCURRENT',
      JSON.stringify({ keyId: 'old', apiKey: 'old-key', team: 'orders' }),
      'http',
    );
    expect(JSON.parse(buildApiKeySecret(current, { provider: 'http', apiKey: KEY }))).toEqual({
      team: 'orders',
      provider: 'http',
      apiKey: KEY,
    });
    expect(
      JSON.parse(buildApiKeySecret(current, { provider: 'http', keyId: 'new', apiKey: KEY })),
    ).toMatchObject({
      keyId: 'new',
    });
  });
});
