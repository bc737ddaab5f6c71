import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { createRotationHandler, loadRotationConfig } from '../../../functions/rotation';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';
import { CounterStrategy } from '../../helpers/counter-strategy';

let aws: LocalAws;
let secrets: SecretsManagerClient;

beforeAll(async () => {
  aws = await startMoto();
  secrets = new SecretsManagerClient(aws.clientConfig);
}, 60_000);

afterAll(async () => {
  await aws?.stop();
});

describe('the rotation driver against moto', () => {
  it('runs the four steps with a fresh token and the protocol core sees an empty AWSPENDING, as on AWS', async () => {
    // GIVEN
    await secrets.send(
      new CreateSecretCommand({
        Name: 'driver/one',
        SecretString: JSON.stringify({ generation: 0, password: 'p-0-initial' }),
      }),
    );
    const driver = new RotationDriver(aws.clientConfig);
    const strategy = new CounterStrategy();
    const handler = createRotationHandler({
      strategy,
      secretsManager: driver.client,
      config: loadRotationConfig({}),
    });
    // WHEN
    const first = await driver.rotate('driver/one', handler);
    const second = await driver.rotate('driver/one', handler);
    // THEN
    expect(first.succeeded && second.succeeded).toBe(true);
    expect(first.steps.map((s) => s.step)).toEqual([
      'createSecret',
      'setSecret',
      'testSecret',
      'finishSecret',
    ]);
    const current = await secrets.send(
      new GetSecretValueCommand({ SecretId: 'driver/one', VersionStage: 'AWSCURRENT' }),
    );
    expect(current.VersionId).toBe(second.token);
    expect(JSON.parse(current.SecretString ?? '{}').generation).toBe(2);
    const stages = (await secrets.send(new DescribeSecretCommand({ SecretId: 'driver/one' })))
      .VersionIdsToStages;
    expect(stages?.[first.token]).toEqual(['AWSPREVIOUS']);
  });

  it('retries the whole rotation with the same token after a failure, and gives up after the bound', async () => {
    // GIVEN a function whose setSecret fails once
    await secrets.send(
      new CreateSecretCommand({
        Name: 'driver/two',
        SecretString: JSON.stringify({ generation: 0, password: 'p-0-initial' }),
      }),
    );
    const driver = new RotationDriver(aws.clientConfig);
    const strategy = new CounterStrategy();
    strategy.failNext = { hook: 'set', error: new Error('database restarting') };
    const handler = createRotationHandler({
      strategy,
      secretsManager: driver.client,
      config: loadRotationConfig({}),
    });
    // WHEN
    const record = await driver.rotate('driver/two', handler, { maxAttempts: 3 });
    // THEN
    expect(record).toMatchObject({ succeeded: true, attempts: 2 });
    expect(record.steps.filter((s) => !s.ok).map((s) => s.step)).toEqual(['setSecret']);
    expect(strategy.calls.filter((c) => c === 'createPending')).toHaveLength(1);
    // and a function that always fails is retried the bounded number of times, leaving AWSCURRENT alone
    const before = await secrets.send(
      new GetSecretValueCommand({ SecretId: 'driver/two', VersionStage: 'AWSCURRENT' }),
    );
    const failing = async () => {
      throw new Error('always');
    };
    const failed = await driver.rotate('driver/two', failing, { maxAttempts: 2 });
    expect(failed).toMatchObject({ succeeded: false, attempts: 2 });
    const after = await secrets.send(
      new GetSecretValueCommand({ SecretId: 'driver/two', VersionStage: 'AWSCURRENT' }),
    );
    expect(after.VersionId).toBe(before.VersionId);
  });
});

