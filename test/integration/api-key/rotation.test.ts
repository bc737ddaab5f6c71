import { randomBytes } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ApiKeyVerifier } from '../../../client/api-key-verifier';
import { ApiKeyCredentials } from '../../../client/http-credentials';
import { SecretCache } from '../../../client/secret-cache';
import { type ApiKeyHandler, createApiKeyHandler } from '../../../functions/api-key/create-handler';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';
import { Clock, createSecret, eventBus, labelEvent, startWorkload, uniqueName } from './harness';
import { LocalKeyService } from './key-service';

const GRACE = 3600;
const ADMIN_TOKEN = `admin-${randomBytes(12).toString('hex')}`;

let aws: LocalAws;
let secrets: SecretsManagerClient;
let adminSecretArn: string;

beforeAll(async () => {
  aws = await startMoto();
  secrets = new SecretsManagerClient(aws.clientConfig);
  adminSecretArn = await createSecret(secrets, uniqueName('key-service/admin'), { token: ADMIN_TOKEN });
}, 60_000);

afterAll(async () => {
  await aws?.stop();
});

type Mode = 'provider-generated' | 'our-key' | 'self-issued';

/** The HTTP provider's configuration for the local key service. */
function httpConfig(service: LocalKeyService, generatesValue: boolean) {
  return {
    baseUrl: service.url,
    auth: { secretArn: adminSecretArn, field: 'token' },
    issue: {
      url: '/admin/keys',
      body: generatesValue ? { name: '{keyName}' } : { name: '{keyName}', key: '{apiKey}' },
      keyIdPointer: '/data/id',
      ...(generatesValue ? { keyValuePointer: '/data/secret' } : {}),
    },
    check: { url: '/v1/whoami' },
    revoke: { url: '/admin/keys/{keyId}' },
    list: {
      url: '/admin/keys?prefix={namePrefix}',
      itemsPointer: '/items',
      keyIdPointer: '/id',
      namePointer: '/label',
    },
  };
}

interface Setup {
  readonly mode: Mode;
  readonly arn: string;
  readonly service: LocalKeyService;
  readonly driver: RotationDriver;
  readonly handler: ApiKeyHandler;
  readonly clock: Clock;
  readonly callerCache: SecretCache;
  readonly serviceCache: SecretCache;
  readonly published: ReturnType<typeof eventBus>['published'];
  readonly credentials: ApiKeyCredentials;
  /** Rotations' keys, for the secrecy checks. */
  currentKey(): Promise<string>;
}

async function setUp(mode: Mode, options: { deliverEvents?: boolean } = {}): Promise<Setup> {
  const clock = new Clock();
  const callerCache = new SecretCache({ client: new SecretsManagerClient(aws.clientConfig) });
  const serviceCache = new SecretCache({ client: new SecretsManagerClient(aws.clientConfig) });
  const name = uniqueName(`orders/${mode}`);
  let verifier: ApiKeyVerifier | undefined;
  const service = await LocalKeyService.start({
    adminToken: ADMIN_TOKEN,
    generatesValue: mode === 'provider-generated',
    ...(mode === 'self-issued'
      ? { authorize: (key: string) => (verifier as ApiKeyVerifier).isValid(key) }
      : {}),
  });
  const initial = service.issueDirect('hand-made');
  const arn = await createSecret(secrets, name, {
    apiKey: initial.value,
    ...(mode === 'self-issued' ? {} : { keyId: initial.id }),
    baseUrl: service.url,
  });
  verifier = new ApiKeyVerifier({ source: serviceCache, secretId: arn });
  const bus = eventBus(...(options.deliverEvents === false ? [] : [callerCache, serviceCache]));
  const driver = new RotationDriver(aws.clientConfig);
  const handler = createApiKeyHandler({
    secretsManager: driver.client,
    eventBridge: bus.client,
    now: clock.now,
    sleep: async () => {},
    env: {
      ROTATION_KIND: 'api-key',
      ROTATION_STRATEGY: mode === 'self-issued' ? 'self-issued' : 'http',
      EVENT_BUS_NAME: 'rotation-bus',
      API_KEY_GRACE_PERIOD_SECONDS: String(GRACE),
      ...(mode === 'self-issued'
        ? {}
        : { HTTP_PROVIDER_CONFIG: JSON.stringify(httpConfig(service, mode === 'provider-generated')) }),
    },
  });
  await driver.enableRotation(arn);
  const credentials = new ApiKeyCredentials({ source: callerCache, secretId: arn });
  return {
    mode,
    arn,
    service,
    driver,
    handler,
    clock,
    callerCache,
    serviceCache,
    published: bus.published,
    credentials,
    currentKey: async () => {
      const out = await secrets.send(
        new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSCURRENT' }),
      );
      return (JSON.parse(out.SecretString ?? '{}') as { apiKey: string }).apiKey;
    },
  };
}

