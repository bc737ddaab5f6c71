import { ApiKeyCredentials, ApiKeyRejectedError } from '../../../client/http-credentials';
import { MemorySource } from './memory-source';

const OLD = 'old-key-0123456789abcdefghijklmn';
const NEW = 'new-key-0123456789abcdefghijklmn';

/** A fake API that accepts a set of keys in x-api-key. */
function api(accepted: Set<string>, header = 'x-api-key') {
  const seen: string[] = [];
  const fetch = jest.fn(async (_url: string | URL | Request, init?: RequestInit) => {
    const key = new Headers(init?.headers).get(header) ?? '';
    seen.push(key);
    await Promise.resolve();
    return new Response(accepted.has(key) ? 'ok' : 'denied', { status: accepted.has(key) ? 200 : 401 });
  }) as unknown as typeof globalThis.fetch;
  return { fetch, seen };
}

describe('ApiKeyCredentials', () => {
  it('attaches the current key in the configured header', async () => {
    // GIVEN
    const source = new MemorySource();
    source.put(NEW);
    const { fetch, seen } = api(new Set([`Bearer ${NEW}`]), 'authorization');
    const credentials = new ApiKeyCredentials({
      source,
      secretId: 's',
      header: 'authorization',
      scheme: 'Bearer ',
      fetch,
    });
    // WHEN
    const response = await credentials.fetch('https://api.example.com/orders', {
      headers: { accept: 'text/plain' },
    });
    // THEN
    expect(response.status).toBe(200);
    expect(seen).toEqual([`Bearer ${NEW}`]);
    expect(await credentials.headers()).toEqual({ authorization: `Bearer ${NEW}` });
  });

  it('on a 401 with a stale cache, fetches AWSCURRENT anew and retries once with it', async () => {
    // GIVEN the cache holds the old key, revoked since
    const source = new MemorySource();
    source.put(OLD);
    const { fetch, seen } = api(new Set([NEW]));
    const credentials = new ApiKeyCredentials({ source, secretId: 's', fetch });
    await credentials.key();
    source.put(NEW);
    // WHEN
    const response = await credentials.fetch('https://api.example.com/orders');
    // THEN
    expect(response.status).toBe(200);
    expect(seen).toEqual([OLD, NEW]);
    expect(credentials.recoveries).toBe(1);
  });

  it('when AWSCURRENT is the key refused, retries with AWSPENDING and keeps it until the secret changes', async () => {
    // GIVEN a provider that already switched to the pending key
    const source = new MemorySource();
    source.put(OLD);
    const pending = source.put(NEW, 'AWSPENDING');
    const { fetch, seen } = api(new Set([NEW]));
    const credentials = new ApiKeyCredentials({ source, secretId: 's', fetch });
    // WHEN
    await credentials.fetch('https://api.example.com/a');
    await credentials.fetch('https://api.example.com/b');
    // THEN
    expect(seen).toEqual([OLD, NEW, NEW]);
    expect((await credentials.key()).versionId).toBe(pending);
    // WHEN the rotation finishes and the cache is notified
    source.move('AWSCURRENT', pending);
    source.invalidate('s');
    // THEN the current key is used again
    expect((await credentials.key()).value).toBe(NEW);
    expect((await credentials.key()).versionId).toBe(pending);
  });

  it('does not send the refused key again when AWSPENDING sits on the AWSCURRENT version (a finished rotation)', async () => {
    // GIVEN finishSecret left AWSPENDING on the current version (RotateSecret API reference: a finished rotation)
    const source = new MemorySource();
    const current = source.put(OLD);
    source.move('AWSPENDING', current);
    const { fetch, seen } = api(new Set());
    const credentials = new ApiKeyCredentials({ source, secretId: 's', fetch });
    // WHEN
    const failure = credentials.fetch('https://api.example.com/orders');
    // THEN one request: AWSPENDING is the same version, so there is no other key to try
    await expect(failure).rejects.toThrow(ApiKeyRejectedError);
    expect(seen).toEqual([OLD]);
  });

  it('gives up with ApiKeyRejectedError, naming versions and status and never the key, when no other key exists', async () => {
    // GIVEN
    const source = new MemorySource();
    const current = source.put(OLD);
    const { fetch } = api(new Set());
    const credentials = new ApiKeyCredentials({ source, secretId: 'orders/api-key', fetch });
    // WHEN
    const failure = credentials.fetch('https://api.example.com/orders');
    // THEN
    await expect(failure).rejects.toThrow(ApiKeyRejectedError);
    await expect(failure).rejects.toThrow(
      `The API key of secret orders/api-key was refused (HTTP 401); tried versions ${current}`,
    );
    await expect(failure).rejects.not.toThrow(OLD);
  });

  it('retries only once: a refused retry ends in ApiKeyRejectedError with both versions', async () => {
    // GIVEN
    const source = new MemorySource();
    const first = source.put(OLD);
    const { fetch, seen } = api(new Set());
    const credentials = new ApiKeyCredentials({ source, secretId: 's', fetch });
    await credentials.key();
    const second = source.put(NEW);
    // WHEN
    const failure = credentials.fetch('https://api.example.com/orders');
    // THEN
    await expect(failure).rejects.toMatchObject({ versionsTried: [first, second], status: 401 });
    expect(seen).toEqual([OLD, NEW]);
  });

  it('shares one refresh among concurrent refusals of the same key', async () => {
    // GIVEN
    const source = new MemorySource();
    source.put(OLD);
    const { fetch } = api(new Set([NEW]));
    const credentials = new ApiKeyCredentials({ source, secretId: 's', fetch });
    await credentials.key();
    source.put(NEW);
    const reads = source.reads;
    // WHEN
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => credentials.fetch('https://api.example.com/')),
    );
    // THEN
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(source.reads - reads).toBe(1);
  });

  it('passes other failures through without retrying', async () => {
    // GIVEN
    const source = new MemorySource();
    source.put(NEW);
    const fetch = jest.fn(
      async () => new Response('oops', { status: 500 }),
    ) as unknown as typeof globalThis.fetch;
    const credentials = new ApiKeyCredentials({ source, secretId: 's', fetch });
    // WHEN
    const response = await credentials.fetch('https://api.example.com/');
    // THEN
    expect(response.status).toBe(500);
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('does not follow redirects with the key unless asked to', async () => {
    // GIVEN
    const source = new MemorySource();
    source.put(NEW);
    const fetch = jest.fn(
      async () => new Response(null, { status: 200 }),
    ) as unknown as typeof globalThis.fetch;
    const credentials = new ApiKeyCredentials({ source, secretId: 's', fetch });
    // WHEN
    await credentials.fetch('https://api.example.com/');
    // THEN
    expect(fetch).toHaveBeenCalledWith(
      'https://api.example.com/',
      expect.objectContaining({ redirect: 'manual' }),
    );
  });

  it('recovers clients that throw on 401 through run()', async () => {
    // GIVEN a client that throws { status: 401 }
    const source = new MemorySource();
    source.put(OLD);
    const credentials = new ApiKeyCredentials({ source, secretId: 's' });
    await credentials.key();
    source.put(NEW);
    const call = async (headers: Record<string, string>) => {
      if (headers['x-api-key'] !== NEW) throw Object.assign(new Error('Unauthorized'), { status: 401 });
      return 'ok';
    };
    // WHEN
    const result = await credentials.run(
      call,
      () => false,
      (error) => (error as { status?: number }).status === 401 && 401,
    );
    // THEN
    expect(result).toBe('ok');
  });
});
