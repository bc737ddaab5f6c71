import { randomBytes } from 'node:crypto';
import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanCommand,
  CreateUsagePlanKeyCommand,
  GetApiKeysCommand,
} from '@aws-sdk/client-api-gateway';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { type ApiKeyHandler, createApiKeyHandler } from '../../../functions/api-key/create-handler';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';
import { stagesAfterConfigurationTest, withoutFinishedPending } from '../../helpers/finished-labels';
import { Clock, createSecret, uniqueName } from './harness';
import { LocalKeyService } from './key-service';

const ADMIN_TOKEN = `admin-${randomBytes(12).toString('hex')}`;

let aws: LocalAws;
let secrets: SecretsManagerClient;
let gateway: APIGatewayClient;
let adminSecretArn: string;
const services: LocalKeyService[] = [];

beforeAll(async () => {
  aws = await startMoto();
  secrets = new SecretsManagerClient(aws.clientConfig);
  gateway = new APIGatewayClient(aws.clientConfig);
  adminSecretArn = await createSecret(secrets, uniqueName('key-service/admin'), { token: ADMIN_TOKEN });
}, 60_000);

afterAll(async () => {
  for (const service of services) await service.stop();
  await aws?.stop();
});

type Mode = 'api-gateway' | 'http, our key' | 'http, provider-generated' | 'self-issued';

interface Setup {
  readonly arn: string;
  readonly driver: RotationDriver;
  readonly handler: ApiKeyHandler;
  /** What the provider holds, to prove the configuration test changed nothing there. */
  providerState(): Promise<string>;
}

async function setUp(mode: Mode): Promise<Setup> {
  const name = uniqueName(`orders/immediately-false/${mode.replace(/[^a-z]+/g, '-')}`);
  const driver = new RotationDriver(aws.clientConfig);
  const clock = new Clock();
  const common = { ROTATION_KIND: 'api-key', API_KEY_GRACE_PERIOD_SECONDS: '3600' };
  if (mode === 'api-gateway') {
    const plan = (await gateway.send(new CreateUsagePlanCommand({ name: uniqueName('plan') }))).id as string;
    const value = `Initial${randomBytes(12).toString('hex')}`;
    const key = await gateway.send(
      new CreateApiKeyCommand({ name: `${name}-initial`, value, enabled: true }),
    );
    await gateway.send(
      new CreateUsagePlanKeyCommand({ usagePlanId: plan, keyId: key.id, keyType: 'API_KEY' }),
    );
    const arn = await createSecret(secrets, name, { apiKey: value, keyId: key.id });
    const handler = createApiKeyHandler({
      secretsManager: driver.client,
      apiGateway: new APIGatewayClient(aws.clientConfig),
      now: clock.now,
      env: { ...common, ROTATION_STRATEGY: 'api-gateway', API_GATEWAY_USAGE_PLAN_IDS: plan },
    });
    return {
      arn,
      driver,
      handler,
      providerState: async () => {
        const out = await gateway.send(new GetApiKeysCommand({ nameQuery: name, limit: 500 }));
        return JSON.stringify((out.items ?? []).map((k) => [k.id, k.name, k.enabled]).sort());
      },
    };
  }
  const generatesValue = mode === 'http, provider-generated';
  const service = await LocalKeyService.start({ adminToken: ADMIN_TOKEN, generatesValue });
  services.push(service);
  const initial = service.issueDirect('hand-made');
  const arn = await createSecret(secrets, name, {
    apiKey: initial.value,
    ...(mode === 'self-issued' ? {} : { keyId: initial.id }),
  });
  const http = {
    baseUrl: service.url,
    auth: { secretArn: adminSecretArn, field: 'token' },
    issue: {
      url: '/admin/keys',
      body: generatesValue ? { name: '{keyName}' } : { name: '{keyName}', key: '{apiKey}' },
      keyIdPointer: '/data/id',
      ...(generatesValue ? { keyValuePointer: '/data/secret' } : {}),
    },
    // A check that names the key: the provider must find the key under test by id or by name.
    check: { url: '/v1/keys/{keyId}/whoami' },
    revoke: { url: '/admin/keys/{keyId}' },
    list: {
      url: '/admin/keys?prefix={namePrefix}',
      itemsPointer: '/items',
      keyIdPointer: '/id',
      namePointer: '/label',
    },
  };
  const handler = createApiKeyHandler({
    secretsManager: driver.client,
    now: clock.now,
    sleep: async () => {},
    env: {
      ...common,
      ROTATION_STRATEGY: mode === 'self-issued' ? 'self-issued' : 'http',
      ...(mode === 'self-issued' ? {} : { HTTP_PROVIDER_CONFIG: JSON.stringify(http) }),
    },
  });
  return {
    arn,
    driver,
    handler,
    providerState: async () =>
      JSON.stringify([...service.keys.values()].map((k) => [k.id, k.name, k.revoked])),
  };
}

/** Everything about the secret a configuration test must leave as it was, the temporary version aside. */
async function secretState(arn: string, temporary?: string): Promise<string> {
  const described = await secrets.send(new DescribeSecretCommand({ SecretId: arn }));
  const versions = await secrets.send(
    new ListSecretVersionIdsCommand({ SecretId: arn, IncludeDeprecated: true }),
  );
  const current = await secrets.send(
    new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSCURRENT' }),
  );
  return JSON.stringify({
    stages: stagesAfterConfigurationTest(described.VersionIdsToStages),
    versions: (versions.Versions ?? [])
      .filter((v) => v.VersionId !== temporary)
      .map((v) => [v.VersionId, withoutFinishedPending(v.VersionStages ?? []).sort()])
      .sort(),
    current: [current.VersionId, current.SecretString],
  });
}

describe.each<Mode>(['api-gateway', 'http, our key', 'http, provider-generated', 'self-issued'])(
  'PROTOCOL "RotateImmediately=false" with API keys (%s), through moto\'s RotateSecret',
  (mode) => {
    it.each(['never rotated', 'rotated once'])(
      'testSecret alone passes on a secret %s, and changes nothing',
      async (history) => {
        // GIVEN
        const s = await setUp(mode);
        if (history === 'rotated once')
          expect((await s.driver.rotate(s.arn, s.handler)).succeeded).toBe(true);
        const before = await secretState(s.arn);
        const providerBefore = await s.providerState();
        // WHEN Secrets Manager tests the configuration: a temporary AWSPENDING, testSecret, the label removed
        const result = await s.driver.testConfiguration(s.arn, s.handler);
        // THEN
        expect(result).toMatchObject({ ok: true });
        expect(await secretState(s.arn, result.token)).toBe(before);
        const after = await secrets.send(new DescribeSecretCommand({ SecretId: s.arn }));
        expect(Object.values(after.VersionIdsToStages ?? {}).flat()).not.toContain('AWSPENDING');
        expect(await s.providerState()).toBe(providerBefore);
      },
    );
  },
);
