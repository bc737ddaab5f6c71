import { randomUUID } from 'node:crypto';
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
import { createRotationHandler, loadRotationConfig, type RotationHandler } from '../../../functions/rotation';
import { pendingInProgress } from '../../../functions/rotation/secrets-store';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, motoAvailable, startMoto } from '../../../local/moto';
import { CounterStrategy } from '../../helpers/counter-strategy';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { STEPS } from '../../helpers/rotate';

/**
 * The contract of the parts of Secrets Manager that rotation relies on, run against the test fake and against
 * moto's server. Each case states what AWS documents; where moto differs, the difference is pinned at the end
 * of this file and listed in local/MOTO-DIFFERENCES.md, and the fake follows AWS.
 */

interface Backend {
  /** A client for calls made by hand (an operator, the service). */
  readonly admin: SecretsManagerClient;
  /** The client a rotation function is built with. */
  readonly functionClient: SecretsManagerClient;
  /** Creates a secret whose AWSCURRENT holds `value`, rotation enabled; returns its ARN and version. */
  createSecret(value: string): Promise<{ arn: string; versionId: string }>;
  /** What RotateSecret does first: a token staged AWSPENDING without a value. */
  startRotation(arn: string): Promise<string>;
  /** What RotateSecret with RotateImmediately=false does: testSecret alone against a temporary copy. */
  testConfiguration(arn: string, handler: RotationHandler): Promise<boolean>;
}

function fakeBackend(): Backend {
  const fake = new FakeSecretsManager();
  return {
    admin: fake.client,
    functionClient: fake.client,
    createSecret: async (value) => {
      const arn = fake.createSecret(`contract/${randomUUID()}`, value);
      return { arn, versionId: fake.versionOf(arn, 'AWSCURRENT') as string };
    },
    startRotation: async (arn) => fake.startRotation(arn),
    testConfiguration: async (arn, handler) => {
      const token = fake.startConfigurationTest(arn);
      try {
        await handler({ SecretId: arn, ClientRequestToken: token, Step: 'testSecret' });
        return true;
      } catch {
        return false;
      } finally {
        fake.endConfigurationTest(arn, token);
      }
    },
  };
}

let aws: LocalAws | undefined;

function motoBackend(): Backend {
  if (!aws) throw new Error('moto is not running');
  const admin = new SecretsManagerClient(aws.clientConfig);
  const driver = new RotationDriver(aws.clientConfig);
  return {
    admin,
    functionClient: driver.client,
    createSecret: async (value) => {
      const out = await admin.send(
        new CreateSecretCommand({ Name: `contract/${randomUUID()}`, SecretString: value }),
      );
      await driver.enableRotation(out.ARN as string);
      return { arn: out.ARN as string, versionId: out.VersionId as string };
    },
    startRotation: async (arn) => (await driver.startRotation(arn)).token,
    testConfiguration: async (arn, handler) => (await driver.testConfiguration(arn, handler)).ok,
  };
}

beforeAll(async () => {
  if (!motoAvailable()) throw new Error('The contract tests need moto: pip install "moto[server]"');
  aws = await startMoto();
}, 60_000);

afterAll(async () => {
  await aws?.stop();
});

async function errorName(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
    return undefined;
  } catch (error) {
    return (error as Error).name;
  }
}

async function versionAt(
  client: SecretsManagerClient,
  arn: string,
  stage: string,
): Promise<string | undefined> {
  try {
    return (await client.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: stage }))).VersionId;
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

/** The version holding AWSPENDING when it is not AWSCURRENT: a rotation in progress. */
async function rotationInProgress(client: SecretsManagerClient, arn: string): Promise<string | undefined> {
  const described = await client.send(new DescribeSecretCommand({ SecretId: arn }));
  return pendingInProgress(described.VersionIdsToStages ?? {});
}

async function valueAt(
  client: SecretsManagerClient,
  arn: string,
  stage: string,
): Promise<string | undefined> {
  return (await client.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: stage }))).SecretString;
}

const move = (arn: string, stage: string, to?: string, from?: string) =>
  new UpdateSecretVersionStageCommand({
    SecretId: arn,
    VersionStage: stage,
    ...(to ? { MoveToVersionId: to } : {}),
    ...(from ? { RemoveFromVersionId: from } : {}),
  });

const put = (arn: string, token: string, value: string, stages?: string[]) =>
  new PutSecretValueCommand({
    SecretId: arn,
    ClientRequestToken: token,
    SecretString: value,
    ...(stages ? { VersionStages: stages } : {}),
  });

