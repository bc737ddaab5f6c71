import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
  GetApiKeyCommand,
  GetApiKeysCommand,
  GetUsagePlanKeyCommand,
  GetUsagePlansCommand,
} from '@aws-sdk/client-api-gateway';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type ApiKeyHandler, createApiKeyHandler } from '../../../functions/api-key/create-handler';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';
import { Clock, createSecret, uniqueName } from './harness';

const GRACE = 3600;

let aws: LocalAws;
let secrets: SecretsManagerClient;
let gateway: APIGatewayClient;

beforeAll(async () => {
  aws = await startMoto();
  secrets = new SecretsManagerClient(aws.clientConfig);
  gateway = new APIGatewayClient(aws.clientConfig);
}, 60_000);

afterAll(async () => {
  await aws?.stop();
});

async function plan(name: string): Promise<string> {
  return (await gateway.send(new CreateUsagePlanCommand({ name: uniqueName(name) }))).id as string;
}

async function key(name: string, plans: string[]): Promise<{ id: string; value: string }> {
  const value = `Initial${Math.random().toString(36).slice(2)}0123456789abcdef`;
  const created = await gateway.send(new CreateApiKeyCommand({ name, value, enabled: true }));
  for (const usagePlanId of plans) {
    await gateway.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId: created.id, keyType: 'API_KEY' }));
  }
  return { id: created.id as string, value };
}

