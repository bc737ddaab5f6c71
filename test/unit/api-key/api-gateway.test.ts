import { Logger } from '@aws-lambda-powertools/logger';
import {
  APIGatewayClient,
  APIGatewayServiceException,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
  GetApiKeyCommand,
  GetApiKeysCommand,
  GetUsagePlanKeyCommand,
  GetUsagePlansCommand,
} from '@aws-sdk/client-api-gateway';
import { mockClient } from 'aws-sdk-client-mock';
import { ApiGatewayProvider } from '../../../functions/api-key/providers/api-gateway';
import type { ProviderContext } from '../../../functions/api-key/providers/provider';

const KEY = 'NewKeyValue0123456789abcdefghij';
const NAME = 'orders/api-key-0b0e6f6c-1f4d-4d7e-9e55-5d3a1c2b9f00';
const CURRENT = { keyId: 'cur111', name: 'orders/api-key-initial' };
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders/api-key-AbCdEf';

function apiError(name: string, status: number, message = 'refused'): APIGatewayServiceException {
  return new APIGatewayServiceException({
    name,
    message,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
  });
}

function setUp(options: { plans?: string[]; checkUrl?: string; fetch?: typeof fetch } = {}) {
  const client = new APIGatewayClient({ region: 'eu-west-1' });
  const mock = mockClient(client);
  const redacted: string[] = [];
  const context: ProviderContext = {
    logger: new Logger({ logLevel: 'SILENT' }),
    redact: (value) => redacted.push(value),
    readSecret: async () => {
      throw new Error('not used');
    },
  };
  const provider = new ApiGatewayProvider({
    client,
    usagePlanIds: options.plans ?? ['planA', 'planB'],
    checkAttempts: 3,
    sleep: async () => {},
    ...(options.checkUrl ? { checkUrl: options.checkUrl } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return { mock, provider, context, redacted };
}

const writes = (mock: ReturnType<typeof mockClient>) =>
  mock.calls().filter((c) => /Create|Delete|Update/.test((c.args[0] as object).constructor.name));

describe('ApiGatewayProvider.issue', () => {
  it('creates an enabled key under the rotation name with our value and attaches it to the plans of the current key', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock.on(GetUsagePlansCommand, { keyId: 'cur111' }).resolves({ items: [{ id: 'planA' }] });
    mock.on(GetApiKeysCommand).resolves({ items: [] });
    mock.on(CreateApiKeyCommand).resolves({ id: 'new222' });
    mock.on(GetUsagePlanKeyCommand).rejects(apiError('NotFoundException', 404));
    mock.on(CreateUsagePlanKeyCommand).resolves({});
    // WHEN
    const issued = await provider.issue(context, {
      name: NAME,
      token: 't',
      value: KEY,
      replaces: CURRENT,
      secretArn: ARN,
    });
    // THEN
    expect(issued).toEqual({ keyId: 'new222' });
    expect(mock).toHaveReceivedCommandWith(CreateApiKeyCommand, {
      name: NAME,
      value: KEY,
      enabled: true,
      description: `Rotated by secret-rotation for ${ARN}`,
    });
    expect(mock).toHaveReceivedCommandTimes(CreateUsagePlanKeyCommand, 1);
    expect(mock).toHaveReceivedCommandWith(CreateUsagePlanKeyCommand, {
      usagePlanId: 'planA',
      keyId: 'new222',
      keyType: 'API_KEY',
    });
  });

  it('on a retry finds the key by its exact name (nameQuery also matches longer names) and attaches only what is missing', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock.on(GetUsagePlansCommand).resolves({ items: [{ id: 'planA' }, { id: 'planB' }] });
    mock.on(GetApiKeysCommand, { nameQuery: NAME }).resolves({
      items: [
        { id: 'other9', name: `${NAME}-copy` },
        { id: 'new222', name: NAME },
      ],
    });
    mock.on(GetUsagePlanKeyCommand, { usagePlanId: 'planA' }).resolves({ id: 'new222' });
    mock.on(GetUsagePlanKeyCommand, { usagePlanId: 'planB' }).rejects(apiError('NotFoundException', 404));
    mock.on(CreateUsagePlanKeyCommand).resolves({});
    // WHEN
    const issued = await provider.issue(context, {
      name: NAME,
      token: 't',
      value: KEY,
      replaces: CURRENT,
      secretArn: ARN,
    });
    // THEN
    expect(issued).toEqual({ keyId: 'new222' });
    expect(mock).not.toHaveReceivedCommand(CreateApiKeyCommand);
    expect(mock).toHaveReceivedCommandTimes(CreateUsagePlanKeyCommand, 1);
    expect(mock).toHaveReceivedCommandWith(CreateUsagePlanKeyCommand, {
      usagePlanId: 'planB',
      keyId: 'new222',
    });
  });

  it('refuses, creating nothing, when the current key is in a usage plan it may not attach keys to', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock.on(GetUsagePlansCommand).resolves({ items: [{ id: 'planA' }, { id: 'planX' }] });
    // WHEN
    const failure = provider.issue(context, {
      name: NAME,
      token: 't',
      value: KEY,
      replaces: CURRENT,
      secretArn: ARN,
    });
    // THEN
    await expect(failure).rejects.toThrow(
      'the current key is also in usage plan(s) planX, which API_GATEWAY_USAGE_PLAN_IDS does not list',
    );
    expect(writes(mock)).toEqual([]);
  });

  it('attaches to every configured plan when the current key is in none', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock.on(GetUsagePlansCommand).resolves({ items: [] });
    mock.on(GetApiKeysCommand).resolves({ items: [] });
    mock.on(CreateApiKeyCommand).resolves({ id: 'new222' });
    mock.on(GetUsagePlanKeyCommand).rejects(apiError('NotFoundException', 404));
    mock.on(CreateUsagePlanKeyCommand).resolves({});
    // WHEN
    await provider.issue(context, { name: NAME, token: 't', value: KEY, replaces: CURRENT, secretArn: ARN });
    // THEN
    expect(mock.commandCalls(CreateUsagePlanKeyCommand).map((c) => c.args[0].input.usagePlanId)).toEqual([
      'planA',
      'planB',
    ]);
  });

  it('continues with the key a concurrent setSecret created when API Gateway reports the value exists', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock.on(GetUsagePlansCommand).resolves({ items: [{ id: 'planA' }] });
    mock
      .on(GetApiKeysCommand)
      .resolvesOnce({ items: [] })
      .resolves({ items: [{ id: 'new222', name: NAME }] });
    mock.on(CreateApiKeyCommand).rejects(apiError('ConflictException', 409, 'API Key already exists'));
    mock.on(GetUsagePlanKeyCommand).resolves({ id: 'new222' });
    // WHEN
    const issued = await provider.issue(context, {
      name: NAME,
      token: 't',
      value: KEY,
      replaces: CURRENT,
      secretArn: ARN,
    });
    // THEN
    expect(issued).toEqual({ keyId: 'new222' });
  });

  it('reports an API Gateway error by name and status, never by its message', async () => {
    // GIVEN an error message that quotes the request
    const { mock, provider, context } = setUp();
    mock.on(GetUsagePlansCommand).resolves({ items: [] });
    mock.on(GetApiKeysCommand).resolves({ items: [] });
    mock.on(CreateApiKeyCommand).rejects(apiError('BadRequestException', 400, `Invalid value ${KEY}`));
    // WHEN
    const failure = provider.issue(context, {
      name: NAME,
      token: 't',
      value: KEY,
      replaces: CURRENT,
      secretArn: ARN,
    });
    // THEN
    await expect(failure).rejects.toThrow(
      "API key provider 'api-gateway' failed to create an API key: BadRequestException (HTTP 400)",
    );
    await expect(failure).rejects.not.toThrow(KEY);
  });
});

