import {
  GetSecretValueCommand,
  type ListSecretVersionIdsCommandOutput,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createApiKeyHandler } from '../../../functions/api-key/create-handler';
import { SDK_RETRY_CONFIG } from '../../../functions/rotation/sdk-config';
import { RotationDriver } from '../../../local/driver';
import { type FaultProxy, startFaultProxy } from '../../../local/fault-proxy';
import { type LocalAws, startMoto } from '../../../local/moto';
import { Clock, createSecret, eventBus, uniqueName } from './harness';

// Powertools writes EMF through the global console in dev mode: capture it.
process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';

interface Emf {
  readonly _aws: {
    CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: unknown[] }>;
  };
  readonly [key: string]: unknown;
}

let aws: LocalAws;
let proxy: FaultProxy;
let output: string[] = [];

beforeAll(async () => {
  aws = await startMoto();
  // Secrets Manager answers a quota with ThrottlingException, HTTP 400 (JSON protocol).
  proxy = await startFaultProxy({
    target: aws.endpoint,
    failures: [{ operation: 'PutSecretValue', code: 'ThrottlingException', status: 400, times: 2 }],
  });
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await aws?.stop();
});

beforeEach(() => {
  output = [];
  jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    output.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '));
  });
});

afterEach(() => jest.restoreAllMocks());

/**
 * moto's ListSecretVersionIds dates every version at the time of the call (local/MOTO-DIFFERENCES.md), where
 * AWS gives each version's own CreatedDate; moto's GetSecretValue has the version's own. This puts the latter
 * into the function's listing, as AWS would answer it.
 */
function restoreCreatedDates(client: SecretsManagerClient, direct: SecretsManagerClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName !== 'ListSecretVersionIdsCommand') return result;
      const input = args.input as { SecretId: string };
      const output = result.output as ListSecretVersionIdsCommandOutput;
      for (const version of output.Versions ?? []) {
        const read = await direct
          .send(new GetSecretValueCommand({ SecretId: input.SecretId, VersionId: version.VersionId }))
          .catch(() => undefined);
        if (read?.CreatedDate) version.CreatedDate = read.CreatedDate;
      }
      return result;
    },
    { step: 'initialize', name: 'motoCreatedDates' },
  );
}

function emf(): Emf[] {
  return output.filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line) as Emf);
}

describe('ThrottledRequests: what AWS throttled during a rotation, the attempts the SDK retried included', () => {
  it('a rotation whose PutSecretValue was throttled twice succeeds and reports 2 for createSecret, 0 for the other steps', async () => {
    // GIVEN an API key rotation whose Secrets Manager client goes through the proxy
    const direct = new SecretsManagerClient(aws.clientConfig);
    const arn = await createSecret(direct, uniqueName('throttled'), { apiKey: 'k'.repeat(40) });
    const driver = new RotationDriver({ ...aws.clientConfig, endpoint: proxy.endpoint, ...SDK_RETRY_CONFIG });
    const handler = createApiKeyHandler({
      secretsManager: driver.client,
      eventBridge: eventBus().client,
      now: new Clock().now,
      env: {
        ROTATION_KIND: 'api-key',
        ROTATION_STRATEGY: 'self-issued',
        EVENT_BUS_NAME: 'rotation-bus',
        API_KEY_GRACE_PERIOD_SECONDS: '3600',
      },
    });
    await driver.enableRotation(arn);

    // WHEN
    const record = await driver.rotate(arn, handler);

    // THEN the rotation succeeded at the first attempt, the SDK having retried PutSecretValue twice
    expect(record).toMatchObject({ succeeded: true, attempts: 1 });
    expect(proxy.stats.failed).toBe(2);
    const throttled = emf().filter((blob) => 'ThrottledRequests' in blob);
    // one per step invocation, with the dimensions of RotationSucceeded
    expect(throttled.map((blob) => blob.ThrottledRequests)).toEqual([2, 0, 0, 0]);
    for (const blob of throttled) {
      expect(blob._aws.CloudWatchMetrics[0]).toMatchObject({
        Namespace: 'SecretRotation',
        Dimensions: [['service', 'Kind', 'Strategy']],
      });
      expect(blob).toMatchObject({ service: 'secret-rotation', Kind: 'api-key', Strategy: 'self-issued' });
    }
    const succeeded = emf().find((blob) => 'RotationSucceeded' in blob);
    expect(succeeded?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'Kind', 'Strategy']]);
    // no key material in any metric
    expect(output.join('\n')).not.toContain('k'.repeat(40));
  }, 120_000);
});

describe('RevocationLatency: from the creation of the new version to the revocation of the old key, through moto', () => {
  it('the sweep after the grace period reports the successor creation date moto recorded, and the latency by its clock', async () => {
    // GIVEN an API key rotated once, straight against moto
    const direct = new SecretsManagerClient(aws.clientConfig);
    const arn = await createSecret(direct, uniqueName('latency'), { apiKey: 'q'.repeat(40) });
    const driver = new RotationDriver(aws.clientConfig);
    const clock = new Clock();
    const bus = eventBus();
    const handler = createApiKeyHandler({
      secretsManager: driver.client,
      eventBridge: bus.client,
      now: clock.now,
      env: {
        ROTATION_KIND: 'api-key',
        ROTATION_STRATEGY: 'self-issued',
        EVENT_BUS_NAME: 'rotation-bus',
        API_KEY_GRACE_PERIOD_SECONDS: '3600',
      },
    });
    restoreCreatedDates(driver.client, direct);
    await driver.enableRotation(arn);
    // moto records CreatedDate to the second (AWS to the millisecond): a version created in the same second as
    // the first one could not be told to come after it. Not a timed assertion: it only orders the two.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const record = await driver.rotate(arn, handler);
    expect(record.succeeded).toBe(true);
    const successor = (
      await direct.send(new GetSecretValueCommand({ SecretId: arn, VersionId: record.token }))
    ).CreatedDate;
    expect(successor).toBeInstanceOf(Date);

    // WHEN the sweep runs once the grace period is over
    clock.advance(3600);
    output = [];
    const report = await handler({ Action: 'sweep', SecretId: arn });

    // THEN the old key is revoked, measured from the new version's creation as moto recorded it
    const revoked = report?.revoked ?? [];
    expect(revoked).toHaveLength(1);
    const expected = clock.ms - (successor as Date).getTime();
    expect(revoked[0]).toMatchObject({
      reason: 'grace-period-ended',
      supersededAt: (successor as Date).toISOString(),
      latencyMs: expected,
    });
    const event = bus.published.find((e) => e.detail.action === 'api-key-revoked');
    expect(event?.detail).toMatchObject({
      supersededAt: (successor as Date).toISOString(),
      latencyMs: expected,
    });
    const metric = emf().find((blob) => 'RevocationLatency' in blob);
    expect(metric?.RevocationLatency).toBe(expected);
    expect(metric?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'Kind', 'Strategy']]);
    // no key in the event or the metrics
    expect(JSON.stringify(bus.published)).not.toContain('q'.repeat(40));
    expect(output.join('\n')).not.toContain('q'.repeat(40));
  }, 120_000);
});