async function exists(keyId: string): Promise<boolean> {
  try {
    await gateway.send(new GetApiKeyCommand({ apiKey: keyId }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'NotFoundException') return false;
    throw error;
  }
}

async function inPlan(usagePlanId: string, keyId: string): Promise<boolean> {
  try {
    await gateway.send(new GetUsagePlanKeyCommand({ usagePlanId, keyId }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'NotFoundException') return false;
    throw error;
  }
}

/** API keys whose name starts with `prefix` (compared here: nameQuery is not an exact match). */
async function keysNamed(prefix: string): Promise<Array<{ id: string; name: string }>> {
  const out = await gateway.send(new GetApiKeysCommand({ nameQuery: prefix, limit: 500 }));
  return (out.items ?? [])
    .filter((k) => k.name?.startsWith(prefix))
    .map((k) => ({ id: k.id as string, name: k.name as string }));
}

interface Setup {
  readonly arn: string;
  readonly name: string;
  readonly planA: string;
  readonly planB: string;
  readonly initial: { id: string; value: string };
  readonly driver: RotationDriver;
  readonly handler: ApiKeyHandler;
  readonly clock: Clock;
  readonly client: APIGatewayClient;
}

async function setUp(
  options: { initialPlans?: (a: string, b: string, c: string) => string[] } = {},
): Promise<Setup> {
  const [planA, planB, planC] = await Promise.all([plan('plan-a'), plan('plan-b'), plan('plan-c')]);
  const name = uniqueName('orders/gateway-key');
  const initial = await key(`${name}-initial`, options.initialPlans?.(planA, planB, planC) ?? [planA]);
  const arn = await createSecret(secrets, name, { apiKey: initial.value, keyId: initial.id });
  const driver = new RotationDriver(aws.clientConfig);
  const clock = new Clock();
  const client = new APIGatewayClient(aws.clientConfig);
  const handler = createApiKeyHandler({
    secretsManager: driver.client,
    apiGateway: client,
    now: clock.now,
    env: {
      ROTATION_STRATEGY: 'api-gateway',
      API_GATEWAY_USAGE_PLAN_IDS: `${planA},${planB}`,
      API_KEY_GRACE_PERIOD_SECONDS: String(GRACE),
    },
  });
  return { arn, name, planA, planB, initial, driver, handler, clock, client };
}

async function current(arn: string): Promise<{ versionId: string; apiKey: string; keyId?: string }> {
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSCURRENT' }));
  return { versionId: out.VersionId as string, ...JSON.parse(out.SecretString ?? '{}') };
}

describe('API Gateway keys through moto', () => {
  it('each new key joins the usage plans of the old one; the old key is deleted only after its grace period', async () => {
    // GIVEN a key in plan A (plan B is allowed but the key is not in it)
    const s = await setUp();
    let previousKeyId = s.initial.id;
    for (let i = 0; i < 3; i++) {
      // WHEN
      const record = await s.driver.rotate(s.arn, s.handler);
      // THEN
      expect(record).toMatchObject({ succeeded: true, attempts: 1 });
      const now = await current(s.arn);
      const [issued] = await keysNamed(`${s.name}-${now.versionId}`);
      expect(issued).toBeDefined();
      const found = await gateway.send(new GetApiKeyCommand({ apiKey: issued?.id, includeValue: true }));
      expect(found).toMatchObject({ enabled: true, value: now.apiKey });
      expect(await inPlan(s.planA, issued?.id as string)).toBe(true);
      expect(await inPlan(s.planB, issued?.id as string)).toBe(false);
      // the old key lives through its grace period
      s.clock.advance(GRACE - 1);
      await s.handler({ Action: 'sweep', SecretId: s.arn });
      expect(await exists(previousKeyId)).toBe(true);
      s.clock.advance(1);
      const report = await s.handler({ Action: 'sweep', SecretId: s.arn });
      expect(report?.revoked).toEqual([
        expect.objectContaining({ keyId: previousKeyId, outcome: 'revoked' }),
      ]);
      expect(await exists(previousKeyId)).toBe(false);
      previousKeyId = issued?.id as string;
    }
    // no key is left but the current one
    expect((await keysNamed(s.name)).map((k) => k.id)).toEqual([previousKeyId]);
  }, 60_000);

  it('a crash after CreateApiKey, before the key joins its plan, converges on the retry without a second key', async () => {
    // GIVEN attaching the new key to its usage plan fails once
    const s = await setUp();
    let failed = false;
    s.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (!failed && context.commandName === 'CreateUsagePlanKeyCommand') {
          failed = true;
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'crashOnAttach' },
    );
    // WHEN
    const record = await s.driver.rotate(s.arn, s.handler);
    // THEN
    expect(record).toMatchObject({ succeeded: true, attempts: 2 });
    const now = await current(s.arn);
    const issued = await keysNamed(`${s.name}-${now.versionId}`);
    expect(issued).toHaveLength(1);
    expect(await inPlan(s.planA, issued[0]?.id as string)).toBe(true);
    s.clock.advance(GRACE);
    await s.handler({ Action: 'sweep', SecretId: s.arn });
    expect((await keysNamed(s.name)).map((k) => k.id)).toEqual([issued[0]?.id]);
  }, 60_000);

  it('refuses to rotate a key that is in a usage plan the function may not attach keys to, leaving AWSCURRENT', async () => {
    // GIVEN the current key is also in plan C, which is not configured
    const s = await setUp({ initialPlans: (a, _b, c) => [a, c] });
    const before = await current(s.arn);
    // WHEN
    const record = await s.driver.rotate(s.arn, s.handler);
    // THEN
    expect(record.succeeded).toBe(false);
    expect(record.steps.find((step) => !step.ok)).toMatchObject({
      step: 'setSecret',
      errorName: 'ApiKeyProviderError',
    });
    expect((await current(s.arn)).versionId).toBe(before.versionId);
    expect((await keysNamed(s.name)).map((k) => k.id)).toEqual([s.initial.id]);
  }, 60_000);
});

// Where moto's API Gateway differs from AWS (local/MOTO-DIFFERENCES.md). Our code relies on none of it: these
// tests pin moto's behaviour so that an upgrade that changes it is noticed.
describe("moto's API Gateway", () => {
  it('matches GetApiKeys nameQuery as a case-sensitive prefix', async () => {
    const base = uniqueName('pin-name');
    await key(base, []);
    await key(`${base}-longer`, []);
    const out = await gateway.send(new GetApiKeysCommand({ nameQuery: base }));
    expect((out.items ?? []).map((k) => k.name).sort()).toEqual([base, `${base}-longer`]);
  });

  it('still lists a deleted key in GetUsagePlans by keyId (AWS removes a deleted key from its plans)', async () => {
    const usagePlanId = await plan('pin-plan');
    const created = await key(uniqueName('pin-deleted'), [usagePlanId]);
    await gateway.send(new DeleteApiKeyCommand({ apiKey: created.id }));
    const out = await gateway.send(new GetUsagePlansCommand({ keyId: created.id }));
    expect((out.items ?? []).map((p) => p.id)).toEqual([usagePlanId]);
  });

  it('accepts CreateUsagePlanKey for a key already in the plan (AWS answers ConflictException)', async () => {
    const usagePlanId = await plan('pin-dup');
    const created = await key(uniqueName('pin-dup'), [usagePlanId]);
    await expect(
      gateway.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId: created.id, keyType: 'API_KEY' })),
    ).resolves.toBeDefined();
  });
});
