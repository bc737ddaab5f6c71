import {
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  ModifyDBClusterCommand,
  ModifyDBInstanceCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { GetRandomPasswordCommand } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { createDatabaseHandler } from '../../../functions/database/create-handler';
import { RdsModificationPendingError } from '../../../functions/database/strategies/rds-master';
import { InvalidSecretValueError } from '../../../functions/rotation';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';

const master = {
  engine: 'postgres',
  host: 'db.internal',
  port: 5432,
  username: 'postgres',
  password: 'master-pw-1',
};

function setUp(value: Record<string, unknown>, env: Record<string, string> = {}) {
  const fake = new FakeSecretsManager();
  const rdsClient = new RDSClient({ region: 'us-east-1' });
  const rds = mockClient(rdsClient);
  let clock = 0;
  const handler = createDatabaseHandler({
    secretsManager: fake.client,
    rds: rdsClient,
    env: { ROTATION_STRATEGY: 'rds-master', RDS_MASTER_WAIT_SECONDS: '60', ...env },
    sleep: async (ms) => {
      clock += ms;
    },
    now: () => clock,
  });
  const arn = fake.createSecret('master', value);
  const run = (token: string, step: string) =>
    handler({ SecretId: arn, ClientRequestToken: token, Step: step });
  return { fake, rds, arn, run };
}

describe('rds-master strategy', () => {
  it('changes the instance master password through ModifyDBInstance and waits until RDS applied it', async () => {
    // GIVEN
    const { fake, rds, arn, run } = setUp({ ...master, dbInstanceIdentifier: 'orders-db' });
    rds.on(ModifyDBInstanceCommand).resolves({});
    rds
      .on(DescribeDBInstancesCommand)
      .resolvesOnce({ DBInstances: [{ DBInstanceStatus: 'resetting-master-credentials' }] })
      .resolvesOnce({
        DBInstances: [
          { DBInstanceStatus: 'available', PendingModifiedValues: { MasterUserPassword: '****' } },
        ],
      })
      .resolves({ DBInstances: [{ DBInstanceStatus: 'available', PendingModifiedValues: {} }] });
    // WHEN
    const token = fake.startRotation(arn);
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await run(token, step);
    // THEN
    const pending = fake.valueOf<{ password: string }>(arn);
    expect(rds).toHaveReceivedCommandWith(ModifyDBInstanceCommand, {
      DBInstanceIdentifier: 'orders-db',
      MasterUserPassword: pending.password,
      ApplyImmediately: true,
    });
    expect(rds).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 3);
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
  });

  it('uses ModifyDBCluster for an Aurora cluster', async () => {
    const { fake, rds, arn, run } = setUp({ ...master, dbClusterIdentifier: 'orders-cluster' });
    rds.on(ModifyDBClusterCommand).resolves({});
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ Status: 'available' }] });
    const token = fake.startRotation(arn);
    for (const step of ['createSecret', 'setSecret', 'testSecret']) await run(token, step);
    expect(rds).toHaveReceivedCommandWith(ModifyDBClusterCommand, { DBClusterIdentifier: 'orders-cluster' });
  });

  it('excludes the characters RDS refuses in master passwords', async () => {
    const { fake, arn, run } = setUp({ ...master, dbInstanceIdentifier: 'orders-db' });
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    const exclude =
      fake.mock.commandCalls(GetRandomPasswordCommand)[0]?.args[0].input.ExcludeCharacters ?? '';
    for (const c of ['/', '@', '"', ' ']) expect(exclude).toContain(c);
  });

  it('retries while the instance is busy with another modification', async () => {
    const { fake, rds, arn, run } = setUp({ ...master, dbInstanceIdentifier: 'orders-db' });
    const busy = Object.assign(new Error('busy'), { name: 'InvalidDBInstanceStateFault' });
    rds.on(ModifyDBInstanceCommand).rejectsOnce(busy).resolves({});
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    await run(token, 'setSecret');
    expect(rds).toHaveReceivedCommandTimes(ModifyDBInstanceCommand, 2);
  });

  it('fails testSecret after the bounded wait and leaves AWSCURRENT as it was', async () => {
    const { fake, rds, arn, run } = setUp({ ...master, dbInstanceIdentifier: 'orders-db' });
    const before = fake.versionOf(arn, 'AWSCURRENT');
    rds.on(ModifyDBInstanceCommand).resolves({});
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceStatus: 'modifying' }] });
    const token = fake.startRotation(arn);
    await run(token, 'createSecret');
    await run(token, 'setSecret');
    const result = run(token, 'testSecret');
    await expect(result).rejects.toThrow(RdsModificationPendingError);
    await expect(result).rejects.toThrow(
      'RDS has not applied the new master password of orders-db after 60 s',
    );
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(before);
  });

  it('names the missing identifier field', async () => {
    const { fake, arn, run } = setUp(master);
    const token = fake.startRotation(arn);
    const result = run(token, 'createSecret');
    await expect(result).rejects.toThrow(InvalidSecretValueError);
    await expect(result).rejects.toThrow("field 'dbInstanceIdentifier' is missing");
  });
});
