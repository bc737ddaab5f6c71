import { loadApiKeyConfig } from '../../../functions/api-key/config';

const HTTP = {
  baseUrl: 'https://keys.example.com',
  auth: { secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin-AbCdEf', field: 'token' },
  issue: { url: '/keys', body: { name: '{keyName}' }, keyIdPointer: '/id', keyValuePointer: '/key' },
  check: { url: '/whoami' },
  revoke: { url: '/keys/{keyId}' },
};

const http = (patch: Record<string, unknown>) => ({
  ROTATION_STRATEGY: 'http',
  HTTP_PROVIDER_CONFIG: JSON.stringify({ ...HTTP, ...patch }),
});

describe('loadApiKeyConfig', () => {
  it('reads defaults: a day of grace, 40-character keys, five check attempts', () => {
    // WHEN
    const config = loadApiKeyConfig({ ROTATION_STRATEGY: 'self-issued' });
    // THEN
    expect(config).toMatchObject({
      provider: 'self-issued',
      gracePeriodSeconds: 86_400,
      keyLength: 40,
      checkAttempts: 5,
    });
    expect(config.keyNamePrefix).toBeUndefined();
  });

  it('reads API Gateway usage plans and check URL', () => {
    // WHEN
    const config = loadApiKeyConfig({
      ROTATION_STRATEGY: 'api-gateway',
      API_GATEWAY_USAGE_PLAN_IDS: 'abc123, def456',
      API_GATEWAY_CHECK_URL: 'https://api.example.com/prod/ping',
    });
    // THEN
    expect(config.usagePlanIds).toEqual(['abc123', 'def456']);
    expect(config.apiGatewayCheckUrl).toBe('https://api.example.com/prod/ping');
  });

  it('reads the HTTP provider configuration', () => {
    // WHEN
    const config = loadApiKeyConfig(http({}));
    // THEN
    expect(config.http).toMatchObject({
      issue: { keyIdPointer: '/id', keyValuePointer: '/key' },
      auth: HTTP.auth,
    });
  });

  it.each([
    [{}, 'ROTATION_STRATEGY is required: one of api-gateway, http, self-issued'],
    [
      { ROTATION_STRATEGY: 'vault' },
      "ROTATION_STRATEGY must be one of api-gateway, http, self-issued, got 'vault'",
    ],
    [{ ROTATION_STRATEGY: 'http', ROTATION_KIND: 'database' }, "ROTATION_KIND must be 'api-key'"],
    [
      { ROTATION_STRATEGY: 'self-issued', API_KEY_GRACE_PERIOD_SECONDS: '30' },
      'API_KEY_GRACE_PERIOD_SECONDS must be between 60 and 2592000',
    ],
    [{ ROTATION_STRATEGY: 'self-issued', API_KEY_LENGTH: '12' }, 'API_KEY_LENGTH must be between 20 and 128'],
    [
      { ROTATION_STRATEGY: 'self-issued', API_KEY_CHECK_ATTEMPTS: 'many' },
      "API_KEY_CHECK_ATTEMPTS must be an integer, got 'many'",
    ],
    [
      { ROTATION_STRATEGY: 'self-issued', API_KEY_NAME_PREFIX: 'a b' },
      'API_KEY_NAME_PREFIX must be at most 128 characters',
    ],
    [
      { ROTATION_STRATEGY: 'api-gateway' },
      'API_GATEWAY_USAGE_PLAN_IDS is required for the api-gateway provider',
    ],
    [
      { ROTATION_STRATEGY: 'api-gateway', API_GATEWAY_USAGE_PLAN_IDS: 'abc,../x' },
      "API_GATEWAY_USAGE_PLAN_IDS must list usage plan ids (letters and digits), got '../x'",
    ],
    [
      {
        ROTATION_STRATEGY: 'api-gateway',
        API_GATEWAY_USAGE_PLAN_IDS: 'abc',
        API_GATEWAY_CHECK_URL: 'http://api.example.com/',
      },
      'API_GATEWAY_CHECK_URL must be an https URL',
    ],
    [{ ROTATION_STRATEGY: 'http' }, 'HTTP_PROVIDER_CONFIG is required for the http provider'],
    [
      { ROTATION_STRATEGY: 'http', HTTP_PROVIDER_CONFIG: '{"issue":' },
      'HTTP_PROVIDER_CONFIG is not valid JSON',
    ],
    [http({ baseUrl: 'http://keys.example.com' }), 'HTTP_PROVIDER_CONFIG.baseUrl must use https'],
    [
      http({ issue: { ...HTTP.issue, keyIdPointer: 'id' } }),
      'HTTP_PROVIDER_CONFIG.issue.keyIdPointer must be a JSON pointer',
    ],
    [
      http({ issue: { url: '/keys', keyIdPointer: '/id' } }),
      "HTTP_PROVIDER_CONFIG.issue must either read the provider's key with keyValuePointer or send ours as {apiKey}",
    ],
    [
      http({ issue: { url: '/keys', body: { key: '{apiKey}' }, keyIdPointer: '/id' } }),
      'HTTP_PROVIDER_CONFIG.list is required when HTTP_PROVIDER_CONFIG.issue sends our key',
    ],
    [
      http({ check: { url: '/check?key={apiKey}' } }),
      'HTTP_PROVIDER_CONFIG.check.url must not contain {apiKey}',
    ],
    [
      http({ revoke: { url: '/keys/{id}' } }),
      'HTTP_PROVIDER_CONFIG.revoke.url uses {id}, which this operation does not know',
    ],
    [http({ revoke: undefined }), 'HTTP_PROVIDER_CONFIG.revoke is required'],
    [
      http({ revoke: { url: 'keys/{keyId}' } }),
      'HTTP_PROVIDER_CONFIG.revoke.url must be an absolute https URL or a path',
    ],
    [
      http({ check: { url: '/whoami', method: 'TRACE' } }),
      'HTTP_PROVIDER_CONFIG.check.method must be one of',
    ],
    [
      http({ check: { url: '/whoami', keyHeader: 'bad header' } }),
      "HTTP_PROVIDER_CONFIG.check.keyHeader: 'bad header' is not a valid header name",
    ],
    [
      http({ revoke: { url: '/keys/{keyId}', absentStatus: [404, 1000] } }),
      'HTTP_PROVIDER_CONFIG.revoke.absentStatus must be a non-empty array',
    ],
    [
      http({ auth: { secretArn: 'admin-secret' } }),
      'HTTP_PROVIDER_CONFIG.auth.secretArn must be a Secrets Manager secret ARN',
    ],
    [http({ timeoutMs: 10 }), 'HTTP_PROVIDER_CONFIG.timeoutMs must be an integer from 100 to 60000'],
  ])('rejects %j with a message naming the variable', (env, message) => {
    expect(() => loadApiKeyConfig(env as Record<string, string>)).toThrow(message);
  });

  it('allows plain http to the local machine only (local mode and tests)', () => {
    expect(() => loadApiKeyConfig(http({ baseUrl: 'http://127.0.0.1:8080' }))).not.toThrow();
    expect(() => loadApiKeyConfig(http({ baseUrl: 'http://[::1]:8080' }))).not.toThrow();
    expect(() => loadApiKeyConfig(http({ baseUrl: 'http://localhost.example.com' }))).toThrow(
      'must use https',
    );
  });
});