describe('ApiGatewayProvider.check', () => {
  const inPlans = (mock: ReturnType<typeof mockClient>) => {
    mock.on(GetUsagePlansCommand).resolves({ items: [{ id: 'planA' }] });
    mock.on(GetUsagePlanKeyCommand).resolves({ id: 'new222' });
  };

  it('passes, reading only, when the key exists, is enabled, holds the value and is in the plans', async () => {
    // GIVEN
    const { mock, provider, context, redacted } = setUp();
    inPlans(mock);
    mock
      .on(GetApiKeyCommand, { apiKey: 'new222', includeValue: true })
      .resolves({ enabled: true, value: KEY });
    // WHEN
    await provider.check(context, { keyId: 'new222', name: NAME, value: KEY }, CURRENT);
    // THEN
    expect(writes(mock)).toEqual([]);
    expect(redacted).toContain(KEY);
  });

  it.each([
    [{ enabled: false, value: KEY }, 'API key new222 is disabled'],
    [{ enabled: true, value: `${KEY}x` }, 'API key new222 does not hold the pending value'],
  ])('fails when the key is %j', async (found, message) => {
    // GIVEN
    const { mock, provider, context } = setUp();
    inPlans(mock);
    mock.on(GetApiKeyCommand).resolves(found);
    // WHEN / THEN
    await expect(
      provider.check(context, { keyId: 'new222', name: NAME, value: KEY }, CURRENT),
    ).rejects.toThrow(message);
  });

  it('fails when the key is missing from a plan of the current key', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock.on(GetUsagePlansCommand).resolves({ items: [{ id: 'planA' }] });
    mock.on(GetUsagePlanKeyCommand).rejects(apiError('NotFoundException', 404));
    mock.on(GetApiKeyCommand).resolves({ enabled: true, value: KEY });
    // WHEN / THEN
    await expect(
      provider.check(context, { keyId: 'new222', name: NAME, value: KEY }, CURRENT),
    ).rejects.toThrow('API key new222 is not in usage plan planA');
  });

  it('fails when no key has the rotation name', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock.on(GetApiKeysCommand).resolves({ items: [] });
    // WHEN / THEN
    await expect(provider.check(context, { name: NAME, value: KEY }, CURRENT)).rejects.toThrow(
      `no API key named '${NAME}' exists`,
    );
  });

  it('with a check URL, calls it with the key and retries 403 while the key propagates', async () => {
    // GIVEN
    const statuses = [403, 403, 200];
    const fetch = jest.fn(async () => new Response(null, { status: statuses.shift() ?? 500 }));
    const { mock, provider, context } = setUp({ checkUrl: 'https://api.example.com/prod/ping', fetch });
    inPlans(mock);
    mock.on(GetApiKeyCommand).resolves({ enabled: true, value: KEY });
    // WHEN
    await provider.check(context, { keyId: 'new222', name: NAME, value: KEY }, CURRENT);
    // THEN
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(fetch).toHaveBeenLastCalledWith(
      'https://api.example.com/prod/ping',
      expect.objectContaining({ method: 'GET', headers: { 'x-api-key': KEY }, redirect: 'manual' }),
    );
  });

  it('with a check URL, fails after the attempts naming the status', async () => {
    // GIVEN
    const fetch = jest.fn(async () => new Response(null, { status: 403 }));
    const { mock, provider, context } = setUp({ checkUrl: 'https://api.example.com/prod/ping', fetch });
    inPlans(mock);
    mock.on(GetApiKeyCommand).resolves({ enabled: true, value: KEY });
    // WHEN / THEN
    await expect(
      provider.check(context, { keyId: 'new222', name: NAME, value: KEY }, CURRENT),
    ).rejects.toThrow('the check request answered HTTP 403 3 time(s) in a row');
  });
});

