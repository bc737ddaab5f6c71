import { ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import { revocationLatency } from '../../../functions/api-key/revocation';
import { followUps, GRACE_SECONDS, rotate, setUp, sweepEvent } from './harness';

// Powertools writes EMF through the global console in dev mode: capture it.
process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';

let output: string[] = [];
beforeEach(() => {
  output = [];
  jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    output.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '));
  });
});
afterEach(() => jest.restoreAllMocks());

function latencyMetrics(): Array<{ value: unknown; dimensions: string[][]; blob: Record<string, unknown> }> {
  return output
    .filter((line) => line.includes('"_aws"') && line.includes('RevocationLatency'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .map((blob) => ({
      value: blob.RevocationLatency,
      dimensions: (blob._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> })
        .CloudWatchMetrics[0]!.Dimensions,
      blob,
    }));
}

/** Sets when a version of the fake secret was created, as Secrets Manager's CreatedDate. */
function created(fake: ReturnType<typeof setUp>['fake'], arn: string, versionId: string, at: number): void {
  const version = fake.secrets.get(arn)?.versions.get(versionId);
  if (!version) throw new Error(`no version ${versionId}`);
  version.createdDate = new Date(at);
}

describe('revocationLatency: from the creation of the successor to the revocation', () => {
  const versions = new Map([
    ['v1', 1_000],
    ['v3', 9_000],
    ['v2', 5_000],
  ]);

  it('measures from the earliest version created after the revoked one, not the newest', () => {
    expect(revocationLatency(versions, 'v1', 12_000)).toEqual({ supersededAt: 5_000, latencyMs: 7_000 });
    expect(revocationLatency(versions, 'v2', 12_000)).toEqual({ supersededAt: 9_000, latencyMs: 3_000 });
  });

  it('measures nothing when no version was created after it, or when the listing lacks the version', () => {
    expect(revocationLatency(versions, 'v3', 12_000)).toBeUndefined();
    expect(revocationLatency(versions, 'gone', 12_000)).toBeUndefined();
    expect(revocationLatency(new Map(), 'v1', 12_000)).toBeUndefined();
  });

  it('never reports a negative latency when our clock is behind Secrets Manager', () => {
    expect(revocationLatency(versions, 'v1', 4_000)).toEqual({ supersededAt: 5_000, latencyMs: 0 });
  });
});

describe('the sweep measures how long a superseded key outlived its successor', () => {
  it('publishes supersededAt and latencyMs in api-key-revoked, and RevocationLatency in ms with the rotation dimensions', async () => {
    // GIVEN a rotation whose new version was created at T, by the sweep's clock
    const { fake, handler, arn, clock, eventBridge } = setUp();
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    created(fake, arn, previous, clock.ms - 86_400_000);
    const token = await rotate(fake, handler, arn);
    const t = clock.ms;
    created(fake, arn, token, t);
    // WHEN the sweep revokes the old key after the grace period and 5 more seconds
    clock.advance(GRACE_SECONDS + 5);
    output = [];
    const report = await handler(sweepEvent(arn));
    // THEN
    const latencyMs = (GRACE_SECONDS + 5) * 1000;
    const supersededAt = new Date(t).toISOString();
    expect(report?.revoked).toEqual([
      expect.objectContaining({ versionId: previous, supersededAt, latencyMs }),
    ]);
    expect(followUps(eventBridge)).toContainEqual(
      expect.objectContaining({ action: 'api-key-revoked', versionId: previous, supersededAt, latencyMs }),
    );
    const metrics = latencyMetrics();
    expect(metrics.map((m) => m.value)).toEqual([latencyMs]);
    expect(metrics[0]?.dimensions).toEqual([['service', 'Kind', 'Strategy']]);
    expect(metrics[0]?.blob).toMatchObject({ Kind: 'api-key', Strategy: 'http' });
    expect(JSON.stringify(metrics[0]?.blob._aws)).toContain('"Unit":"Milliseconds"');
  });

  it('lists the versions once per sweep, and only when it revokes a superseded key', async () => {
    // GIVEN two superseded keys
    const { fake, handler, arn, clock } = setUp();
    await rotate(fake, handler, arn);
    clock.advance(10);
    await rotate(fake, handler, arn);
    const listed = () => fake.mock.commandCalls(ListSecretVersionIdsCommand).length;
    const before = listed();
    // WHEN a sweep revokes nothing
    await handler(sweepEvent(arn));
    // THEN no listing
    expect(listed()).toBe(before);
    // WHEN an emergency sweep revokes both
    const report = await handler(sweepEvent(arn, { Emergency: true }));
    // THEN one listing
    expect(report?.revoked).toHaveLength(2);
    expect(listed()).toBe(before + 1);
  });

  it('revokes without a measurement when the listing fails, and never measures an orphan', async () => {
    // GIVEN a superseded key, an orphan, and no permission to list versions
    const { fake, handler, arn, clock, provider } = setUp();
    await rotate(fake, handler, arn);
    provider.seed('orders/api-key-0b0e6f6c-1f4d-4d7e-9e55-5d3a1c2b9f00', 'orphan-key-value-0123456789');
    fake.mock
      .on(ListSecretVersionIdsCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    clock.advance(GRACE_SECONDS);
    output = [];
    // WHEN
    const report = await handler(sweepEvent(arn));
    // THEN both revoked, neither measured
    expect(report?.revoked.map((r) => r.reason).sort()).toEqual(['grace-period-ended', 'orphan']);
    expect(report?.failed).toEqual([]);
    for (const revoked of report?.revoked ?? []) {
      expect(revoked).not.toHaveProperty('latencyMs');
      expect(revoked).not.toHaveProperty('supersededAt');
    }
    expect(latencyMetrics()).toEqual([]);
  });

  it('measures a key revoked by a rotation step too (emergency at finishSecret), in that step invocation', async () => {
    // GIVEN a leaked current key created a day ago: an operator tags the secret, then rotates it
    const { fake, handler, arn, eventBridge } = setUp();
    const previous = fake.versionOf(arn, 'AWSCURRENT') as string;
    // the fake dates the new version by the real time
    created(fake, arn, previous, Date.now() - 86_400_000);
    fake.tag(arn, 'secret-rotation:api-key:emergency', 'leaked');
    output = [];
    // WHEN
    await rotate(fake, handler, arn);
    // THEN the revocation is measured, and the metric published with the step's
    const revoked = followUps(eventBridge).find((d) => d.action === 'api-key-revoked');
    expect(revoked).toMatchObject({
      reason: 'emergency',
      versionId: previous,
      latencyMs: expect.any(Number),
    });
    expect(latencyMetrics().map((m) => m.value)).toEqual([revoked?.latencyMs]);
  });

  it('does not measure a key found already gone (a sweep that crashed after the provider revoked it)', async () => {
    // GIVEN the provider revoked, then the answer was lost
    const { fake, handler, arn, clock, provider } = setUp();
    await rotate(fake, handler, arn);
    clock.advance(GRACE_SECONDS);
    provider.failuresAfter.set('revoke', new Error('connection reset'));
    await expect(handler(sweepEvent(arn))).rejects.toThrow();
    output = [];
    // WHEN the next sweep completes it
    const report = await handler(sweepEvent(arn));
    // THEN
    expect(report?.revoked).toEqual([expect.objectContaining({ outcome: 'absent' })]);
    expect(report?.revoked[0]).not.toHaveProperty('latencyMs');
    expect(latencyMetrics()).toEqual([]);
  });
});