/** Every key the service ever held, or (self-issued) every key the secret ever held. */
async function allKeys(s: Setup): Promise<string[]> {
  const keys = [...s.service.keys.values()].map((k) => k.value);
  return keys;
}

async function sweep(s: Setup, emergency = false) {
  const report = await s.handler({
    Action: 'sweep',
    SecretId: s.arn,
    ...(emergency ? { Emergency: true } : {}),
  });
  // What RotationEvents forwards when AWSPREVIOUS is removed: consumers' caches hear of it.
  s.serviceCache.handleEvent(labelEvent(s.arn));
  return report;
}

describe.each<Mode>(['provider-generated', 'our-key', 'self-issued'])(
  'API keys (%s) in local mode',
  (mode) => {
    it('ten rotations in a row with callers making requests throughout: zero refused calls, each old key revoked only after its grace period', async () => {
      // GIVEN
      const s = await setUp(mode);
      const workload = startWorkload(() => s.credentials.fetch(`${s.service.url}/v1/orders`));
      const seenKeys = new Set<string>([await s.currentKey()]);
      try {
        for (let i = 0; i < 10; i++) {
          const before = await s.currentKey();
          // WHEN
          const record = await s.driver.rotate(s.arn, s.handler);
          // THEN
          expect(record).toMatchObject({ succeeded: true, attempts: 1 });
          const now = await s.currentKey();
          seenKeys.add(now);
          expect(now).not.toBe(before);
          // the old key keeps working through its grace period; a sweep before the deadline revokes nothing
          s.clock.advance(GRACE - 1);
          expect((await sweep(s))?.revoked).toEqual([]);
          if (mode === 'self-issued') {
            expect(await probe(s, before)).toBe(200);
          } else {
            expect(s.service.accepts(before)).toBe(true);
          }
          await new Promise((resolve) => setTimeout(resolve, 20)); // callers run between the steps of the test
          // after the deadline the sweep revokes it
          s.clock.advance(1);
          const report = await sweep(s);
          expect(report?.revoked).toHaveLength(1);
          expect(report?.revoked[0]).toMatchObject({ reason: 'grace-period-ended', outcome: 'revoked' });
          expect(await probe(s, before)).toBe(401);
          expect(await probe(s, now)).toBe(200);
        }
      } finally {
        const result = await workload.stop();
        // THEN
        expect(result.failures).toEqual([]);
        expect(result.ok).toBeGreaterThan(50);
        await s.service.stop();
      }
      // the caller's cache was refreshed by the rotation events before any old key was revoked
      expect(s.credentials.recoveries).toBe(0);
      expect(s.service.refused).toBe(10); // only the test's own probes of the revoked keys
      if (mode !== 'self-issued')
        expect(s.service.live().map((k) => k.value)).toEqual([await s.currentKey()]);
      // no key in any event
      const events = s.published.map((e) => e.raw).join('\n');
      for (const key of [...seenKeys, ...(await allKeys(s)), ADMIN_TOKEN]) expect(events).not.toContain(key);
      expect(s.published.filter((e) => e.detail.action === 'api-key-revoked')).toHaveLength(10);
    }, 120_000);

    it('a caller whose cache missed the rotation events recovers on the 401 after the revocation', async () => {
      // GIVEN no events reach the caches
      const s = await setUp(mode, { deliverEvents: false });
      try {
        expect((await s.credentials.fetch(`${s.service.url}/v1/orders`)).status).toBe(200);
        await s.driver.rotate(s.arn, s.handler);
        s.clock.advance(GRACE);
        await sweep(s);
        // WHEN the caller sends its cached, revoked key
        const response = await s.credentials.fetch(`${s.service.url}/v1/orders`);
        // THEN it retried once with the key read anew
        expect(response.status).toBe(200);
        expect(s.credentials.recoveries).toBe(1);
      } finally {
        await s.service.stop();
      }
    }, 60_000);
  },
);

/** The status the data API answers for `key`. */
async function probe(s: Setup, key: string): Promise<number> {
  const response = await fetch(`${s.service.url}/v1/whoami`, { headers: { 'x-api-key': key } });
  await response.body?.cancel();
  return response.status;
}

