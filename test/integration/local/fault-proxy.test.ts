import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createRotationHandler, loadRotationConfig } from '../../../functions/rotation';
import { RotationDriver } from '../../../local/driver';
import { type FaultProxy, startFaultProxy } from '../../../local/fault-proxy';
import { type LocalAws, startMoto } from '../../../local/moto';
import { CounterStrategy } from '../../helpers/counter-strategy';

let aws: LocalAws;
const proxies: FaultProxy[] = [];

beforeAll(async () => {
  aws = await startMoto();
}, 60_000);

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await aws?.stop();
});

async function proxy(options: Omit<Parameters<typeof startFaultProxy>[0], 'target'>) {
  const started = await startFaultProxy({ target: aws.endpoint, ...options });
  proxies.push(started);
  return { proxy: started, config: { ...aws.clientConfig, endpoint: started.endpoint } };
}

describe('the fault-injection proxy in front of moto', () => {
  it('throttles above its rate with a ThrottlingException the unmodified SDK recognises', async () => {
    // GIVEN a proxy allowing 5 requests a second with a burst of 2, and a client that does not retry
    const { proxy: p, config } = await proxy({ ratePerSecond: 5, burst: 2 });
    const client = new SecretsManagerClient({ ...config, maxAttempts: 1 });
    // WHEN ten requests arrive at once
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => client.send(new ListSecretsCommand({}))),
    );
    // THEN the burst goes through and the rest are throttled, by name
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(2);
    expect(rejected.length).toBeGreaterThanOrEqual(1);
    for (const r of rejected) expect((r as PromiseRejectedResult).reason.name).toBe('ThrottlingException');
    expect(p.stats.throttled).toBe(rejected.length);
  });

  it('lets the SDK retry throttled calls to success, and counts the retries', async () => {
    // GIVEN a proxy at 20 requests a second and the SDK's adaptive retries
    const { proxy: p, config } = await proxy({ ratePerSecond: 20, burst: 2 });
    const client = new SecretsManagerClient({ ...config, maxAttempts: 10, retryMode: 'adaptive' });
    // WHEN eight requests arrive at once
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => client.send(new ListSecretsCommand({}))),
    );
    // THEN all succeed, some after being throttled
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(p.stats.forwarded).toBe(8);
    expect(p.stats.throttled).toBeGreaterThan(0);
  });

  it('fails a named operation, and the driver retries the rotation with the same token to success', async () => {
    // GIVEN a secret and a proxy failing the first PutSecretValue with an error the SDK does not retry
    const { proxy: p, config } = await proxy({
      failures: [{ operation: 'PutSecretValue', code: 'InvalidRequestException', status: 400, times: 1 }],
    });
    const direct = new SecretsManagerClient(aws.clientConfig);
    await direct.send(
      new CreateSecretCommand({
        Name: 'fault-proxy/counter',
        SecretString: JSON.stringify({ generation: 0, password: 'p-0' }),
      }),
    );
    const driver = new RotationDriver(config);
    const handler = createRotationHandler({
      strategy: new CounterStrategy(),
      secretsManager: driver.client,
      config: loadRotationConfig({}),
    });
    // WHEN it is rotated
    const record = await driver.rotate('fault-proxy/counter', handler);
    // THEN the first attempt failed at createSecret, the second succeeded, with one token throughout
    expect(p.stats.failed).toBe(1);
    expect(record.succeeded).toBe(true);
    expect(record.attempts).toBe(2);
    expect(record.steps[0]).toMatchObject({ attempt: 1, step: 'createSecret', ok: false });
    expect(record.steps[0]?.errorName).toBe('RotationStepError');
    const current = await direct.send(
      new GetSecretValueCommand({ SecretId: 'fault-proxy/counter', VersionStage: 'AWSCURRENT' }),
    );
    expect(current.VersionId).toBe(record.token);
    expect(JSON.parse(current.SecretString ?? '{}').generation).toBe(1);
  });

  it('adds the configured latency before forwarding', async () => {
    // GIVEN a proxy adding 150 ms
    const { proxy: p, config } = await proxy({ latencyMs: 150 });
    const client = new SecretsManagerClient(config);
    // WHEN one call goes through it
    const started = performance.now();
    await client.send(new ListSecretsCommand({}));
    // THEN it took at least the added latency (a lower bound, which timers guarantee)
    expect(performance.now() - started).toBeGreaterThanOrEqual(149);
    expect(p.stats.byOperation.ListSecrets).toBe(1);
  });
});
