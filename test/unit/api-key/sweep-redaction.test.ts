import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { rotate, setUp, sweepEvent } from './harness';

/** Every message and stack of an error and its causes. */
function chain(error: unknown): string {
  const parts: string[] = [];
  let at: unknown = error;
  for (let depth = 0; at instanceof Error && depth < 10; depth++) {
    parts.push(`${at.name}: ${at.message}\n${at.stack}`);
    at = at.cause;
  }
  return parts.join('\n');
}

describe('the sweep handler and secret values in errors (finding 7)', () => {
  it('throws no cause that carries a key the sweep has read', async () => {
    // GIVEN a rotated secret, and a read during the sweep that fails quoting the current key
    const { fake, handler, arn } = setUp();
    await rotate(fake, handler, arn);
    const key = fake.valueOf<{ apiKey: string }>(arn).apiKey;
    const base = fake as unknown as { getValue(input: unknown): unknown };
    let reads = 0;
    fake.mock.on(GetSecretValueCommand).callsFake((input) => {
      reads++;
      if (reads === 2) throw new Error(`read failed near ${key}`);
      return base.getValue(input);
    });
    // WHEN
    const error = await handler(sweepEvent(arn)).then(
      () => undefined,
      (e: unknown) => e,
    );
    // THEN
    expect(error).toBeInstanceOf(Error);
    expect(reads).toBeGreaterThanOrEqual(2);
    expect(chain(error)).toContain('read failed near [REDACTED]');
    expect(chain(error)).not.toContain(key);
  });
});