describe("the driver's configuration test (RotateImmediately=false)", () => {
  it('invokes testSecret alone against a copy of AWSCURRENT, then removes the temporary label', async () => {
    // GIVEN a secret rotated once, so that moto's own copy would be stale
    const name = 'driver/configuration';
    await secrets.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: JSON.stringify({ generation: 0, password: 'p-0-initial' }),
      }),
    );
    const driver = new RotationDriver(aws.clientConfig);
    const strategy = new CounterStrategy();
    const handler = createRotationHandler({
      strategy,
      secretsManager: driver.client,
      config: loadRotationConfig({}),
    });
    expect((await driver.rotate(name, handler)).succeeded).toBe(true);
    const seen: string[] = [];
    // WHEN
    const result = await driver.testConfiguration(name, async (event) => {
      const { ClientRequestToken, Step } = event as { ClientRequestToken: string; Step: string };
      seen.push(Step);
      const pending = await secrets.send(
        new GetSecretValueCommand({
          SecretId: name,
          VersionId: ClientRequestToken,
          VersionStage: 'AWSPENDING',
        }),
      );
      const current = await secrets.send(
        new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }),
      );
      expect(pending.SecretString).toBe(current.SecretString);
      return handler(event);
    });
    // THEN
    expect(result).toMatchObject({ ok: true });
    expect(seen).toEqual(['testSecret']);
    await expect(
      secrets.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' })),
    ).rejects.toThrow();
  });

  it('reports a failing testSecret with its error name, and still removes the temporary label', async () => {
    const name = 'driver/configuration-fails';
    await secrets.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: JSON.stringify({ generation: 0, password: 'p-0-initial' }),
      }),
    );
    const driver = new RotationDriver(aws.clientConfig);
    const handler = createRotationHandler({
      strategy: new CounterStrategy(), // accepts no password: testSecret fails
      secretsManager: driver.client,
      config: loadRotationConfig({}),
    });
    const result = await driver.testConfiguration(name, handler);
    expect(result).toMatchObject({ ok: false, errorName: 'RotationStepError' });
    await expect(
      secrets.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' })),
    ).rejects.toThrow();
  });
});

describe('where moto differs from AWS (see local/MOTO-DIFFERENCES.md); our code must not rely on these', () => {
  it('answers a GetSecretValue without VersionStage with a stale version after AWSCURRENT moved', async () => {
    const created = await secrets.send(new CreateSecretCommand({ Name: 'moto/stale', SecretString: 'v0' }));
    const first = Object.keys(
      (await secrets.send(new DescribeSecretCommand({ SecretId: 'moto/stale' }))).VersionIdsToStages ?? {},
    )[0];
    const token = '00000000-0000-4000-8000-000000000001';
    await secrets.send(
      new PutSecretValueCommand({
        SecretId: created.ARN,
        ClientRequestToken: token,
        SecretString: 'v1',
        VersionStages: ['AWSPENDING'],
      }),
    );
    await secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: created.ARN,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: token,
        RemoveFromVersionId: first,
      }),
    );
    const stageless = await secrets.send(new GetSecretValueCommand({ SecretId: 'moto/stale' }));
    const explicit = await secrets.send(
      new GetSecretValueCommand({ SecretId: 'moto/stale', VersionStage: 'AWSCURRENT' }),
    );
    expect(explicit.SecretString).toBe('v1');
    expect(stageless.SecretString).toBe('v0'); // AWS would answer v1
  });

  it('stages AWSPENDING on a copy of the current value in RotateSecret, where AWS stages no value', async () => {
    await secrets.send(new CreateSecretCommand({ Name: 'moto/rotate', SecretString: 'v0' }));
    await secrets
      .send(
        new RotateSecretCommand({
          SecretId: 'moto/rotate',
          ClientRequestToken: '00000000-0000-4000-8000-000000000002',
          RotationLambdaARN: 'arn:aws:lambda:us-east-1:123456789012:function:none',
          RotateImmediately: false,
        }),
      )
      .catch(() => undefined); // moto cannot find or run the function
    const pending = await secrets.send(
      new GetSecretValueCommand({ SecretId: 'moto/rotate', VersionStage: 'AWSPENDING' }),
    );
    expect(pending.SecretString).toBe('v0');
  });

  it('records no LastRotatedDate when a rotation completes through the driver, where AWS records it', async () => {
    await secrets.send(
      new CreateSecretCommand({
        Name: 'moto/last-rotated',
        SecretString: JSON.stringify({ generation: 0, password: 'p-0-initial' }),
      }),
    );
    const driver = new RotationDriver(aws.clientConfig);
    const handler = createRotationHandler({
      strategy: new CounterStrategy(),
      secretsManager: driver.client,
      config: loadRotationConfig({}),
    });
    expect((await driver.rotate('moto/last-rotated', handler)).succeeded).toBe(true);
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: 'moto/last-rotated' }));
    expect(described.LastRotatedDate).toBeUndefined();
  });

  it('reports every version as created and last accessed at the same moment, whatever their age', async () => {
    await secrets.send(new CreateSecretCommand({ Name: 'moto/dates', SecretString: 'v0' }));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await secrets.send(
      new PutSecretValueCommand({
        SecretId: 'moto/dates',
        SecretString: 'v1',
        ClientRequestToken: '00000000-0000-4000-8000-000000000021',
      }),
    );
    const versions = await secrets.send(
      new ListSecretVersionIdsCommand({ SecretId: 'moto/dates', IncludeDeprecated: true }),
    );
    const created = new Set((versions.Versions ?? []).map((v) => v.CreatedDate?.getTime()));
    expect(versions.Versions).toHaveLength(2);
    expect(created.size).toBe(1);
  });
});
