import { Logger } from '@aws-lambda-powertools/logger';
import { HttpProvider } from '../../../functions/api-key/providers/http';
import {
  type HttpProviderConfig,
  parseHttpProviderConfig,
} from '../../../functions/api-key/providers/http-config';
import type { ProviderContext } from '../../../functions/api-key/providers/provider';

const ADMIN_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin-AbCdEf';
const ADMIN_TOKEN = 'admin-token-never-to-be-seen-0123';
const KEY = 'provider-made-key-0123456789abcdef';
const NAME = 'orders/api-key-0b0e6f6c-1f4d-4d7e-9e55-5d3a1c2b9f00';

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: unknown;
  redirect?: string;
}

const BASE = {
  baseUrl: 'https://keys.example.com/api/',
  auth: { secretArn: ADMIN_ARN, field: 'token', header: 'X-Admin', prefix: 'Token ' },
  issue: {
    url: '/keys',
    body: { name: '{keyName}', scopes: ['orders:read'] },
    headers: { 'Idempotency-Key': '{token}' },
    keyIdPointer: '/data/id',
    keyValuePointer: '/data/secret',
  },
  check: { url: '/keys/{keyId}/verify' },
  revoke: { url: '/keys/{keyId}' },
  list: {
    url: '/keys?prefix={namePrefix}',
    itemsPointer: '/items',
    keyIdPointer: '/id',
    namePointer: '/label',
  },
};

function setUp(
  patch: Partial<Record<keyof typeof BASE, unknown>> = {},
  responses: Array<[number, unknown?]> = [],
) {
  const config: HttpProviderConfig = parseHttpProviderConfig({ ...BASE, ...patch });
  const sent: Sent[] = [];
  const queue = [...responses];
  const fetch = jest.fn(async (url: string | URL | Request, init?: RequestInit) => {
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    sent.push({
      url: String(url),
      method: init?.method ?? 'GET',
      headers,
      ...(init?.body ? { body: JSON.parse(String(init.body)) } : {}),
      ...(init?.redirect ? { redirect: init.redirect } : {}),
    });
    const [status, body] = queue.shift() ?? [500];
    return new Response(body === undefined ? null : JSON.stringify(body), { status });
  }) as unknown as typeof globalThis.fetch;
  const redacted: string[] = [];
  const context: ProviderContext = {
    logger: new Logger({ logLevel: 'SILENT' }),
    redact: (value) => redacted.push(value),
    readSecret: async (id) => {
      if (id !== ADMIN_ARN) throw new Error(`unexpected secret ${id}`);
      return JSON.stringify({ token: ADMIN_TOKEN });
    },
  };
  const provider = new HttpProvider({ config, fetch, checkAttempts: 3, sleep: async () => {} });
  return { provider, context, sent, redacted };
}

const request = { name: NAME, token: 'tok-1', replaces: { name: 'current' }, secretArn: 'arn:x' };

