import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  type ListSecretVersionIdsCommandOutput,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createApiKeyHandler } from '../../functions/api-key/create-handler';
import { createDatabaseHandler } from '../../functions/database/create-handler';
import { createJwtHandler } from '../../functions/jwt';
import { ExampleStack } from '../../infra/stacks/example-stack';
import type { LocalDatabase } from '../../local/databases/common';
import { startPostgres } from '../../local/databases/postgres';
import { RotationDriver } from '../../local/driver';
import { type LocalAws, startMoto } from '../../local/moto';
import { Clock } from '../integration/api-key/harness';
import { adminFor, appSecret, masterSecret } from '../integration/database/harness';
import { dashboardSeries, type EmittedSeries, emfSeries, isEmitted } from './dashboard-series';

// The dashboard's series against what the functions really emit: every metric of the example stack's
// RotationAlarms dashboard that comes from a rotation function (namespace SecretRotation, with the Kind
// dimension) must match, by namespace, name and dimensions (names and values), an EMF metric the real
// handlers wrote while rotating, sweeping and failing below. A series nothing emits fails the test.

// Powertools writes EMF through the global console in dev mode: capture it.
process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';

const app = new App();
const stack = new ExampleStack(app, 'Example', { env: { account: '123456789012', region: 'eu-west-1' } });
const synthesized = Template.fromStack(stack);
const template = synthesized.toJSON() as {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
};

/** The string environment variables the template gives the function of a kind and strategy. */
function environmentOf(kind: string, strategy: string): Record<string, string> {
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const variables = ((
      resource.Properties.Environment as { Variables?: Record<string, unknown> } | undefined
    )?.Variables ?? {}) as Record<string, unknown>;
    if (variables.ROTATION_KIND === kind && variables.ROTATION_STRATEGY === strategy) {
      // Values that are references (the bus, the bucket, the tracker's table) are left out or replaced below.
      return Object.fromEntries(
        Object.entries(variables).filter((e): e is [string, string] => typeof e[1] === 'string'),
      );
    }
  }
  throw new Error(`no function with ROTATION_KIND=${kind} and ROTATION_STRATEGY=${strategy}`);
}

/**
 * moto's ListSecretVersionIds dates every version at the time of the call (local/MOTO-DIFFERENCES.md); its
 * GetSecretValue has each version's own CreatedDate, which AWS's listing gives. Put it into the listing.
 */
