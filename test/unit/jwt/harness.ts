import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import type { KeySet } from '../../../functions/jwt';
import { createJwtHandler, generateSigningKey, type KeyGenerator } from '../../../functions/jwt';
import type { RotationHandler } from '../../../functions/rotation';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { STEPS } from '../../helpers/rotate';
import { FakeS3 } from './fake-s3';

export const BUCKET = 'jwks-bucket';
export const OBJECT_KEY = '.well-known/jwks.json';
/** Start of the simulated clock. */
export const T0 = Date.parse('2030-01-01T00:00:00.000Z');
/** Settings of most tests: a five-minute cache, a fifteen-minute token lifetime, ES256 (fast to generate). */
export const ENV = {
  JWKS_BUCKET: BUCKET,
  JWT_ALGORITHM: 'ES256',
  JWKS_CACHE_SECONDS: '300',
  JWT_MAX_TOKEN_LIFETIME_SECONDS: '900',
} as const;
export const STALENESS_MS = 300_000;

/** A fake Secrets Manager and S3, a simulated clock, a mocked EventBridge, and the JWT handler built on them. */
export function setUpJwt(
  options: {
    env?: Record<string, string>;
    initial?: string | object;
    events?: boolean;
    generateKey?: KeyGenerator;
  } = {},
) {
  const fake = new FakeSecretsManager();
  const s3 = new FakeS3();
  let clock = T0;
  s3.clock = () => clock;
  const eventBridgeClient = new EventBridgeClient({ region: 'us-east-1' });
  const eventBridge = mockClient(eventBridgeClient);
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  const arn = fake.createSecret('app/jwt-signing', options.initial ?? {});
  let generated = 0;
  const faults = { failNextGeneration: false };
  const env = { ...ENV, ...(options.events ? { EVENT_BUS_NAME: 'rotation-bus' } : {}), ...options.env };
  const handler: RotationHandler = createJwtHandler({
    secretsManager: fake.client,
    s3: s3.client,
    ...(options.events ? { eventBridge: eventBridgeClient } : {}),
    env,
    now: () => clock,
    generateKey: async (alg, opts) => {
      if (faults.failNextGeneration) {
        faults.failNextGeneration = false;
        throw new Error('the function crashed while generating a key');
      }
      generated++;
      return (options.generateKey ?? generateSigningKey)(alg, opts);
    },
  });
  const step = (token: string, name: string) =>
    handler({ SecretId: arn, ClientRequestToken: token, Step: name });
  return {
    fake,
    s3,
    arn,
    handler,
    eventBridge,
    step,
    get generated() {
      return generated;
    },
    /** Faults to inject: the next key generation throws. */
    faults,
    now: () => clock,
    advance: (ms: number) => {
      clock += ms;
    },
    /** One whole rotation; returns its token. */
    rotate: async () => {
      const token = fake.startRotation(arn);
      for (const name of STEPS) await step(token, name);
      return token;
    },
    current: () => fake.valueOf<KeySet>(arn, 'AWSCURRENT'),
    jwks: () => s3.json(BUCKET, OBJECT_KEY),
    object: () => s3.object(BUCKET, OBJECT_KEY),
  };
}

/** Names of the commands a client mock received. */
export function commandNames(mock: { calls(): Array<{ args: unknown[] }> }): string[] {
  return mock.calls().map((call) => (call.args[0] as object).constructor.name);
}