describe('HttpProvider.issue', () => {
  it('posts the templated request with the admin credential and reads id and key through the pointers', async () => {
    // GIVEN
    const { provider, context, sent, redacted } = setUp({}, [[201, { data: { id: 77, secret: KEY } }]]);
    // WHEN
    const issued = await provider.issue(context, request);
    // THEN
    expect(issued).toEqual({ keyId: '77', value: KEY });
    expect(sent).toEqual([
      {
        url: 'https://keys.example.com/api/keys',
        method: 'POST',
        headers: {
          accept: 'application/json',
          'content-type': 'application/json',
          'idempotency-key': 'tok-1',
          'x-admin': `Token ${ADMIN_TOKEN}`,
        },
        body: { name: NAME, scopes: ['orders:read'] },
        redirect: 'manual',
      },
    ]);
    expect(redacted).toEqual(expect.arrayContaining([ADMIN_TOKEN, KEY]));
  });

  it('names the status, never the body, when the service refuses', async () => {
    // GIVEN a body that echoes a credential
    const { provider, context } = setUp({}, [[409, { error: `duplicate of ${ADMIN_TOKEN}` }]]);
    // WHEN
    const failure = provider.issue(context, request);
    // THEN
    await expect(failure).rejects.toThrow("API key provider 'http' failed to issue a key: HTTP 409");
    await expect(failure).rejects.not.toThrow(ADMIN_TOKEN);
  });

  it('names the pointer and the setting when the response has no key id', async () => {
    // GIVEN
    const { provider, context } = setUp({}, [[201, { data: { secret: KEY } }]]);
    // WHEN / THEN
    await expect(provider.issue(context, request)).rejects.toThrow(
      'the response has no key id at "/data/id" (HTTP_PROVIDER_CONFIG.issue.keyIdPointer)',
    );
  });

  it('with our key, finds a key already issued under the name instead of issuing again', async () => {
    // GIVEN
    const ours = { ...BASE.issue, body: { name: '{keyName}', value: '{apiKey}' } } as Record<string, unknown>;
    delete ours.keyValuePointer;
    const { provider, context, sent } = setUp({ issue: ours }, [
      [200, { items: [{ id: 'k9', label: NAME }] }],
    ]);
    // WHEN
    const issued = await provider.issue(context, { ...request, value: KEY });
    // THEN
    expect(issued).toEqual({ keyId: 'k9' });
    expect(sent.map((s) => `${s.method} ${s.url}`)).toEqual([
      `GET https://keys.example.com/api/keys?prefix=${encodeURIComponent(NAME)}`,
    ]);
  });

  it('with our key, sends it in the body when no key has the name yet', async () => {
    // GIVEN
    const ours = { ...BASE.issue, body: { name: '{keyName}', value: '{apiKey}' } } as Record<string, unknown>;
    delete ours.keyValuePointer;
    const { provider, context, sent } = setUp({ issue: ours }, [
      [200, { items: [] }],
      [201, { data: { id: 'k10' } }],
    ]);
    // WHEN
    const issued = await provider.issue(context, { ...request, value: KEY });
    // THEN
    expect(issued).toEqual({ keyId: 'k10' });
    expect(sent[1]?.body).toEqual({ name: NAME, value: KEY });
  });

  it('refuses a header that would carry a line break', async () => {
    // GIVEN
    const { provider, context } = setUp({ issue: { ...BASE.issue, headers: { 'X-Name': '{keyName}' } } });
    // WHEN / THEN
    await expect(provider.issue(context, { ...request, name: 'a\r\nX-Evil: 1' })).rejects.toThrow(
      'header X-Name would contain a line break',
    );
  });
});

describe('HttpProvider.check', () => {
  it('sends the key in x-api-key, without the admin credential, and retries 401 while the key propagates', async () => {
    // GIVEN
    const { provider, context, sent } = setUp({}, [[401], [200]]);
    // WHEN
    await provider.check(context, { keyId: 'k/7', name: NAME, value: KEY }, { name: 'current' });
    // THEN
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual({
      url: 'https://keys.example.com/api/keys/k%2F7/verify',
      method: 'GET',
      headers: { 'x-api-key': KEY },
      redirect: 'manual',
    });
  });

  it('fails at once on a status other than 401/403, naming it', async () => {
    // GIVEN
    const { provider, context, sent } = setUp({}, [[500]]);
    // WHEN / THEN
    await expect(
      provider.check(context, { keyId: 'k7', name: NAME, value: KEY }, { name: 'c' }),
    ).rejects.toThrow('the check request answered HTTP 500');
    expect(sent).toHaveLength(1);
  });

  it('treats a redirect as a failure instead of following it with the key', async () => {
    // GIVEN
    const { provider, context } = setUp({}, [[302]]);
    // WHEN / THEN
    await expect(
      provider.check(context, { keyId: 'k7', name: NAME, value: KEY }, { name: 'c' }),
    ).rejects.toThrow('HTTP 302');
  });
});