function restoreCreatedDates(client: SecretsManagerClient, direct: SecretsManagerClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName !== 'ListSecretVersionIdsCommand') return result;
      const input = args.input as { SecretId: string };
      for (const version of (result.output as ListSecretVersionIdsCommandOutput).Versions ?? []) {
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

describe('the dashboard shows only metrics the rotation functions emit', () => {
  let aws: LocalAws;
  let db: LocalDatabase;
  let caDir: string;
  let emitted: EmittedSeries[] = [];

  beforeAll(async () => {
    [aws, db] = await Promise.all([startMoto(), startPostgres({ tls: true })]);
    const output: string[] = [];
    const spy = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      output.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '));
    });
    try {
      const direct = new SecretsManagerClient(aws.clientConfig);
      const create = async (name: string, value: object) =>
        (await direct.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value) })))
          .ARN as string;
      const driver = new RotationDriver(aws.clientConfig);
      restoreCreatedDates(driver.client, direct);
      // A step for a token the secret never had: the step fails (RotationFailed), as any failed step does.
      const failStep = async (handler: (event: unknown) => Promise<unknown>, arn: string) => {
        await driver.enableRotation(arn);
        await expect(
          handler({ SecretId: arn, ClientRequestToken: randomUUID(), Step: 'setSecret' }),
        ).rejects.toThrow();
      };

      // api-key / self-issued: a rotation, the sweep after the grace period, a failed step
      const apiKeyEnv = environmentOf('api-key', 'self-issued');
      const clock = new Clock();
      const apiKey = createApiKeyHandler({ secretsManager: driver.client, now: clock.now, env: apiKeyEnv });
      const apiKeyArn = await create('dashboard/api-key', { apiKey: 'd'.repeat(40) });
      await driver.enableRotation(apiKeyArn);
      // moto dates versions to the second: the new version must come in a later second than the first one.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect((await driver.rotate(apiKeyArn, apiKey)).succeeded).toBe(true);
      clock.advance(Number(apiKeyEnv.API_KEY_GRACE_PERIOD_SECONDS) + 1);
      expect((await apiKey({ Action: 'sweep', SecretId: apiKeyArn }))?.revoked).toHaveLength(1);
      await failStep(apiKey, apiKeyArn);

      // jwt / jwks
      const s3 = new S3Client({ ...aws.clientConfig, forcePathStyle: true });
      await s3.send(new CreateBucketCommand({ Bucket: 'dashboard-jwks' }));
      const jwt = createJwtHandler({
        secretsManager: driver.client,
        s3,
        env: { ...environmentOf('jwt', 'jwks'), JWKS_BUCKET: 'dashboard-jwks' },
      });
      const jwtArn = await create('dashboard/jwt', {});
      expect((await driver.rotate(jwtArn, jwt)).succeeded).toBe(true);
      await failStep(jwt, jwtArn);

      // database / rds-master: the RDS API of moto
      const rds = new RDSClient(aws.clientConfig);
      await rds.send(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: 'dashboard',
          Engine: 'postgres',
          DBInstanceClass: 'db.t4g.medium',
          MasterUsername: 'dashboard_admin',
          MasterUserPassword: 'bootstrap-password-1',
          AllocatedStorage: 20,
        }),
      );
      const master = createDatabaseHandler({
        secretsManager: driver.client,
        rds,
        sleep: async () => {},
        env: environmentOf('database', 'rds-master'),
      });
      const masterArn = await create('dashboard/rds-master', {
        engine: 'postgres',
        host: 'dashboard.local',
        port: 5432,
        username: 'dashboard_admin',
        password: 'bootstrap-password-1',
        dbInstanceIdentifier: 'dashboard',
      });
      expect((await driver.rotate(masterArn, master)).succeeded).toBe(true);
      await failStep(master, masterArn);

      // database / alternating-users: a real PostgreSQL (TLS)
      caDir = mkdtempSync(join(tmpdir(), 'dashboard-ca-'));
      const caPath = join(caDir, 'ca.pem');
      writeFileSync(caPath, db.caPem ?? '');
      await adminFor(db).createAppUser('dashboard_app', 'Initial-Pass-1');
      const masterSecretArn = await create('dashboard/db-master', masterSecret(db));
      const alternatingArn = await create(
        'dashboard/db-alternating',
        appSecret(db, 'dashboard_app', 'Initial-Pass-1', { masterarn: masterSecretArn }),
      );
      const alternating = createDatabaseHandler({
        secretsManager: driver.client,
        sleep: async () => {},
        env: { ...environmentOf('database', 'alternating-users'), DB_CA_BUNDLE_PATH: caPath },
      });
      expect((await driver.rotate(alternatingArn, alternating)).succeeded).toBe(true);
      await failStep(alternating, alternatingArn);
    } finally {
      spy.mockRestore();
    }
    emitted = emfSeries(output);
  }, 180_000);

  afterAll(async () => {
    if (caDir) rmSync(caDir, { recursive: true, force: true });
    await Promise.all([aws?.stop(), db?.stop()]);
  });

  const fromRotationFunctions = () =>
    dashboardSeries(synthesized).filter(
      (s) =>
        s.dashboard.startsWith('RotationAlarms') &&
        s.namespace === 'SecretRotation' &&
        'Kind' in s.dimensions,
    );

  it('names ThrottledRequests (Sum) for every watched rotation, and RevocationLatency (p50, Maximum) for the API key', () => {
    const series = fromRotationFunctions();
    const watched = [...new Set(series.map((s) => `${s.dimensions.Kind}/${s.dimensions.Strategy}`))].sort();
    expect(watched).toEqual([
      'api-key/self-issued',
      'database/alternating-users',
      'database/rds-master',
      'jwt/jwks',
    ]);
    for (const rotation of watched) {
      const [kind, strategy] = rotation.split('/');
      expect(series).toContainEqual(
        expect.objectContaining({
          metricName: 'ThrottledRequests',
          stat: 'Sum',
          dimensions: { service: 'secret-rotation', Kind: kind, Strategy: strategy },
        }),
      );
    }
    const latency = series.filter((s) => s.metricName === 'RevocationLatency');
    expect(latency.map((s) => s.stat).sort()).toEqual(['Maximum', 'p50']);
    for (const s of latency) {
      expect(s.dimensions).toEqual({ service: 'secret-rotation', Kind: 'api-key', Strategy: 'self-issued' });
      expect(s.title).toContain('time from new version to revocation of the old key');
    }
  });

  it('every series of a rotation function on the dashboard is one the real handlers emitted', () => {
    const series = fromRotationFunctions();
    expect(series.length).toBeGreaterThan(20);
    const missing = series
      .filter((s) => !isEmitted(s, emitted))
      .map((s) => `${s.namespace} ${s.metricName} ${JSON.stringify(s.dimensions)} (${s.title})`);
    expect(missing).toEqual([]);
  });
});
