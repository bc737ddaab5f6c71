import { randomBytes } from 'node:crypto';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SecretCache } from '../../../client/secret-cache';
import { VersionReporter } from '../../../client/version-reporter';
import { createApiKeyHandler } from '../../../functions/api-key/create-handler';
import { startLocalTracker } from '../../../local/consumer-tracker';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';

const GRACE = 3600;
const MIN_GRACE = 300;
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

describe('API key revocation with the consumer tracker, in the local mode', () => {
  it('keeps the previous key while a tracked consumer still uses it, and revokes it as soon as that consumer moved', async () => {
    // GIVEN the tracker, a self-issued API key and two consumers that report, all on one simulated clock
    let clock = Math.floor(Date.now() / 1000) * 1000;
    const now = () => clock;
    const advance = (ms: number) => {
      clock += ms;
    };
    const tracker = await startLocalTracker(aws, { now });
    const name = `orders/key-${randomBytes(4).toString('hex')}`;
    const arn =
      (
        await secrets.send(
          new CreateSecretCommand({
            Name: name,
            SecretString: JSON.stringify({ apiKey: `initial-${randomBytes(16).toString('hex')}` }),
          }),
        )
      ).ARN ?? '';
    const consumer = (instance: string) => {
      const reporter = new VersionReporter({
        eventBridge: tracker.eventBridge,
        eventBusName: tracker.busName,
        service: 'orders-client',
        instance,
        heartbeatIntervalMs: HEARTBEAT_MS,
        now,
      });
      const cache = new SecretCache({
        client: new SecretsManagerClient(aws.clientConfig),
        now,
        onVersion: (secretArn, versionId) => reporter.observe(secretArn, versionId),
      });
      return { reporter, cache };
    };
    const fast = consumer('fast');
    const slow = consumer('slow');
    const initialVersion = (await fast.cache.current(arn)).versionId;
    await slow.cache.current(arn);
    const driver = new RotationDriver(aws.clientConfig);
    await driver.enableRotation(arn);
    const handler = createApiKeyHandler({
      secretsManager: driver.client,
      eventBridge: tracker.eventBridge,
      consumers: tracker.store,
      now,
      sleep: async () => {},
      env: {
        ROTATION_KIND: 'api-key',
        ROTATION_STRATEGY: 'self-issued',
        EVENT_BUS_NAME: tracker.busName,
        API_KEY_GRACE_PERIOD_SECONDS: String(GRACE),
        CONSUMER_TRACKER_TABLE: tracker.tableName,
        API_KEY_MIN_GRACE_SECONDS: String(MIN_GRACE),
      },
    });
    const heartbeats = async (ms: number) => {
      for (let passed = 0; passed < ms; passed += HEARTBEAT_MS) {
        advance(Math.min(HEARTBEAT_MS, ms - passed));
        await Promise.all([fast.reporter.heartbeat(), slow.reporter.heartbeat()]);
        await tracker.pump();
      }
    };
    const previousStages = async () =>
      (await secrets.send(new GetSecretValueCommand({ SecretId: arn, VersionId: initialVersion })))
        .VersionStages;
    await Promise.all([fast.reporter.flush(), slow.reporter.flush()]);
    await tracker.pump();

    // WHEN the key rotates; only the fast consumer hears of it
    const record = await driver.rotate(arn, handler);
    expect(record).toMatchObject({ succeeded: true });
    const rotations = await tracker.pump();
    expect(rotations).toContainEqual({ kind: 'rotation', versionId: record.token });
    fast.cache.notify({ secretId: arn, versionId: record.token });
    await fast.cache.current(arn);
    await heartbeats(MIN_GRACE * 1000);
    const held = await handler({ Action: 'sweep', SecretId: arn });
    // THEN past the minimum grace period the previous key stays, because the slow consumer still uses it
    expect(held?.revoked).toEqual([]);
    expect(held?.waiting).toEqual([
      { versionId: initialVersion, revokeAfter: expect.any(String), liveConsumers: 1 },
    ]);
    expect(await previousStages()).toEqual(['AWSPREVIOUS']);

    // WHEN the slow consumer moves too (its cache's fallback refresh)
    slow.cache.invalidate(arn);
    await slow.cache.current(arn);
    await slow.reporter.flush();
    await tracker.pump();
    advance(1000);
    const done = await handler({ Action: 'sweep', SecretId: arn });
    // THEN the previous key is revoked at once, long before the grace period ends
    expect(done?.revoked).toEqual([
      expect.objectContaining({
        versionId: initialVersion,
        reason: 'consumers-moved',
        liveConsumers: 0,
        outcome: 'revoked',
      }),
    ]);
    expect(await previousStages()).toEqual([]);
    await Promise.all([fast.reporter.stop(), slow.reporter.stop()]);
  });
});
