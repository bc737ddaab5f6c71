import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ApiKeyRotation, DatabaseSecretRotation, RotationEvents } from '../../infra/constructs';

// Apps as users build them, each synthesized, checked by cdk-nag (no finding on our constructs; the
// fixtures' own databases are the user's business) and by cfn-lint (no error in any template).

const ENV = { account: '123456789012', region: 'eu-west-1' };

/** Synthesizes `app` under cdk-nag; returns the paths of findings under `ours` (none expected). */
function nagFindingsOn(app: App, ours: readonly string[]): string[] {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  try {
    app.synth();
    return [];
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const paths = [...message.matchAll(/^\s+(\S+) aws-cdk-lib\./gm)].map((m) => m[1] as string);
    if (paths.length === 0) throw error; // not a cdk-nag report: a real synth failure
    return paths.filter((p) => ours.some((prefix) => p.startsWith(prefix)));
  }
}

/** cfn-lint errors (E-codes) in the templates of `stacks`. */
function cfnLintErrors(stacks: readonly Stack[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'user-apps-cfn-'));
  try {
    const files = stacks.map((s) => {
      const file = join(dir, `${s.stackName}.template.json`);
      writeFileSync(file, JSON.stringify(Template.fromStack(s).toJSON()));
      return file;
    });
    const result = spawnSync('cfn-lint', ['--non-zero-exit-code', 'error', ...files], { encoding: 'utf8' });
    if (result.error)
      throw new Error(`cfn-lint could not run: ${result.error.message}`, { cause: result.error });
    return (result.stdout + result.stderr)
      .split('\n')
      .filter((line) => /^E\d{4}/.test(line))
      .join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Builds the app twice: once for cfn-lint (plain synth), once under cdk-nag (whose report fails synth).
 * Returns the cdk-nag findings on our constructs and cfn-lint's errors.
 */
function check(
  build: () => { app: App; stacks: Stack[] },
  ours: readonly string[],
): { nag: string[]; lint: string } {
  const lint = cfnLintErrors(build().stacks);
  const nag = nagFindingsOn(build().app, ours);
  return { nag, lint };
}

function isolatedVpc(scope: Stack): ec2.Vpc {
  return new ec2.Vpc(scope, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
}

describe('apps as users build them', () => {
  it('a database in one stack and its rotation in another', () => {
    const build = () => {
      const app = new App();
      const data = new Stack(app, 'Data', { env: ENV });
      const vpc = isolatedVpc(data);
      const key = new kms.Key(data, 'Key', { enableKeyRotation: true });
      const db = new rds.DatabaseInstance(data, 'Db', {
        engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16_4 }),
        instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM),
        vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        credentials: rds.Credentials.fromGeneratedSecret('postgres', { encryptionKey: key }),
        storageEncrypted: true,
      });
      const rotations = new Stack(app, 'Rotations', { env: ENV });
      new DatabaseSecretRotation(rotations, 'Rotation', {
        database: db,
        strategy: 'single-user',
        createVpcEndpoints: true,
      });
      return { app, stacks: [data, rotations] };
    };
    expect(check(build, ['Rotations/'])).toEqual({ nag: [], lint: '' });
  });

  it('an imported secret with an imported customer-managed key', () => {
    const build = () => {
      const app = new App();
      const stack = new Stack(app, 'Imported', { env: ENV });
      const key = kms.Key.fromKeyArn(
        stack,
        'Key',
        'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      );
      const secret = secretsmanager.Secret.fromSecretAttributes(stack, 'Secret', {
        secretCompleteArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:partner-api-AbCdEf',
        encryptionKey: key,
      });
      new ApiKeyRotation(stack, 'Rotation', {
        secret,
        provider: { type: 'self-issued' },
        gracePeriod: Duration.hours(2),
      });
      return { app, stacks: [stack] };
    };
    expect(check(build, ['Imported/Rotation'])).toEqual({ nag: [], lint: '' });
  });

  it.each([
    ['without NAT (isolated subnets)', 0],
    ['with NAT (private subnets with egress)', 1],
  ])('two rotations with endpoints in one VPC %s', (_name, natGateways) => {
    const build = () => {
      const app = new App();
      const stack = new Stack(app, 'TwoRotations', { env: ENV });
      const vpc =
        natGateways === 0 ? isolatedVpc(stack) : new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
      const events = new RotationEvents(stack, 'Events');
      for (const id of ['Orders', 'Billing']) {
        new DatabaseSecretRotation(stack, id, {
          secret: new secretsmanager.Secret(stack, `${id}Secret`),
          strategy: 'single-user',
          vpc,
          target: new ec2.SecurityGroup(stack, `${id}Db`, { vpc }),
          port: 5432,
          events,
          createVpcEndpoints: true,
        });
      }
      return { app, stacks: [stack] };
    };
    // secretsmanager and events, shared by both rotations
    Template.fromStack(build().stacks[0] as Stack).resourceCountIs('AWS::EC2::VPCEndpoint', 2);
    expect(
      check(build, ['TwoRotations/Orders', 'TwoRotations/Billing', 'TwoRotations/RotationVpcEndpoints']),
    ).toEqual({ nag: [], lint: '' });
  });

  it("a MySQL target: the rule opens the cluster's own port (3306 for Aurora MySQL), never 5432", () => {
    const build = () => {
      const app = new App();
      const stack = new Stack(app, 'Mysql', { env: ENV });
      const vpc = isolatedVpc(stack);
      const cluster = new rds.DatabaseCluster(stack, 'Cluster', {
        engine: rds.DatabaseClusterEngine.auroraMysql({ version: rds.AuroraMysqlEngineVersion.VER_3_08_0 }),
        writer: rds.ClusterInstance.serverlessV2('Writer'),
        vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        storageEncrypted: true,
      });
      new DatabaseSecretRotation(stack, 'Rotation', { database: cluster, strategy: 'single-user' });
      return { app, stacks: [stack] };
    };
    const template = Template.fromStack(build().stacks[0] as Stack);
    const ours = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'))
      .map((r) => (r as { Properties: { FromPort: unknown; Description?: string } }).Properties)
      .filter((p) => p.Description === 'Secret rotation function');
    expect(ours).toHaveLength(1);
    // the port the cluster listens on, resolved at deploy (Aurora MySQL's default is 3306)
    expect(ours[0]?.FromPort).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Cluster/), 'Endpoint.Port'] });
    expect(JSON.stringify(ours)).not.toContain('5432');
    expect(check(build, ['Mysql/Rotation'])).toEqual({ nag: [], lint: '' });
  });

  it('an existing Secrets Manager endpoint', () => {
    const build = () => {
      const app = new App();
      const stack = new Stack(app, 'Existing', { env: ENV });
      const vpc = isolatedVpc(stack);
      const endpoint = vpc.addInterfaceEndpoint('SecretsManager', {
        service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      });
      new DatabaseSecretRotation(stack, 'Rotation', {
        secret: new secretsmanager.Secret(stack, 'Secret'),
        strategy: 'single-user',
        vpc,
        target: new ec2.SecurityGroup(stack, 'Db', { vpc }),
        port: 5432,
        vpcEndpoints: [endpoint],
      });
      return { app, stacks: [stack] };
    };
    Template.fromStack(build().stacks[0] as Stack).resourceCountIs('AWS::EC2::VPCEndpoint', 1);
    expect(check(build, ['Existing/Rotation'])).toEqual({ nag: [], lint: '' });
  });
});