describe('ApiGatewayProvider.revoke and list', () => {
  it('deletes the key by id', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock.on(DeleteApiKeyCommand).resolves({});
    // WHEN
    const result = await provider.revoke(context, { keyId: 'old111', name: NAME });
    // THEN
    expect(result).toEqual({ outcome: 'revoked', keyId: 'old111' });
    expect(mock).toHaveReceivedCommandWith(DeleteApiKeyCommand, { apiKey: 'old111' });
  });

  it('reports a key that is gone as absent', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock.on(DeleteApiKeyCommand).rejects(apiError('NotFoundException', 404));
    // WHEN / THEN
    expect(await provider.revoke(context, { keyId: 'old111', name: NAME })).toEqual({
      outcome: 'absent',
      keyId: 'old111',
    });
  });

  it('finds a key without a recorded id by name, and deletes nothing when there is none', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock.on(GetApiKeysCommand).resolves({ items: [] });
    // WHEN
    const result = await provider.revoke(context, { name: NAME });
    // THEN
    expect(result).toEqual({ outcome: 'absent' });
    expect(mock).not.toHaveReceivedCommand(DeleteApiKeyCommand);
  });

  it('without a recorded id, deletes every key with the exact name (duplicates of a race included)', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock.on(GetApiKeysCommand).resolves({
      items: [
        { id: 'dup1', name: NAME },
        { id: 'dup2', name: NAME },
        { id: 'other', name: `${NAME}0` },
      ],
    });
    mock.on(DeleteApiKeyCommand).resolves({});
    // WHEN
    const result = await provider.revoke(context, { name: NAME });
    // THEN
    expect(result).toEqual({ outcome: 'revoked', keyId: 'dup1' });
    expect(mock.commandCalls(DeleteApiKeyCommand).map((c) => c.args[0].input.apiKey)).toEqual([
      'dup1',
      'dup2',
    ]);
  });

  it('lists every page of keys under the prefix', async () => {
    // GIVEN
    const { mock, provider, context } = setUp();
    mock
      .on(GetApiKeysCommand)
      .resolvesOnce({ items: [{ id: 'a', name: 'orders/api-key-1' }], position: 'p2' })
      .resolvesOnce({
        items: [
          { id: 'b', name: 'orders/api-key-2' },
          { id: 'c', name: 'billing-3' },
        ],
      });
    // WHEN
    const keys = await provider.list(context, 'orders/api-key-');
    // THEN
    expect(keys).toEqual([
      { keyId: 'a', name: 'orders/api-key-1' },
      { keyId: 'b', name: 'orders/api-key-2' },
    ]);
    expect(mock.commandCalls(GetApiKeysCommand)[1]?.args[0].input).toMatchObject({ position: 'p2' });
  });
});
