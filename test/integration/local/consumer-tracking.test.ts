import { randomUUID } from 'node:crypto';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SecretCache } from '../../../client/secret-cache';
import { VersionReporter } from '../../../client/version-reporter';
import { TrackerMetric, type TrackerOutcome } from '../../../functions/consumer-tracker/tracker';
import { type LocalTracker, startLocalTracker } from '../../../local/consumer-tracker';
import { type LocalAws, startMoto } from '../../../local/moto';

const HEARTBEAT_MS = 60_000;

let aws: LocalAws;
let secrets: SecretsManagerClient;

beforeAll(async () => {
  aws = await startMoto();
  secrets = new SecretsManagerClient(aws.clientConfig);
}, 60_000);

afterAll(async () => {
  await aws?.stop();
});

/** A consumer built the way a service would: a secret cache whose fetches feed a version reporter. */
function consumer(tracker: LocalTracker, service: string, instance: string, now: () => number) {
  const errors: unknown[] = [];
  const reporter = new VersionReporter({
    eventBridge: tracker.eventBridge,
    eventBusName: tracker.busName,
    service,
    instance,
    heartbeatIntervalMs: HEARTBEAT_MS,
    now,
    onError: (error) => errors.push(error),
  });
  const cache = new SecretCache({
    client: new SecretsManagerClient(aws.clientConfig),
    now,
    onVersion: (arn, versionId) => reporter.observe(arn, versionId),
  });
  return { cache, reporter, errors };
}