describe('HttpProvider.revoke', () => {
  it('deletes by id with the admin credential', async () => {
    // GIVEN
    const { provider, context, sent } = setUp({}, [[204]]);
    // WHEN
    const result = await provider.revoke(context, { keyId: 'k7', name: NAME });
    // THEN
    expect(result).toEqual({ outcome: 'revoked', keyId: 'k7' });
    expect(sent[0]).toMatchObject({ method: 'DELETE', url: 'https://keys.example.com/api/keys/k7' });
    expect(sent[0]?.headers['x-admin']).toBe(`Token ${ADMIN_TOKEN}`);
  });

  it.each([404, 410])('reports HTTP %i as a key already gone', async (status) => {
    const { provider, context } = setUp({}, [[status]]);
    expect(await provider.revoke(context, { keyId: 'k7', name: NAME })).toEqual({
      outcome: 'absent',
      keyId: 'k7',
    });
  });

  it('fails on any other status', async () => {
    const { provider, context } = setUp({}, [[503]]);
    await expect(provider.revoke(context, { keyId: 'k7', name: NAME })).rejects.toThrow(
      'failed to revoke a key: HTTP 503',
    );
  });

  it('finds the id by name when the version does not record it, and reports absent when nothing has the name', async () => {
    // GIVEN
    const { provider, context, sent } = setUp({}, [[200, { items: [{ id: 'other', label: `${NAME}x` }] }]]);
    // WHEN
    const result = await provider.revoke(context, { name: NAME });
    // THEN
    expect(result).toEqual({ outcome: 'absent' });
    expect(sent.map((s) => s.method)).toEqual(['GET']);
  });

  it('without list, refuses a key whose id is not recorded, saying why', async () => {
    // GIVEN
    const { provider, context } = setUp({ list: undefined });
    // WHEN / THEN
    await expect(provider.revoke(context, { name: NAME })).rejects.toThrow(
      'HTTP_PROVIDER_CONFIG.list is not set',
    );
  });
});

describe('HttpProvider.list and the admin credential', () => {
  it('lists the keys under the prefix from the items pointer', async () => {
    // GIVEN
    const { provider, context } = setUp({}, [
      [
        200,
        {
          items: [
            { id: 1, label: 'orders/api-key-a' },
            { id: 2, label: 'billing-b' },
            { label: 'orders/api-key-c' },
          ],
        },
      ],
    ]);
    // WHEN / THEN
    expect(await provider.list?.(context, 'orders/api-key-')).toEqual([
      { keyId: '1', name: 'orders/api-key-a' },
    ]);
  });

  it('names the setting when the list response has no array', async () => {
    const { provider, context } = setUp({}, [[200, { keys: [] }]]);
    await expect(provider.list?.(context, 'x')).rejects.toThrow('(HTTP_PROVIDER_CONFIG.list.itemsPointer)');
  });

  it('names the field, never the secret, when the admin secret lacks it', async () => {
    // GIVEN
    const { provider, context } = setUp({ auth: { ...BASE.auth, field: 'password' } });
    // WHEN
    const failure = provider.revoke(context, { keyId: 'k7', name: NAME });
    // THEN
    await expect(failure).rejects.toThrow(
      "the admin secret has no string field 'password' (HTTP_PROVIDER_CONFIG.auth.field)",
    );
    await expect(failure).rejects.not.toThrow(ADMIN_TOKEN);
  });
});

describe('HttpProvider and dot-segment key ids (finding 10)', () => {
  it.each(['.', '..'])(
    'refuses the key id %j before sending anything, so the path cannot change',
    async (keyId) => {
      // GIVEN a provider whose revoke URL is /keys/{keyId}
      const { provider, context, sent } = setUp({ revoke: { url: '/keys/{keyId}/revoke' } }, [[204]]);
      // WHEN
      const result = provider.revoke(context, { keyId, name: NAME });
      // THEN
      await expect(result).rejects.toThrow("a dot segment would change the URL's path");
      expect(sent).toEqual([]);
    },
  );

  it('still sends a key id that only contains dots among other characters, encoded into one segment', async () => {
    // GIVEN
    const { provider, context, sent } = setUp({ revoke: { url: '/keys/{keyId}/revoke' } }, [[204]]);
    // WHEN
    await provider.revoke(context, { keyId: '..a/b', name: NAME });
    // THEN
    expect(sent[0]?.url).toBe('https://keys.example.com/api/keys/..a%2Fb/revoke');
  });
});