describe.each([
  ['the fake', fakeBackend],
  ["moto's server", motoBackend],
])('Secrets Manager contract: %s', (_name, make) => {
  let backend: Backend;
  beforeEach(() => {
    backend = make();
  });

  describe('UpdateSecretVersionStage', () => {
    it('refuses to remove a label from a version that does not hold it', async () => {
      const { admin } = backend;
      const { arn, versionId } = await backend.createSecret('v0');
      const token = randomUUID();
      await admin.send(put(arn, token, 'v1', ['AWSPENDING']));
      expect(await errorName(admin.send(move(arn, 'AWSPENDING', undefined, versionId)))).toBe(
        'InvalidParameterException',
      );
      expect(await errorName(admin.send(move(arn, 'AWSCURRENT', token, token)))).toBe(
        'InvalidParameterException',
      );
    });

    it('refuses to move AWSCURRENT without RemoveFromVersionId naming its holder', async () => {
      const { admin } = backend;
      const { arn, versionId } = await backend.createSecret('v0');
      const token = randomUUID();
      await admin.send(put(arn, token, 'v1', ['AWSPENDING']));
      expect(await errorName(admin.send(move(arn, 'AWSCURRENT', token)))).toBe('InvalidParameterException');
      expect(await versionAt(admin, arn, 'AWSCURRENT')).toBe(versionId);
    });

    it('moves AWSCURRENT and takes AWSPREVIOUS to the version it left', async () => {
      const { admin } = backend;
      const { arn, versionId } = await backend.createSecret('v0');
      const token = randomUUID();
      await admin.send(put(arn, token, 'v1', ['AWSPENDING']));
      await admin.send(move(arn, 'AWSCURRENT', token, versionId));
      expect(await versionAt(admin, arn, 'AWSCURRENT')).toBe(token);
      expect(await versionAt(admin, arn, 'AWSPREVIOUS')).toBe(versionId);
      expect(await valueAt(admin, arn, 'AWSCURRENT')).toBe('v1');
    });

    it('refuses a second removal of AWSPENDING from the same version (the duplicate finishSecret)', async () => {
      const { admin } = backend;
      const { arn } = await backend.createSecret('v0');
      const token = randomUUID();
      await admin.send(put(arn, token, 'v1', ['AWSPENDING']));
      await admin.send(move(arn, 'AWSPENDING', undefined, token));
      expect(await errorName(admin.send(move(arn, 'AWSPENDING', undefined, token)))).toBe(
        'InvalidParameterException',
      );
    });

    it('refuses a version that does not exist', async () => {
      const { admin } = backend;
      const { arn, versionId } = await backend.createSecret('v0');
      expect(await errorName(admin.send(move(arn, 'AWSCURRENT', randomUUID(), versionId)))).toBe(
        'InvalidParameterException',
      );
    });
  });

  describe('GetSecretValue', () => {
    it('answers InvalidRequestException for a version id with a stage it does not hold', async () => {
      const { admin } = backend;
      const { arn, versionId } = await backend.createSecret('v0');
      expect(
        await errorName(
          admin.send(
            new GetSecretValueCommand({ SecretId: arn, VersionId: versionId, VersionStage: 'AWSPENDING' }),
          ),
        ),
      ).toBe('InvalidRequestException');
    });

    it('answers ResourceNotFoundException for an unknown version id and for a stage no version holds', async () => {
      const { admin } = backend;
      const { arn } = await backend.createSecret('v0');
      expect(
        await errorName(admin.send(new GetSecretValueCommand({ SecretId: arn, VersionId: randomUUID() }))),
      ).toBe('ResourceNotFoundException');
      expect(
        await errorName(admin.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPENDING' }))),
      ).toBe('ResourceNotFoundException');
    });
  });

  describe('PutSecretValue', () => {
    it('with VersionStages AWSPENDING leaves AWSCURRENT alone', async () => {
      const { admin } = backend;
      const { arn, versionId } = await backend.createSecret('v0');
      const token = randomUUID();
      await admin.send(put(arn, token, 'v1', ['AWSPENDING']));
      expect(await versionAt(admin, arn, 'AWSCURRENT')).toBe(versionId);
      expect(await versionAt(admin, arn, 'AWSPENDING')).toBe(token);
    });

    it('with the same token and the same value twice succeeds both times', async () => {
      const { admin } = backend;
      const { arn } = await backend.createSecret('v0');
      const token = randomUUID();
      await admin.send(put(arn, token, 'v1', ['AWSPREVIOUS']));
      await expect(admin.send(put(arn, token, 'v1', ['AWSPREVIOUS']))).resolves.toBeDefined();
    });

    it('with the same token and another value is refused with ResourceExistsException', async () => {
      const { admin } = backend;
      const { arn } = await backend.createSecret('v0');
      const token = randomUUID();
      await admin.send(put(arn, token, 'v1', ['AWSPREVIOUS']));
      expect(await errorName(admin.send(put(arn, token, 'v2', ['AWSPREVIOUS'])))).toBe(
        'ResourceExistsException',
      );
    });

    it('without VersionStages makes the version AWSCURRENT and the old one AWSPREVIOUS', async () => {
      const { admin } = backend;
      const { arn, versionId } = await backend.createSecret('v0');
      const token = randomUUID();
      await admin.send(put(arn, token, 'v1'));
      expect(await versionAt(admin, arn, 'AWSCURRENT')).toBe(token);
      expect(await versionAt(admin, arn, 'AWSPREVIOUS')).toBe(versionId);
    });
  });

  describe('ListSecretVersionIds', () => {
    it('with IncludeDeprecated lists a version whose labels were all removed', async () => {
      const { admin } = backend;
      const { arn } = await backend.createSecret('v0');
      const token = randomUUID();
      await admin.send(put(arn, token, 'v1', ['AWSPENDING']));
      await admin.send(move(arn, 'AWSPENDING', undefined, token));
      const out = await admin.send(
        new ListSecretVersionIdsCommand({ SecretId: arn, IncludeDeprecated: true }),
      );
      expect(out.Versions?.map((v) => v.VersionId)).toContain(token);
    });
  });

  describe('the protocol core with the counter strategy', () => {
    function handlerFor(strategy = new CounterStrategy()) {
      return {
        strategy,
        handler: createRotationHandler({
          strategy,
          secretsManager: backend.functionClient,
          config: loadRotationConfig({}),
        }),
      };
    }
    const initial = JSON.stringify({ generation: 0, password: 'contract-initial-1' });

    // The RotateSecret API reference: a rotation ends with AWSPENDING on the AWSCURRENT version, or on none.
    it('rotates: the token becomes AWSCURRENT and keeps AWSPENDING, the old version AWSPREVIOUS, no rotation in progress', async () => {
      const { handler } = handlerFor();
      const { arn, versionId } = await backend.createSecret(initial);
      const token = await backend.startRotation(arn);
      for (const Step of STEPS) await handler({ SecretId: arn, ClientRequestToken: token, Step });
      expect(await versionAt(backend.admin, arn, 'AWSCURRENT')).toBe(token);
      expect(await versionAt(backend.admin, arn, 'AWSPREVIOUS')).toBe(versionId);
      expect(await versionAt(backend.admin, arn, 'AWSPENDING')).toBe(token);
      expect(await rotationInProgress(backend.admin, arn)).toBeUndefined();
      expect(JSON.parse((await valueAt(backend.admin, arn, 'AWSCURRENT')) ?? '{}').generation).toBe(1);
    });

    it('reaches the same state when every step runs twice', async () => {
      const { handler } = handlerFor();
      const { arn, versionId } = await backend.createSecret(initial);
      const token = await backend.startRotation(arn);
      for (const Step of STEPS) {
        await handler({ SecretId: arn, ClientRequestToken: token, Step });
        await handler({ SecretId: arn, ClientRequestToken: token, Step });
      }
      expect(await versionAt(backend.admin, arn, 'AWSCURRENT')).toBe(token);
      expect(await versionAt(backend.admin, arn, 'AWSPREVIOUS')).toBe(versionId);
      expect(await rotationInProgress(backend.admin, arn)).toBeUndefined();
    });

    it('a second rotation starts and finishes after the first left AWSPENDING on AWSCURRENT', async () => {
      const { handler } = handlerFor();
      const { arn } = await backend.createSecret(initial);
      const first = await backend.startRotation(arn);
      for (const Step of STEPS) await handler({ SecretId: arn, ClientRequestToken: first, Step });
      const second = await backend.startRotation(arn);
      for (const Step of STEPS) await handler({ SecretId: arn, ClientRequestToken: second, Step });
      expect(await versionAt(backend.admin, arn, 'AWSCURRENT')).toBe(second);
      expect(await versionAt(backend.admin, arn, 'AWSPREVIOUS')).toBe(first);
      expect(await versionAt(backend.admin, arn, 'AWSPENDING')).toBe(second);
      expect(await rotationInProgress(backend.admin, arn)).toBeUndefined();
      expect(JSON.parse((await valueAt(backend.admin, arn, 'AWSCURRENT')) ?? '{}').generation).toBe(2);
    });

    it('PROTOCOL "Concurrency": two finishSecret at once both succeed', async () => {
      const { handler } = handlerFor();
      const { arn, versionId } = await backend.createSecret(initial);
      const token = await backend.startRotation(arn);
      for (const Step of STEPS.slice(0, 3)) await handler({ SecretId: arn, ClientRequestToken: token, Step });
      const finish = () => handler({ SecretId: arn, ClientRequestToken: token, Step: 'finishSecret' });
      const results = await Promise.allSettled([finish(), finish()]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(await versionAt(backend.admin, arn, 'AWSCURRENT')).toBe(token);
      expect(await versionAt(backend.admin, arn, 'AWSPREVIOUS')).toBe(versionId);
      expect(await rotationInProgress(backend.admin, arn)).toBeUndefined();
    });

    it('leaves AWSCURRENT as it was when testSecret fails', async () => {
      const { handler, strategy } = handlerFor();
      const { arn, versionId } = await backend.createSecret(initial);
      const token = await backend.startRotation(arn);
      for (const Step of STEPS.slice(0, 2)) await handler({ SecretId: arn, ClientRequestToken: token, Step });
      strategy.failNext = { hook: 'test', error: new Error('cannot log in') };
      await expect(handler({ SecretId: arn, ClientRequestToken: token, Step: 'testSecret' })).rejects.toThrow(
        'cannot log in',
      );
      expect(await versionAt(backend.admin, arn, 'AWSCURRENT')).toBe(versionId);
      expect(await valueAt(backend.admin, arn, 'AWSCURRENT')).toBe(initial);
    });

    it('PROTOCOL "RotateImmediately=false": testSecret alone passes against a temporary copy of AWSCURRENT', async () => {
      const { handler, strategy } = handlerFor();
      strategy.accepted.add('contract-initial-1');
      const { arn, versionId } = await backend.createSecret(initial);
      expect(await backend.testConfiguration(arn, handler)).toBe(true);
      expect(strategy.calls).toEqual(['test']);
      expect(await versionAt(backend.admin, arn, 'AWSCURRENT')).toBe(versionId);
      expect(await versionAt(backend.admin, arn, 'AWSPENDING')).toBeUndefined();
    });

    it('PROTOCOL "RotateImmediately=false" after a finished rotation (AWSPENDING on AWSCURRENT) passes', async () => {
      const { handler, strategy } = handlerFor();
      const { arn } = await backend.createSecret(initial);
      const token = await backend.startRotation(arn);
      for (const Step of STEPS) await handler({ SecretId: arn, ClientRequestToken: token, Step });
      strategy.calls.length = 0;
      expect(await backend.testConfiguration(arn, handler)).toBe(true);
      expect(strategy.calls).toEqual(['test']);
      expect(await versionAt(backend.admin, arn, 'AWSCURRENT')).toBe(token);
      // The service removes the temporary AWSPENDING: on no version afterwards.
      expect(await versionAt(backend.admin, arn, 'AWSPENDING')).toBeUndefined();
    });
  });
});

describe('documented moto differences (local/MOTO-DIFFERENCES.md); the fake follows AWS', () => {
  let admin: SecretsManagerClient;
  beforeEach(() => {
    if (!aws) throw new Error('moto is not running');
    admin = new SecretsManagerClient(aws.clientConfig);
  });

  it('moto lets PutSecretValue replace the value of a version staged AWSPENDING, where AWS refuses', async () => {
    const created = await admin.send(
      new CreateSecretCommand({ Name: `contract/${randomUUID()}`, SecretString: 'v0' }),
    );
    const token = randomUUID();
    await admin.send(put(created.ARN as string, token, 'v1', ['AWSPENDING']));
    await admin.send(put(created.ARN as string, token, 'v2', ['AWSPENDING']));
    expect(await valueAt(admin, created.ARN as string, 'AWSPENDING')).toBe('v2');
  });

  it('moto moves a label held by another version without RemoveFromVersionId (AWSCURRENT aside), where AWS refuses', async () => {
    const created = await admin.send(
      new CreateSecretCommand({ Name: `contract/${randomUUID()}`, SecretString: 'v0' }),
    );
    const arn = created.ARN as string;
    const token = randomUUID();
    await admin.send(put(arn, token, 'v1', ['AWSPENDING']));
    await expect(admin.send(move(arn, 'AWSPENDING', created.VersionId))).resolves.toBeDefined();
  });

  it('moto lists unlabelled versions in DescribeSecret (with no labels) and in ListSecretVersionIds without IncludeDeprecated', async () => {
    const created = await admin.send(
      new CreateSecretCommand({ Name: `contract/${randomUUID()}`, SecretString: 'v0' }),
    );
    const arn = created.ARN as string;
    const token = randomUUID();
    await admin.send(put(arn, token, 'v1', ['AWSPENDING']));
    await admin.send(move(arn, 'AWSPENDING', undefined, token));
    const described = await admin.send(new DescribeSecretCommand({ SecretId: arn }));
    expect(described.VersionIdsToStages?.[token]).toEqual([]);
    const listed = await admin.send(new ListSecretVersionIdsCommand({ SecretId: arn }));
    expect(listed.Versions?.map((v) => v.VersionId)).toContain(token);
  });

  it('moto removes the label from RemoveFromVersionId before refusing an unknown MoveToVersionId, where AWS changes nothing', async () => {
    const created = await admin.send(
      new CreateSecretCommand({ Name: `contract/${randomUUID()}`, SecretString: 'v0' }),
    );
    const arn = created.ARN as string;
    expect(await errorName(admin.send(move(arn, 'AWSCURRENT', randomUUID(), created.VersionId)))).toBe(
      'InvalidParameterException',
    );
    expect(await versionAt(admin, arn, 'AWSCURRENT')).toBeUndefined();
  });

  it('moto copies a stale value into the temporary AWSPENDING of RotateImmediately=false after a label move', async () => {
    const created = await admin.send(
      new CreateSecretCommand({ Name: `contract/${randomUUID()}`, SecretString: 'v0' }),
    );
    const arn = created.ARN as string;
    const rotated = randomUUID();
    await admin.send(put(arn, rotated, 'v1', ['AWSPENDING']));
    await admin.send(move(arn, 'AWSCURRENT', rotated, created.VersionId));
    await admin.send(move(arn, 'AWSPENDING', undefined, rotated));
    const temporary = randomUUID();
    await admin
      .send(
        new RotateSecretCommand({
          SecretId: arn,
          ClientRequestToken: temporary,
          RotationLambdaARN: 'arn:aws:lambda:us-east-1:000000000000:function:none',
          RotationRules: { AutomaticallyAfterDays: 30 },
          RotateImmediately: false,
        }),
      )
      .catch(() => undefined); // moto cannot run the function
    expect(await valueAt(admin, arn, 'AWSCURRENT')).toBe('v1');
    expect(await valueAt(admin, arn, 'AWSPENDING')).toBe('v0');
  });

  it('moto refuses RotateSecret while AWSPENDING sits on the AWSCURRENT version, the inverse of AWS', async () => {
    // AWS (RotateSecret API reference): AWSPENDING on the AWSCURRENT version is a finished rotation; only
    // AWSPENDING on another version means one is still in progress. moto 5.2 refuses exactly the former.
    // When this fails, moto is fixed: drop the workaround in RotationDriver.testConfiguration.
    const created = await admin.send(
      new CreateSecretCommand({ Name: `contract/${randomUUID()}`, SecretString: 'v0' }),
    );
    const arn = created.ARN as string;
    const rotated = randomUUID();
    await admin.send(put(arn, rotated, 'v1', ['AWSPENDING']));
    await admin.send(move(arn, 'AWSCURRENT', rotated, created.VersionId));
    const rotate = admin.send(
      new RotateSecretCommand({
        SecretId: arn,
        ClientRequestToken: randomUUID(),
        RotationLambdaARN: 'arn:aws:lambda:us-east-1:000000000000:function:none',
        RotationRules: { AutomaticallyAfterDays: 30 },
        RotateImmediately: false,
      }),
    );
    await expect(rotate).rejects.toThrow('Previous rotation request is still in progress');
    expect(await versionAt(admin, arn, 'AWSPENDING')).toBe(rotated);
  });

  it('moto demotes its stale default version on PutSecretValue after a label move, leaving two AWSCURRENT', async () => {
    const created = await admin.send(
      new CreateSecretCommand({ Name: `contract/${randomUUID()}`, SecretString: 'v0' }),
    );
    const arn = created.ARN as string;
    const rotated = randomUUID();
    await admin.send(put(arn, rotated, 'v1', ['AWSPENDING']));
    await admin.send(move(arn, 'AWSCURRENT', rotated, created.VersionId));
    await admin.send(move(arn, 'AWSPENDING', undefined, rotated));
    const outside = randomUUID();
    await admin.send(put(arn, outside, 'v2'));
    const described = await admin.send(new DescribeSecretCommand({ SecretId: arn }));
    const current = Object.entries(described.VersionIdsToStages ?? {})
      .filter(([, labels]) => labels.includes('AWSCURRENT'))
      .map(([id]) => id)
      .sort();
    expect(current).toEqual([rotated, outside].sort());
  });
});