async function setUp() {
  let clock = Date.parse('2030-01-01T00:00:00.000Z');
  const now = () => clock;
  const recorded: Array<{ name: string; value: number }> = [];
  const tracker = await startLocalTracker(aws, {
    now,
    config: { lagBoundSeconds: 300, updateWindowSeconds: 1 },
    metrics: {
      addMetric: (name, _unit, value) => recorded.push({ name, value }),
      publishStoredMetrics: () => {},
    },
  });
  const created = await secrets.send(
    new CreateSecretCommand({
      Name: `tracked-${randomUUID().slice(0, 8)}`,
      SecretString: '{"apiKey":"k-one"}',
    }),
  );
  const arn = created.ARN ?? '';
  /** What finishSecret does for consumers: a new AWSCURRENT and our `Secret Rotated` event. */
  const rotate = async (value: string) => {
    const previousVersionId = (await tracker.store.secret(arn, now())).consumers[0]?.versionId;
    const put = await secrets.send(new PutSecretValueCommand({ SecretId: arn, SecretString: value }));
    const versionId = put.VersionId ?? '';
    await tracker.eventBridge.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: tracker.busName,
            Source: 'secret-rotation',
            DetailType: 'Secret Rotated',
            Resources: [arn],
            Detail: JSON.stringify({
              secretArn: arn,
              kind: 'api-key',
              strategy: 'self-issued',
              versionId,
              previousVersionId,
              finishedAt: now(),
              replay: false,
            }),
          },
        ],
      }),
    );
    return versionId;
  };
  return {
    tracker,
    arn,
    now,
    recorded,
    rotate,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

const reports = (outcomes: TrackerOutcome[]) => outcomes.filter((o) => o.kind === 'report');

describe('consumer tracking in the local mode', () => {
  it('shows consumers as they start, shows and measures the lagging one after a rotation, and forgets the ones that went silent or stopped', async () => {
    // GIVEN two replicas of one service, using the secret
    const { tracker, arn, now, recorded, rotate, advance } = await setUp();
    const a = consumer(tracker, 'billing-api', 'replica-a', now);
    const b = consumer(tracker, 'billing-api', 'replica-b', now);
    const first = (await a.cache.current(arn)).versionId;
    await b.cache.current(arn);
    await Promise.all([a.reporter.flush(), b.reporter.flush()]);
    // WHEN the tracker receives what the rules routed
    expect(reports(await tracker.pump())).toHaveLength(2);
    // THEN both appear, on the first version
    const started = await tracker.store.secret(arn, now());
    expect(started.consumers.map((c) => [c.instance, c.versionId])).toEqual([
      ['replica-a', first],
      ['replica-b', first],
    ]);

    // WHEN the secret rotates, replica-a gets the event 400 ms later and replica-b never does
    const second = await rotate('{"apiKey":"k-two"}');
    advance(400);
    expect(
      a.cache.handleEvent({
        source: 'secret-rotation',
        'detail-type': 'Secret Rotated',
        detail: { secretArn: arn, versionId: second },
      }),
    ).toBe(true);
    await a.cache.current(arn);
    await b.cache.current(arn);
    await Promise.all([a.reporter.flush(), b.reporter.flush()]);
    const moved = reports(await tracker.pump());
    // THEN the tracker measured replica-a's update latency from finishSecret to its first use
    expect(moved).toEqual([
      { kind: 'report', moved: true, stale: false, previousVersionId: first, latencyMs: 400 },
    ]);
    expect(recorded).toContainEqual({ name: TrackerMetric.UPDATE_LATENCY, value: 400 });

    // WHEN the lag bound (300 s) passes with both replicas heartbeating every minute
    for (let i = 0; i < 5; i++) {
      advance(HEARTBEAT_MS);
      await Promise.all([a.reporter.heartbeat(), b.reporter.heartbeat()]);
      await tracker.pump();
    }
    const sweep = await tracker.sweep();
    // THEN replica-b is lagging and alarmed through the metric; the window of 1 s held half the fleet
    if (sweep.kind !== 'sweep') throw new Error('expected a sweep');
    expect(sweep.result.lagging.map((c) => [c.instance, c.versionId, c.currentVersionId])).toEqual([
      ['replica-b', first, second],
    ]);
    expect(sweep.result.windows).toEqual([{ secretArn: arn, versionId: second, percent: 50, live: 2 }]);
    expect(recorded).toContainEqual({ name: TrackerMetric.ON_OLD_VERSION, value: 1 });
    expect(recorded).toContainEqual({ name: TrackerMetric.UPDATED_WITHIN_WINDOW, value: 50 });
    expect(JSON.stringify([...(await tracker.store.all(now())).values()])).not.toMatch(/k-one|k-two/);

    // WHEN replica-b goes silent for three heartbeats (a crash) while replica-a keeps reporting
    for (let i = 0; i < 3; i++) {
      advance(HEARTBEAT_MS);
      await a.reporter.heartbeat();
      await tracker.pump();
    }
    const after = await tracker.sweep();
    // THEN it is forgotten; nothing lags any more
    if (after.kind !== 'sweep') throw new Error('expected a sweep');
    expect(after.result).toMatchObject({ live: 1, lagging: [], forgotten: 1, windows: [] });
    expect((await tracker.store.secret(arn, now())).consumers.map((c) => c.instance)).toEqual(['replica-a']);

    // WHEN replica-a shuts down cleanly
    await a.reporter.stop();
    await tracker.pump();
    // THEN the secret has no consumer left
    expect((await tracker.store.secret(arn, now())).consumers).toEqual([]);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('ignores a report that arrives after a newer one of the same consumer', async () => {
    // GIVEN
    const { tracker, arn, now, advance } = await setUp();
    const a = consumer(tracker, 'orders', 'one', now);
    const first = (await a.cache.current(arn)).versionId;
    await a.reporter.flush();
    await tracker.pump();
    const newer = {
      secretArn: arn,
      versionId: 'v-newer',
      service: 'orders',
      instance: 'one',
      reason: 'change' as const,
      usedSince: now() + 10,
      reportedAt: now() + 10,
      heartbeatSeconds: 60,
    };
    advance(20);
    // WHEN the newer report is applied first and the older heartbeat afterwards
    await tracker.store.applyReport(newer, now());
    const late = await tracker.store.applyReport(
      { ...newer, versionId: first, reason: 'heartbeat', reportedAt: now() - 15 },
      now(),
    );
    // THEN the consumer stays on the newer version
    expect(late.stale).toBe(true);
    expect((await tracker.store.secret(arn, now())).consumers[0]?.versionId).toBe('v-newer');
  });

  it('stores nothing for a malformed report, and keeps the latest rotation when a replayed or older Secret Rotated event arrives', async () => {
    // GIVEN
    const { tracker, arn, now, rotate, advance } = await setUp();
    const first = await rotate('{"apiKey":"k-a"}');
    advance(1000);
    const second = await rotate('{"apiKey":"k-b"}');
    await tracker.pump();
    const send = (detailType: string, source: string, detail: Record<string, unknown>) =>
      tracker.eventBridge.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: tracker.busName,
              Source: source,
              DetailType: detailType,
              Detail: JSON.stringify(detail),
            },
          ],
        }),
      );
    // WHEN a report without a version, one with a time that is not a number, a replay and an older rotation arrive
    await send('Secret Version In Use', 'secret-rotation.consumers', {
      secretArn: arn,
      service: 's',
      instance: 'i',
    });
    await send('Secret Version In Use', 'secret-rotation.consumers', {
      secretArn: arn,
      versionId: 'v',
      service: 's',
      instance: 'i',
      reason: 'start',
      usedSince: 'yesterday',
      reportedAt: now(),
      heartbeatSeconds: 60,
    });
    await send('Secret Rotated', 'secret-rotation', {
      secretArn: arn,
      versionId: second,
      finishedAt: now() + 5000,
      replay: true,
    });
    await send('Secret Rotated', 'secret-rotation', {
      secretArn: arn,
      versionId: first,
      finishedAt: now() - 500,
    });
    const outcomes = await tracker.pump();
    // THEN
    expect(outcomes.map((o) => o.kind)).toEqual(['ignored', 'ignored', 'ignored', 'rotation']);
    const state = await tracker.store.secret(arn, now());
    expect(state.consumers).toEqual([]);
    expect(state.rotation).toMatchObject({ versionId: second, rotatedAt: now(), evaluated: false });
  });
});