describe.each<Mode>(['provider-generated', 'our-key'])('crashes and provider errors (%s)', (mode) => {
  const crashes = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

  it.each(crashes)(
    'a crash right after %s converges on the retry, and the next sweep leaves no orphan key',
    async (step) => {
      // GIVEN a function that dies after completing one step, once
      const s = await setUp(mode);
      let crashed = false;
      const crashing = async (event: unknown) => {
        await s.handler(event);
        if (!crashed && (event as { Step?: string }).Step === step) {
          crashed = true;
          throw new Error(`function crashed after ${step}`);
        }
      };
      try {
        // WHEN
        const record = await s.driver.rotate(s.arn, crashing);
        // THEN
        expect(record).toMatchObject({ succeeded: true, attempts: 2 });
        s.clock.advance(GRACE);
        await sweep(s);
        expect(s.service.live().map((k) => k.value)).toEqual([await s.currentKey()]);
      } finally {
        await s.service.stop();
      }
    },
    60_000,
  );

  it.each([
    ['the service issues a key but its answer is lost', { operation: 'issue', status: 502, afterWork: true }],
    ['the service fails to list keys', { operation: 'list', status: 503 }],
    ['the check fails once', { operation: 'check', status: 500 }],
  ] as const)(
    'when %s, the rotation converges and no orphan key is left',
    async (_name, fault) => {
      // GIVEN
      const s = await setUp(mode);
      s.service.faults.push({ ...fault });
      try {
        // WHEN
        const record = await s.driver.rotate(s.arn, s.handler);
        // THEN
        expect(record.succeeded).toBe(true);
        s.clock.advance(GRACE);
        await sweep(s);
        expect(s.service.live().map((k) => k.value)).toEqual([await s.currentKey()]);
      } finally {
        await s.service.stop();
      }
    },
    60_000,
  );

  it('a crash between the provider issuing and PutSecretValue leaves no orphan after the retry', async () => {
    // GIVEN PutSecretValue fails once, after setSecret or createSecret issued
    const s = await setUp(mode);
    let failed = false;
    s.driver.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (!failed && context.commandName === 'PutSecretValueCommand') {
          failed = true;
          throw Object.assign(new Error('connection reset'), { name: 'TimeoutError' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'crashOnPut', priority: 'high' },
    );
    try {
      // WHEN
      const record = await s.driver.rotate(s.arn, s.handler);
      // THEN
      expect(record).toMatchObject({ succeeded: true, attempts: 2 });
      // a key the service generated for the crashed attempt was lost with it: the next sweep revokes it at once
      const early = await sweep(s);
      expect(early?.revoked.map((r) => r.reason)).toEqual(mode === 'provider-generated' ? ['orphan'] : []);
      expect(s.service.live()).toHaveLength(2); // current and previous, in its grace period
      s.clock.advance(GRACE);
      await sweep(s);
      expect(s.service.live().map((k) => k.value)).toEqual([await s.currentKey()]);
    } finally {
      await s.service.stop();
    }
  }, 60_000);

  it('a provider that keeps failing leaves AWSCURRENT and its key working, and revokes nothing', async () => {
    // GIVEN the service refuses to issue, through every retry
    const s = await setUp(mode);
    const before = await s.currentKey();
    s.service.faults.push({ operation: 'issue', status: 503, times: 100 });
    const workload = startWorkload(() => s.credentials.fetch(`${s.service.url}/v1/orders`));
    try {
      // WHEN
      const record = await s.driver.rotate(s.arn, s.handler);
      // THEN
      expect(record).toMatchObject({ succeeded: false, attempts: 3 });
      expect(await s.currentKey()).toBe(before);
      expect(s.service.accepts(before)).toBe(true);
      s.clock.advance(GRACE * 10);
      await sweep(s);
      expect(s.service.accepts(before)).toBe(true);
    } finally {
      const result = await workload.stop();
      expect(result.failures).toEqual([]);
      await s.service.stop();
    }
  }, 60_000);

  it('emergency: with the tag set, the next rotation revokes the leaked key at finishSecret', async () => {
    // GIVEN
    const s = await setUp(mode);
    const leaked = await s.currentKey();
    const { TagResourceCommand } = await import('@aws-sdk/client-secrets-manager');
    await secrets.send(
      new TagResourceCommand({
        SecretId: s.arn,
        Tags: [{ Key: 'secret-rotation:api-key:emergency', Value: 'INC-1' }],
      }),
    );
    try {
      // WHEN
      const record = await s.driver.rotate(s.arn, s.handler);
      // THEN
      expect(record.succeeded).toBe(true);
      expect(s.service.accepts(leaked)).toBe(false);
      expect(s.service.live().map((k) => k.value)).toEqual([await s.currentKey()]);
    } finally {
      await s.service.stop();
    }
  }, 60_000);
});
