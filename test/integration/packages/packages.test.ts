import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createDatabaseHandler } from '../../../functions/database/create-handler';
import type { LocalDatabase } from '../../../local/databases/common';
import { startPostgres } from '../../../local/databases/postgres';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';
import { LOCAL_FUNCTION_UNAVAILABLE } from '../../../scripts/build-packages';
import {
  type CommandOutput,
  createProject,
  figuresTable,
  install,
  measurePackages,
  megabytes,
  mustRun,
  packPackages,
  repositoryVersion,
  runCommand,
  runNpm,
} from '../../../scripts/package-scratch';
import { PACKAGES, type PackageName } from '../../../scripts/packages';
import {
  type CliWorld,
  configureRotation,
  createAppUser,
  createSecret,
  databaseSecret,
} from '../cli/harness';
import { CDK_APP, CDK_TSCONFIG, SERVICE, SERVICE_CONFIGURATIONS, serviceTsconfig } from './scratch-sources';

// Each package is built (npm test runs `npm run build` first), packed as `npm publish` would pack it, and
// installed from its tarball into a scratch project in a temporary directory, as a user would install it.

/** A PATH with node alone: no esbuild, no Docker, no tsx, nothing of this machine's tools. */
const NODE_ONLY_PATH = dirname(process.execPath);

let work: string;
let tarballs: Record<PackageName, string>;
/** The scratch projects' installs, started together once the tarballs exist; each describe awaits its own. */
let installs: Record<'cdkApp' | 'services' | 'operator', Promise<string>>;

const dev = (...names: string[]) => names.map((n) => `${n}@${repositoryVersion(n)}`);

async function installCdkApp(dir: string): Promise<string> {
  createProject(dir, { type: 'commonjs' });
  await install(dir, [...dev('aws-cdk-lib', 'constructs'), tarballs.cdk]);
  await install(dir, dev('typescript', '@types/node'), true);
  return dir;
}

async function installServices(dir: string): Promise<string> {
  createProject(dir);
  await install(dir, [tarballs.client, ...dev('pg', '@aws-sdk/client-secrets-manager')]);
  await install(dir, dev('typescript', '@types/node', '@types/pg'), true);
  return dir;
}

async function installOperator(dir: string): Promise<string> {
  createProject(dir);
  await install(dir, [tarballs.cli]);
  return dir;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'packages-it-'));
  tarballs = await packPackages(join(work, 'tarballs'));
  installs = {
    cdkApp: installCdkApp(join(work, 'platform-app')),
    services: installServices(join(work, 'services')),
    operator: installOperator(join(work, 'operator')),
  };
  // a describe left out by -t never awaits its install: its failure must not be an unhandled rejection
  for (const pending of Object.values(installs)) pending.catch(() => undefined);
}, 300_000);

afterAll(async () => {
  // an install a describe never awaited (left out by -t) still writes into the work directory
  if (installs) await Promise.allSettled(Object.values(installs));
  if (work) rmSync(work, { recursive: true, force: true });
}, 300_000);

/** The part of the CLI tests' world their secret helpers use: a Secrets Manager client on moto. */
const worldOf = (aws: LocalAws): CliWorld =>
  ({ secrets: new SecretsManagerClient(aws.clientConfig) }) as Pick<CliWorld, 'secrets'> as CliWorld;

const tsc = (project: string) => join(project, 'node_modules', 'typescript', 'bin', 'tsc');

describe('each package as published', () => {
  it.each(Object.keys(PACKAGES) as PackageName[])(
    'passes publint and arethetypeswrong with no problem: %s',
    async (name) => {
      const bin = (tool: string) => join(__dirname, '..', '..', '..', 'node_modules', '.bin', tool);
      const publint = await runCommand(bin('publint'), ['run', tarballs[name], '--strict'], { cwd: work });
      expect({ code: publint.code, output: publint.stdout.trim() }).toEqual({
        code: 0,
        output: expect.stringMatching(/All good!$/),
      });
      const attw = await runCommand(bin('attw'), [tarballs[name], '--format', 'json'], { cwd: work });
      const report = JSON.parse(attw.stdout) as {
        analysis: { types: unknown; problems?: unknown[] };
        problems?: unknown;
      };
      if (name === 'cli') {
        // A command, no library: nothing to import, so no types to get wrong.
        expect(report.analysis.types).toBe(false);
      } else {
        expect(report.analysis.problems ?? []).toEqual([]);
        expect(attw.code).toBe(0);
      }
    },
    120_000,
  );

  it('ships only built output, its README, LICENSE and CHANGELOG, never sources or tests', async () => {
    const listing = await runNpm(
      ['pack', '--dry-run', '--json', '--ignore-scripts', '-w', 'client', '-w', 'infra', '-w', 'cli'],
      join(__dirname, '..', '..', '..'),
    );
    const packed = JSON.parse(listing.stdout) as Array<{ name: string; files: Array<{ path: string }> }>;
    for (const pkg of packed) {
      const files = pkg.files.map((f) => f.path);
      expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']));
      const unexpected = files.filter(
        (f) =>
          !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(f) && !/^(dist|lib)\//.test(f),
      );
      expect({ package: pkg.name, unexpected }).toEqual({ package: pkg.name, unexpected: [] });
      expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    }
  }, 120_000);
});

