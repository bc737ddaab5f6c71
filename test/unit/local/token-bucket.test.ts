import { operationOf, TokenBucket } from '../../../local/fault-proxy';

describe('the fault proxy token bucket', () => {
  it('lets a burst through, then one request per 1/rate seconds, and a refusal costs no token', () => {
    // GIVEN a clock we move by hand
    let t = 0;
    const bucket = new TokenBucket(10, 3, () => t);
    // WHEN a burst arrives at once
    const burst = [bucket.take(), bucket.take(), bucket.take(), bucket.take()];
    // THEN the burst size goes through and the next is refused
    expect(burst).toEqual([true, true, true, false]);
    // WHEN 99 ms pass (less than one token at 10/s)
    t = 99;
    expect(bucket.take()).toBe(false);
    // THEN at 100 ms exactly one more goes
    t = 100;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
  });

  it('never saves more than the burst, however long it stays idle', () => {
    let t = 0;
    const bucket = new TokenBucket(100, 2, () => t);
    t = 60_000;
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
  });
});

describe('the operation a request calls', () => {
  it('is the action of X-Amz-Target for JSON protocols', () => {
    expect(
      operationOf({ headers: { 'x-amz-target': 'secretsmanager.PutSecretValue' }, method: 'POST', url: '/' }),
    ).toBe('PutSecretValue');
  });

  it('is the method and first path part for REST protocols (S3)', () => {
    expect(operationOf({ headers: {}, method: 'PUT', url: '/jwks-bucket/keys.json?x=1' })).toBe(
      'PUT /jwks-bucket',
    );
  });
});
