import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { build } from 'esbuild';
import { DatabaseSecretRotation } from '../../infra/constructs';
import { FUNCTIONS_DIR, ROTATION_BUNDLING } from '../../infra/constructs/rotation-function';
import { esbuildOptionsOf } from '../../scripts/build-packages';

// Issue 17 follow-up: one database bundle per engine, so a PostgreSQL secret's function never parses mysql2
// (and iconv-lite) or the RDS SDK at cold start, and a MySQL one never parses pg.

/** The inputs esbuild bundles for `entry`, with the settings every function is deployed with. */
async function inputsOf(entry: string): Promise<string[]> {
  const result = await build({
    ...esbuildOptionsOf(ROTATION_BUNDLING),
    entryPoints: [path.join(FUNCTIONS_DIR, 'database', entry)],
    outfile: path.join('/nonexistent', 'index.js'),
    write: false,
    metafile: true,
  });
  return Object.keys(result.metafile.inputs);
}

const has = (inputs: string[], fragment: string) => inputs.some((input) => input.includes(fragment));
const MYSQL = ['node_modules/mysql2/', 'node_modules/iconv-lite/', 'functions/database/engines/mysql.ts'];
const POSTGRES = ['node_modules/pg/', 'node_modules/pg-protocol/', 'functions/database/engines/postgres.ts'];
const RDS = ['node_modules/@aws-sdk/client-rds/', 'functions/database/strategies/rds-master.ts'];

describe('the database bundles', () => {
  it.each([
    ['postgres-handler.ts', POSTGRES, [...MYSQL, ...RDS]],
    ['mysql-handler.ts', MYSQL, [...POSTGRES, ...RDS]],
    ['handler.ts', [...POSTGRES, ...MYSQL, ...RDS], []],
  ])('%s bundles only what it can run', async (entry, included, excluded) => {
    const inputs = await inputsOf(entry);
    for (const fragment of included) expect([fragment, has(inputs, fragment)]).toEqual([fragment, true]);
    for (const fragment of excluded) expect([fragment, has(inputs, fragment)]).toEqual([fragment, false]);
  });
});

describe('DatabaseSecretRotation picks the bundle of the engine it knows at synth', () => {
  const ENV = { account: '123456789012', region: 'eu-west-1' };
  const app = new App({ context: { 'aws:cdk:enable-asset-metadata': true } });
  const rotations: Array<[string, Stack, DatabaseSecretRotation]> = [];
  const add = (name: string, make: (stack: Stack, vpc: ec2.Vpc) => DatabaseSecretRotation) => {
    const stack = new Stack(app, name.replace(/[^A-Za-z0-9]/g, ''), { env: ENV });
    const vpc = new ec2.Vpc(stack, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    rotations.push([name, stack, make(stack, vpc)]);
  };
  const subnets = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  const instance = (stack: Stack, vpc: ec2.Vpc, engine: rds.IInstanceEngine) =>
    new rds.DatabaseInstance(stack, 'Db', { engine, vpc, vpcSubnets: subnets });
  add('postgres instance', (stack, vpc) => {
    const database = instance(stack, vpc, rds.DatabaseInstanceEngine.POSTGRES);
    return new DatabaseSecretRotation(stack, 'Rotation', { database, strategy: 'single-user' });
  });
  add('aurora-postgresql cluster', (stack, vpc) => {
    const database = new rds.DatabaseCluster(stack, 'Db', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_4 }),
      writer: rds.ClusterInstance.serverlessV2('Writer'),
      vpc,
      vpcSubnets: subnets,
    });
    const secret = new secretsmanager.Secret(stack, 'App');
    return new DatabaseSecretRotation(stack, 'Rotation', { database, secret, strategy: 'alternating-users' });
  });
  add('mariadb instance', (stack, vpc) => {
    const database = instance(stack, vpc, rds.DatabaseInstanceEngine.MARIADB);
    return new DatabaseSecretRotation(stack, 'Rotation', { database, strategy: 'single-user' });
  });
  add('rds-master on postgres', (stack, vpc) => {
    const database = instance(stack, vpc, rds.DatabaseInstanceEngine.POSTGRES);
    return new DatabaseSecretRotation(stack, 'Rotation', { database, strategy: 'rds-master' });
  });
  add('a secret without its database', (stack, vpc) => {
    const secret = new secretsmanager.Secret(stack, 'App');
    const target = new ec2.SecurityGroup(stack, 'Database', { vpc });
    return new DatabaseSecretRotation(stack, 'Rotation', {
      secret,
      strategy: 'single-user',
      vpc,
      target,
      port: 5432,
    });
  });
  const assembly = app.synth();

  /** The bundled index.js of the rotation's function, from the cloud assembly. */
  const bundleOf = (stack: Stack, rotation: DatabaseSecretRotation): string => {
    const resources = assembly.getStackByName(stack.stackName).template.Resources as Record<
      string,
      { Metadata?: Record<string, string> }
    >;
    const id = stack.getLogicalId(rotation.rotationFunction.node.defaultChild as never);
    const assetPath = resources[id]?.Metadata?.['aws:asset:path'];
    if (!assetPath) throw new Error(`no asset metadata on ${id}`);
    return readFileSync(path.join(assembly.directory, assetPath, 'index.js'), 'utf8');
  };
  // Strings only one driver or SDK contains: mysql2's default authentication plugin, pg's SCRAM mechanism,
  // an RDS API operation
  const MYSQL_MARK = 'caching_sha2_password';
  const POSTGRES_MARK = 'SCRAM-SHA-256';
  const RDS_MARK = 'ModifyDBInstance';

  it.each([
    ['postgres instance', [POSTGRES_MARK], [MYSQL_MARK, RDS_MARK]],
    ['aurora-postgresql cluster', [POSTGRES_MARK], [MYSQL_MARK, RDS_MARK]],
    ['mariadb instance', [MYSQL_MARK], [POSTGRES_MARK, RDS_MARK]],
    ['rds-master on postgres', [POSTGRES_MARK, MYSQL_MARK, RDS_MARK], []],
    ['a secret without its database', [POSTGRES_MARK, MYSQL_MARK, RDS_MARK], []],
  ])('%s: the function has the bundle of its engine', (name, present, absent) => {
    const found = rotations.find(([n]) => n === name);
    if (!found) throw new Error(name);
    const code = bundleOf(found[1], found[2]);
    for (const mark of present) expect([mark, code.includes(mark)]).toEqual([mark, true]);
    for (const mark of absent) expect([mark, code.includes(mark)]).toEqual([mark, false]);
  });
});
