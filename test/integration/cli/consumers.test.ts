import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SecretCache } from '../../../client/secret-cache';
import { VersionReporter } from '../../../client/version-reporter';
import { type LocalTracker, startLocalTracker } from '../../../local/consumer-tracker';
import { type LocalAws, startMoto } from '../../../local/moto';
import { runCli } from './harness';

let aws: LocalAws;
let secrets: SecretsManagerClient;
let tracker: LocalTracker;
let home: string;

beforeAll(async () => {
  aws = await startMoto();
  secrets = new SecretsManagerClient(aws.clientConfig);
  tracker = await startLocalTracker(aws);
  home = mkdtempSync(join(tmpdir(), 'cli-consumers-'));
}, 60_000);

afterAll(async () => {
  await aws?.stop();
  rmSync(home, { recursive: true, force: true });
});

const cli = (args: string[]) => runCli({ home }, [...args, '--endpoint-url', aws.endpoint]);

async function reportingConsumer(service: string, instance: string) {
  const reporter = new VersionReporter({
    eventBridge: tracker.eventBridge,
    eventBusName: tracker.busName,
    service,
    instance,
  });
  const cache = new SecretCache({
    client: new SecretsManagerClient(aws.clientConfig),
    onVersion: (arn, versionId) => reporter.observe(arn, versionId),
  });
  return { reporter, cache };
}

/** A secret with two consumers; one moved to the version a rotation 20 minutes ago made current, one did not. */
async function lagging(name: string) {
  const created = await secrets.send(
    new CreateSecretCommand({ Name: name, SecretString: '{"apiKey":"k-first"}' }),
  );
  const arn = created.ARN ?? '';
  const a = await reportingConsumer('billing-api', 'replica-a');
  const b = await reportingConsumer('billing-api', 'replica-b');
  const first = (await a.cache.current(arn)).versionId;
  await b.cache.current(arn);
  await Promise.all([a.reporter.flush(), b.reporter.flush()]);
  await tracker.pump();
  const second = (
    await secrets.send(new PutSecretValueCommand({ SecretId: arn, SecretString: '{"apiKey":"k-second"}' }))
  ).VersionId as string;
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
            versionId: second,
            previousVersionId: first,
            finishedAt: Date.now() - 20 * 60_000,
          }),
        },
      ],
    }),
  );
  a.cache.notify({ secretId: arn, versionId: second });
  await a.cache.current(arn);
  await a.reporter.flush();
  await tracker.pump();
  return { arn, first, second };
}

describe('secret-rotation consumers', () => {
  it('lists each consumer with its version and labels, marks the one left on AWSPREVIOUS as lagging, and exits 1 with --check', async () => {
    // GIVEN
    const { arn, first, second } = await lagging('prod/orders-app');
    // WHEN
    const text = await cli(['consumers', 'prod/orders-app', '--table', tracker.tableName]);
    const checked = await cli([
      'consumers',
      'prod/orders-app',
      '--table',
      tracker.tableName,
      '--check',
      '--json',
    ]);
    // THEN
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(`prod/orders-app (${arn})`);
    expect(lines[2]).toBe('2 live consumer(s): 1 on AWSCURRENT, 1 on an older version, 1 LAGGING');
    expect(lines.find((l) => l.includes('replica-a'))).toMatch(
      new RegExp(`${second}\\s+AWSCURRENT\\s+.*UTC\\s+20m\\s+\\d+s ago\\s+ok$`),
    );
    expect(lines.find((l) => l.includes('replica-b'))).toMatch(
      new RegExp(`${first}\\s+AWSPREVIOUS\\s+.*LAGGING$`),
    );
    expect(checked.code).toBe(1);
    const json = JSON.parse(checked.stdout);
    expect(json).toMatchObject({ live: 2, onCurrent: 1, onOlder: 1, lagging: 1, currentVersionId: second });
    expect(json.consumers.map((c: { instance: string; stages: string[] }) => [c.instance, c.stages])).toEqual(
      [
        ['replica-a', ['AWSCURRENT']],
        ['replica-b', ['AWSPREVIOUS']],
      ],
    );
    expect(`${text.stdout}${checked.stdout}`).not.toMatch(/k-first|k-second/);
  });

  it('adds the consumer counts to status with a tracker table', async () => {
    // GIVEN
    await lagging('prod/billing-api');
    // WHEN
    const out = await cli(['status', 'prod/billing-api', '--table', tracker.tableName, '--json']);
    // THEN
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout).secrets[0].consumers).toEqual({ live: 2, onCurrent: 1, onOlder: 1 });
  });

  it('names the missing table, and asks for one when none is given', async () => {
    // GIVEN
    await secrets.send(new CreateSecretCommand({ Name: 'prod/no-table', SecretString: '{}' }));
    // WHEN
    const missing = await cli(['consumers', 'prod/no-table', '--table', 'nope']);
    const none = await cli(['consumers', 'prod/no-table']);
    // THEN
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      "error: consumer tracker table 'nope' does not exist (reading consumers of prod/no-table)\n",
    );
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no tracker table: pass --table or set SECRET_ROTATION_TRACKER_TABLE/);
  });
});
