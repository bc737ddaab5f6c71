import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { FleetRotateJson } from '../../../cli/commands/rotate-fleet';
import { type FaultProxy, startFaultProxy } from '../../../local/fault-proxy';
import { type LocalAws, startMoto } from '../../../local/moto';
import { runCli } from './harness';

jest.setTimeout(180_000);

let aws: LocalAws;
let home: string;
let secrets: SecretsManagerClient;

beforeAll(async () => {
  aws = await startMoto();
  home = mkdtempSync(join(tmpdir(), 'fleet-throttles-'));
  secrets = new SecretsManagerClient(aws.clientConfig);
});

afterAll(async () => {
  await aws?.stop();
  rmSync(home, { recursive: true, force: true });
});

async function fleet(tag: string): Promise<void> {
  for (const name of [`${tag}/a`, `${tag}/b`]) {
    await secrets.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: JSON.stringify({ apiKey: 'f'.repeat(40) }),
        Tags: [{ Key: 'fleet', Value: tag }],
      }),
    );
  }
}

/** A proxy in front of moto whose first two PutSecretValue are throttled, as Secrets Manager answers a quota. */
function throttlingProxy(): Promise<FaultProxy> {
  return startFaultProxy({
    target: aws.endpoint,
    failures: [{ operation: 'PutSecretValue', code: 'ThrottlingException', status: 400, times: 2 }],
  });
}

const rotate = (proxy: FaultProxy, tag: string, json: boolean) =>
  runCli(
    { home },
    [
      '--endpoint-url',
      proxy.endpoint,
      'rotate',
      '--tag',
      `fleet=${tag}`,
      '--local-function',
      'api-key',
      ...(json ? ['--json'] : []),
    ],
    { ROTATION_STRATEGY: 'self-issued' },
  );

describe('rotate --tag: the requests AWS throttled during the run', () => {
  it('counts in the JSON report the throttled attempts the SDK retried, the rotations succeeding', async () => {
    await fleet('json');
    const proxy = await throttlingProxy();
    try {
      const run = await rotate(proxy, 'json', true);
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout) as FleetRotateJson;
      expect(report.counts).toMatchObject({ selected: 2, rotated: 2, failed: 0 });
      expect(proxy.stats.failed).toBe(2);
      expect(report.throttledRequests).toBe(2);
    } finally {
      await proxy.stop();
    }
  });

  it('says it in the summary line', async () => {
    await fleet('text');
    const proxy = await throttlingProxy();
    try {
      const run = await rotate(proxy, 'text', false);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/2 rotated, .*; AWS throttled 2 request\(s\)\./);
    } finally {
      await proxy.stop();
    }
  });
});
