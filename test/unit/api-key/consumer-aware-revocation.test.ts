import { loadApiKeyConfig } from '../../../functions/api-key/config';
import { ConfigurationError } from '../../../functions/rotation';
import { followUps, GRACE_SECONDS, rotate, setUp, sweepEvent } from './harness';

/** The tracker's answer, set by the test: live consumers per version. */
function tracker() {
  const live = new Map<string, number>();
  let failing = false;
  return {
    live,
    fail: () => {
      failing = true;
    },
    counter: {
      liveConsumersOn: async (_arn: string, versionId: string) => {
        if (failing) throw Object.assign(new Error('no table'), { name: 'ResourceNotFoundException' });
        return live.get(versionId) ?? 0;
      },
    },
  };
}

const MIN_GRACE = 300;

describe('revocation that waits for consumers', () => {
  it('keeps the superseded key while a live consumer uses it, and revokes it on the sweep after the consumer moved', async () => {
    // GIVEN a rotation, and the tracker seeing one consumer still on the old key
    const seen = tracker();
    const { fake, handler, arn, clock, initial, eventBridge } = setUp({
      consumers: seen.counter,
      env: { CONSUMER_TRACKER_TABLE: 'tracker', API_KEY_MIN_GRACE_SECONDS: String(MIN_GRACE) },
    });
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    await rotate(fake, handler, arn);
    seen.live.set(previous, 1);
    // WHEN the minimum grace period has passed
    clock.advance(MIN_GRACE);
    const waiting = await handler(sweepEvent(arn));
    // THEN the key stays, and the sweep says who holds it
    expect(waiting?.revoked).toEqual([]);
    expect(waiting?.waiting).toEqual([
      { versionId: previous, revokeAfter: expect.any(String), liveConsumers: 1 },
    ]);
    expect(initial.revoked).toBe(false);
    // WHEN the consumer moved
    seen.live.set(previous, 0);
    const moved = await handler(sweepEvent(arn));
    // THEN the key goes, long before the grace period, and the event says why
    expect(moved?.revoked).toEqual([
      expect.objectContaining({
        versionId: previous,
        reason: 'consumers-moved',
        liveConsumers: 0,
        outcome: 'revoked',
      }),
    ]);
    expect(initial.revoked).toBe(true);
    expect(followUps(eventBridge)).toContainEqual(
      expect.objectContaining({ action: 'api-key-revoked', reason: 'consumers-moved', liveConsumers: 0 }),
    );
  });

  it('does not revoke early before the minimum grace period, even with no consumer on the key', async () => {
    // GIVEN
    const seen = tracker();
    const { fake, handler, arn, clock, initial } = setUp({
      consumers: seen.counter,
      env: { CONSUMER_TRACKER_TABLE: 'tracker', API_KEY_MIN_GRACE_SECONDS: String(MIN_GRACE) },
    });
    await rotate(fake, handler, arn);
    // WHEN
    clock.advance(MIN_GRACE - 1);
    const report = await handler(sweepEvent(arn));
    // THEN
    expect(report?.revoked).toEqual([]);
    expect(initial.revoked).toBe(false);
  });

  it('revokes at the hard deadline whoever still uses the key, and reports how many consumers it left behind', async () => {
    // GIVEN
    const seen = tracker();
    const { fake, handler, arn, clock, initial, eventBridge } = setUp({
      consumers: seen.counter,
      env: { CONSUMER_TRACKER_TABLE: 'tracker', API_KEY_MIN_GRACE_SECONDS: String(MIN_GRACE) },
    });
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    await rotate(fake, handler, arn);
    seen.live.set(previous, 2);
    // WHEN
    clock.advance(GRACE_SECONDS);
    const report = await handler(sweepEvent(arn));
    // THEN
    expect(report?.revoked).toEqual([
      expect.objectContaining({ versionId: previous, reason: 'grace-period-ended', liveConsumers: 2 }),
    ]);
    expect(initial.revoked).toBe(true);
    expect(followUps(eventBridge)).toContainEqual(
      expect.objectContaining({ action: 'api-key-revoked', reason: 'grace-period-ended', liveConsumers: 2 }),
    );
  });

  it('treats an unreadable tracker as unknown, not as zero: only the deadline revokes', async () => {
    // GIVEN
    const seen = tracker();
    const { fake, handler, arn, clock, initial } = setUp({
      consumers: seen.counter,
      env: { CONSUMER_TRACKER_TABLE: 'tracker', API_KEY_MIN_GRACE_SECONDS: String(MIN_GRACE) },
    });
    await rotate(fake, handler, arn);
    seen.fail();
    // WHEN
    clock.advance(MIN_GRACE + 60);
    const report = await handler(sweepEvent(arn));
    // THEN
    expect(report?.revoked).toEqual([]);
    expect(report?.waiting[0]?.liveConsumers).toBeUndefined();
    expect(initial.revoked).toBe(false);
  });

  it('refuses API_KEY_MIN_GRACE_SECONDS without a tracker table, naming both variables', () => {
    expect(() =>
      loadApiKeyConfig({ ROTATION_STRATEGY: 'self-issued', API_KEY_MIN_GRACE_SECONDS: '300' }),
    ).toThrow(ConfigurationError);
    expect(() =>
      loadApiKeyConfig({ ROTATION_STRATEGY: 'self-issued', API_KEY_MIN_GRACE_SECONDS: '300' }),
    ).toThrow(/API_KEY_MIN_GRACE_SECONDS needs CONSUMER_TRACKER_TABLE/);
  });
});
