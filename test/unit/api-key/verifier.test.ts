import * as crypto from 'node:crypto';
import { ApiKeyVerifier } from '../../../client/api-key-verifier';
import { MemorySource } from './memory-source';

// The real comparison, observed: the verifier must compare every key in constant time.
jest.mock('node:crypto', () => {
  const actual = jest.requireActual<typeof import('node:crypto')>('node:crypto');
  return { ...actual, timingSafeEqual: jest.fn(actual.timingSafeEqual) };
});

const OLD = 'old-key-0123456789abcdefghijklmn';
const NEW = 'new-key-0123456789abcdefghijklmn';

function setUp(options: { refreshIntervalMs?: number; missRefreshIntervalMs?: number } = {}) {
  const source = new MemorySource();
  let ms = 1_000_000;
  const slept: number[] = [];
  const verifier = new ApiKeyVerifier({
    source,
    secretId: 'orders/api-key',
    now: () => ms,
    sleep: async (wait) => {
      slept.push(wait);
      ms += wait;
    },
    ...options,
  });
  return { source, verifier, slept, advance: (by: number) => (ms += by) };
}

describe('ApiKeyVerifier', () => {
  it('accepts the current key and the previous key in its grace period, and nothing else', async () => {
    // GIVEN
    const { source, verifier } = setUp();
    const old = source.put(OLD, 'AWSCURRENT', { keyId: 'k-old' });
    const current = source.put(NEW, 'AWSCURRENT', { keyId: 'k-new' });
    // WHEN / THEN
    expect(await verifier.verify(NEW)).toEqual({
      valid: true,
      stage: 'AWSCURRENT',
      versionId: current,
      keyId: 'k-new',
    });
    expect(await verifier.verify(OLD)).toEqual({
      valid: true,
      stage: 'AWSPREVIOUS',
      versionId: old,
      keyId: 'k-old',
    });
    expect(await verifier.verify(`${NEW}x`)).toEqual({ valid: false });
    expect(await verifier.isValid(NEW.slice(0, -1))).toBe(false);
  });

  it('refuses a missing, empty or oversized key without reading the secret', async () => {
    // GIVEN
    const { source, verifier } = setUp();
    source.put(NEW);
    // WHEN
    const results = await Promise.all(
      [undefined, null, '', 'k'.repeat(5000)].map((k) => verifier.isValid(k)),
    );
    // THEN
    expect(results).toEqual([false, false, false, false]);
    expect(source.reads).toBe(0);
  });

  it('does not accept the pending key', async () => {
    // GIVEN
    const { source, verifier } = setUp();
    source.put(OLD);
    source.put(NEW, 'AWSPENDING');
    // WHEN / THEN
    expect(await verifier.isValid(NEW)).toBe(false);
  });

  it('stops accepting the previous key at the change notification that follows its revocation', async () => {
    // GIVEN
    const { source, verifier } = setUp();
    source.put(OLD);
    source.put(NEW);
    expect(await verifier.isValid(OLD)).toBe(true);
    // WHEN the rotation function removes AWSPREVIOUS and the label event reaches the cache
    source.remove('AWSPREVIOUS');
    source.invalidate('orders/api-key');
    // THEN
    expect(await verifier.isValid(OLD)).toBe(false);
    expect(await verifier.isValid(NEW)).toBe(true);
  });

  it('makes a request that arrives while the read after a notification is under way wait for it', async () => {
    // GIVEN
    const { source, verifier } = setUp();
    source.put(OLD);
    source.put(NEW);
    expect(await verifier.isValid(OLD)).toBe(true);
    source.remove('AWSPREVIOUS');
    source.invalidate('orders/api-key');
    // WHEN one request starts the read and another arrives before it completes
    const first = verifier.isValid(NEW);
    const second = verifier.isValid(OLD);
    // THEN the second is answered from the new read
    expect(await first).toBe(true);
    expect(await second).toBe(false);
  });

  it('without a notification, stops accepting the revoked previous key after refreshIntervalMs', async () => {
    // GIVEN
    const { source, verifier, advance } = setUp({
      refreshIntervalMs: 60_000,
      missRefreshIntervalMs: 1_000_000,
    });
    source.put(OLD);
    source.put(NEW);
    expect(await verifier.isValid(OLD)).toBe(true);
    source.remove('AWSPREVIOUS');
    // WHEN / THEN
    advance(59_000);
    expect(await verifier.isValid(OLD)).toBe(true);
    advance(1_000);
    expect(await verifier.isValid(OLD)).toBe(false);
  });

  it('accepts a new key a caller learned of first, after one read that bypasses the cache', async () => {
    // GIVEN the verifier knows only the old key, and the rotation finished since
    const { source, verifier } = setUp();
    source.put(OLD);
    expect(await verifier.isValid(OLD)).toBe(true);
    source.put(NEW);
    // WHEN
    const result = await verifier.verify(NEW);
    // THEN
    expect(result).toMatchObject({ valid: true, stage: 'AWSCURRENT' });
  });

  it('reads the secret at most once per missRefreshIntervalMs for unknown keys, however many arrive', async () => {
    // GIVEN
    const { source, verifier, slept, advance } = setUp({ missRefreshIntervalMs: 1_000 });
    source.put(NEW);
    await verifier.isValid(NEW);
    const before = verifier.loads;
    // WHEN 50 garbage keys arrive at once, twice
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => verifier.isValid(`garbage-${i}`)),
      );
      expect(results.every((r) => r === false)).toBe(true);
    }
    // THEN one read in all: the second round, within the interval, is refused at once without waiting
    expect(verifier.loads - before).toBe(1);
    expect(slept).toEqual([]);
    // and once the interval has passed, an unknown key may cause one read again
    advance(1_000);
    expect(await verifier.isValid('garbage-late')).toBe(false);
    expect(verifier.loads - before).toBe(2);
  });

  it('keeps verifying with the keys it knows while Secrets Manager is unavailable', async () => {
    // GIVEN
    const { source, verifier, advance } = setUp({ refreshIntervalMs: 1_000 });
    source.put(NEW);
    expect(await verifier.isValid(NEW)).toBe(true);
    source.failing = true;
    advance(5_000);
    // WHEN / THEN
    expect(await verifier.isValid(NEW)).toBe(true);
    expect(await verifier.isValid('garbage-key')).toBe(false);
  });

  it('compares SHA-256 digests in constant time against every accepted key, even after a match', async () => {
    // GIVEN
    const { source, verifier } = setUp();
    source.put(OLD);
    source.put(NEW);
    await verifier.isValid(NEW);
    const compare = crypto.timingSafeEqual as jest.MockedFunction<typeof crypto.timingSafeEqual>;
    compare.mockClear();
    // WHEN the first key compared matches
    await verifier.isValid(NEW);
    // THEN both keys were compared, as 32-byte digests
    expect(compare).toHaveBeenCalledTimes(2);
    for (const [a, b] of compare.mock.calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
  });

  it('stops listening when closed', async () => {
    // GIVEN
    const { source, verifier } = setUp();
    source.put(NEW);
    await verifier.isValid(NEW);
    verifier.close();
    const loads = verifier.loads;
    // WHEN
    source.invalidate('orders/api-key');
    await verifier.isValid(NEW);
    // THEN
    expect(verifier.loads).toBe(loads);
  });
});