describe('the constructs in a TypeScript CDK app', () => {
  let app: string;
  let template: {
    Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  };
  let outdir: string;

  beforeAll(async () => {
    app = await installs.cdkApp;
    writeFileSync(join(app, 'app.ts'), CDK_APP);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(CDK_TSCONFIG, null, 2));
    await mustRun(process.execPath, [tsc(app), '-p', 'tsconfig.json'], { cwd: app });
    outdir = join(app, 'cdk.out');
    await mustRun(process.execPath, ['dist/app.js', outdir], {
      cwd: app,
      env: { PATH: NODE_ONLY_PATH, HOME: app, CDK_DISABLE_VERSION_CHECK: 'true' },
    });
    template = JSON.parse(readFileSync(join(outdir, 'PlatformApp.template.json'), 'utf8'));
  }, 600_000);

  it('installs without esbuild and with one copy of aws-cdk-lib and constructs', () => {
    expect(existsSync(join(app, 'node_modules', 'esbuild'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', '@esbuild'))).toBe(false);
    expect(() => require.resolve('esbuild', { paths: [app] })).toThrow();
    const ours = join(app, 'node_modules', '@rotation-without-storms', 'cdk', 'node_modules');
    expect(existsSync(join(ours, 'aws-cdk-lib'))).toBe(false);
    expect(existsSync(join(ours, 'constructs'))).toBe(false);
  });

  it("synthesizes functions whose code is the package's pre-bundled assets, byte for byte", () => {
    const assets = join(app, 'node_modules', '@rotation-without-storms', 'cdk', 'lib', 'assets');
    const prebundled = new Map<string, string>();
    for (const fn of readdirSync(assets)) {
      for (const handler of readdirSync(join(assets, fn))) {
        prebundled.set(readFileSync(join(assets, fn, handler, 'index.js'), 'utf8'), `${fn}/${handler}`);
      }
    }
    const used = new Set<string>();
    const functions = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Runtime === 'nodejs24.x',
    );
    for (const fn of functions) {
      const code = fn.Properties?.Code as { S3Key: string };
      expect(fn.Properties?.Handler).toBe('index.handler');
      const staged = join(outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`, 'index.js');
      const match = prebundled.get(readFileSync(staged, 'utf8'));
      expect({ staged, match }).toEqual({ staged, match: expect.any(String) });
      used.add(match as string);
    }
    // the PostgreSQL instance's rotation and the Aurora MySQL cluster's each deploy their engine's bundle
    expect([...used].sort()).toEqual([
      'api-key/handler',
      'database/mysql-handler',
      'database/postgres-handler',
      'jwt/handler',
    ]);
    expect(functions).toHaveLength(4);
  });

  it('refuses an entry that is neither one of its pre-bundled functions nor a file, naming the prop', async () => {
    const script = [
      "const { App, Stack } = require('aws-cdk-lib');",
      "const { FUNCTIONS_DIR, RotationFunction } = require('@rotation-without-storms/cdk');",
      "const stack = new Stack(new App(), 'S');",
      "new RotationFunction(stack, 'Known', { entry: require('node:path').join(FUNCTIONS_DIR, 'jwt', 'handler.ts') });",
      "try { new RotationFunction(stack, 'Unknown', { entry: '/nowhere/handler.ts' }); } catch (e) { console.log(e.message); }",
    ].join('\n');
    const out = await mustRun(process.execPath, ['-e', script], { cwd: app, env: { PATH: NODE_ONLY_PATH } });
    expect(out.stdout).toBe(
      "RotationFunctionProps.entry: /nowhere/handler.ts is neither one of the package's pre-bundled functions nor a file\n",
    );
  });

  it("opens the MySQL cluster's 3306 and the PostgreSQL instance's 5432 to their rotation functions", () => {
    const ingress = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::EC2::SecurityGroupIngress')
      .map((r) => ({
        into: JSON.stringify(r.Properties?.GroupId),
        from: JSON.stringify(r.Properties?.SourceSecurityGroupId),
        port: [r.Properties?.FromPort, r.Properties?.ToPort],
      }));
    const into = (db: string, rotation: string) =>
      ingress.filter((i) => i.into.includes(`"${db}`) && i.from.includes(`"${rotation}`)).map((i) => i.port);
    // Each rule names its database's own port (resolved at deploy): the engine's default, 3306 for the MySQL
    // cluster and 5432 for the PostgreSQL instance, since neither sets another.
    const [billing] = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::RDS::DBCluster');
    expect(billing?.[1].Properties?.Engine).toBe('aurora-mysql');
    expect(billing?.[1].Properties?.Port ?? 3306).toBe(3306);
    const clusterPort = { 'Fn::GetAtt': [billing?.[0], 'Endpoint.Port'] };
    expect(into('Billing', 'BillingRotation')).toEqual([[clusterPort, clusterPort]]);
    const [orders] = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::RDS::DBInstance');
    expect(orders?.[1].Properties?.Engine).toBe('postgres');
    expect(orders?.[1].Properties?.Port ?? 5432).toBe(5432);
    const instancePort = { 'Fn::GetAtt': [orders?.[0], 'Endpoint.Port'] };
    expect(into('Orders', 'OrdersRotation')).toEqual([[instancePort, instancePort]]);
  });
});

/** A running service: one line in, one JSON line out. */
class ServiceProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterator<string>;
  #stderr = '';

  constructor(script: string, cwd: string, env: NodeJS.ProcessEnv) {
    this.#child = spawn(process.execPath, [script], { cwd, env });
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString();
    });
    this.#lines = createInterface({ input: this.#child.stdout })[Symbol.asyncIterator]();
  }

  async query(): Promise<{ ok: boolean; who?: string; error?: string }> {
    this.#child.stdin.write('query\n');
    const next = await this.#lines.next();
    if (next.done) throw new Error(`the service exited: ${this.#stderr}`);
    return JSON.parse(next.value);
  }

  async stop(): Promise<number | null> {
    if (this.#child.exitCode !== null) return this.#child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.#child.once('exit', resolve));
    this.#child.stdin.end();
    return exited;
  }
}

describe('the client in an ESM and a CJS service using only the pg adapter', () => {
  let project: string;
  let aws: LocalAws;
  let db: LocalDatabase;
  let caPath: string;
  const typeChecks = new Map<string, Promise<CommandOutput>>();

  beforeAll(async () => {
    [aws, db, project] = await Promise.all([startMoto(), startPostgres({ tls: true }), installs.services]);
    caPath = join(project, 'ca.pem');
    writeFileSync(caPath, db.caPem ?? '');
    for (const configuration of SERVICE_CONFIGURATIONS) {
      const dir = join(project, configuration.name);
      mkdirSync(dir);
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: configuration.format }));
      writeFileSync(join(dir, 'service.ts'), SERVICE);
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(serviceTsconfig(configuration), null, 2));
    }
    // every configuration compiles at once (each test awaits its own); the emitting ones write dist/service.js
    for (const configuration of SERVICE_CONFIGURATIONS) {
      const compiled = runCommand(process.execPath, [tsc(project), '-p', 'tsconfig.json'], {
        cwd: join(project, configuration.name),
      });
      typeChecks.set(configuration.name, compiled);
    }
  }, 600_000);

  afterAll(async () => {
    await Promise.allSettled([aws?.stop(), db?.stop()]);
  });

  it('installs neither jose, mysql2 nor aws-cdk-lib', () => {
    for (const absent of ['jose', 'mysql2', 'aws-cdk-lib', 'constructs', 'esbuild']) {
      expect({ absent, installed: existsSync(join(project, 'node_modules', absent)) }).toEqual({
        absent,
        installed: false,
      });
    }
  });

  it.each(SERVICE_CONFIGURATIONS.map((c) => [c.name, c] as const))(
    'type-checks under strict settings: %s',
    async (_name, configuration) => {
      const out = (await typeChecks.get(configuration.name)) as CommandOutput;
      expect({ code: out.code, errors: out.stdout.trim() }).toEqual({ code: 0, errors: '' });
    },
    120_000,
  );

  it.each(SERVICE_CONFIGURATIONS.filter((c) => c.emits).map((c) => [c.format, c] as const))(
    'runs a %s service whose queries keep working through a rotation in the local mode',
    async (format, configuration) => {
      // GIVEN a PostgreSQL user and its secret in moto, and the service started on it
      const dir = join(project, configuration.name);
      const compiled = (await typeChecks.get(configuration.name)) as CommandOutput;
      expect(compiled.code).toBe(0);
      const output = readFileSync(join(dir, 'dist', 'service.js'), 'utf8');
      expect(output.includes('require(')).toBe(format === 'commonjs');
      const user = `svc_${format === 'module' ? 'esm' : 'cjs'}`;
      await createAppUser(db, user, 'Initial-Pa55word');
      const name = `packages/${user}`;
      await createSecret(worldOf(aws), name, databaseSecret(db, user, 'Initial-Pa55word'));
      const service = new ServiceProcess(join(dir, 'dist', 'service.js'), dir, {
        PATH: NODE_ONLY_PATH,
        HOME: dir,
        AWS_ENDPOINT_URL: aws.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        SECRET_ID: name,
        DB_CA: db.caPem ?? '',
      });
      try {
        expect(await service.query()).toEqual({ ok: true, who: user });

        // WHEN the secret is rotated (single user: the old password stops working)
        const driver = new RotationDriver(aws.clientConfig);
        const handler = createDatabaseHandler({
          secretsManager: driver.client,
          env: { ROTATION_STRATEGY: 'single-user', DB_CA_BUNDLE_PATH: caPath },
        });
        const record = await driver.rotate(name, handler);
        expect(record.succeeded).toBe(true);
        const current = await worldOf(aws).secrets.send(
          // naming the stage: moto's default read returns the version current before the move (MOTO-DIFFERENCES)
          new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }),
        );
        expect(JSON.parse(current.SecretString ?? '{}').password).not.toBe('Initial-Pa55word');

        // THEN the service's next query, on a new connection, logs in with the rotated password
        expect(await service.query()).toEqual({ ok: true, who: user });
        expect(await service.query()).toEqual({ ok: true, who: user });
      } finally {
        expect(await service.stop()).toBe(0);
      }
    },
    180_000,
  );
});

describe('the CLI from its tarball', () => {
  let project: string;
  let aws: LocalAws;

  beforeAll(async () => {
    [aws, project] = await Promise.all([startMoto(), installs.operator]);
  }, 300_000);

  afterAll(async () => {
    await aws?.stop();
  });

  const env = () => ({
    PATH: NODE_ONLY_PATH,
    HOME: project,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_REGION: 'us-east-1',
  });
  const bin = () => join(project, 'node_modules', '.bin', 'secret-rotation');

  it('prints its help with npx and its version with plain node', async () => {
    const help = await runNpm(['exec', '--no', '--', 'secret-rotation', '--help'], project);
    expect(help.stdout).toMatch(/^Usage: secret-rotation <command>/m);
    expect(help.stdout).toMatch(/^ {2}status\b/m);
    const version = await runCommand(bin(), ['--version'], { cwd: project, env: env() });
    expect(version).toEqual({ code: 0, stdout: 'secret-rotation 0.1.0\n', stderr: '' });
  }, 120_000);

  it('shows the status of a secret in moto', async () => {
    const world = worldOf(aws);
    await createSecret(world, 'operator/orders', JSON.stringify({ username: 'u', password: 'p' }));
    await configureRotation(world, 'operator/orders', 30);
    const status = await runCommand(bin(), ['status', '--endpoint-url', aws.endpoint], {
      cwd: project,
      env: env(),
    });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout.split('\n')[0]).toMatch(/^name +kind +rotation +schedule +last rotated/);
    expect(status.stdout).toMatch(/^operator\/orders +\S+ +enabled +every 30d /m);
  }, 120_000);

  it('says that --local-function needs the repository, and changes nothing', async () => {
    const secrets = worldOf(aws).secrets;
    const stages = async () =>
      (await secrets.send(new DescribeSecretCommand({ SecretId: 'operator/orders' }))).VersionIdsToStages;
    const before = await stages();
    const run = await runCommand(
      bin(),
      ['rotate', 'operator/orders', '--local-function', 'database', '--endpoint-url', aws.endpoint],
      { cwd: project, env: env() },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(LOCAL_FUNCTION_UNAVAILABLE);
    expect(await stages()).toEqual(before);
  }, 120_000);
});

describe('what each package adds to a project', () => {
  it('prints the figures, and the client adds at most its AWS SDK clients plus 1 MB', async () => {
    const figures = await measurePackages(join(work, 'figures'), tarballs);
    console.log(`What each package adds to a project (npm run bench:packages):\n${figuresTable(figures)}`);
    const client = figures.find((f) => f.package === PACKAGES.client.name);
    expect(client?.sdkClients).toEqual([
      '@aws-sdk/client-eventbridge',
      '@aws-sdk/client-secrets-manager',
      '@aws-sdk/client-sns',
      '@aws-sdk/client-sqs',
    ]);
    const overFloor = (client?.added.bytes ?? Infinity) - (client?.sdkFloor.bytes ?? 0);
    expect({ overFloor: megabytes(overFloor), withinGoal: overFloor <= 1_000_000 }).toEqual({
      overFloor: megabytes(overFloor),
      withinGoal: true,
    });
  }, 600_000);
});
