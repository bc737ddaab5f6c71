import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import {
  createRotationHandler,
  loadRotationConfig,
  type RotationConfig,
  type RotationHandler,
} from '../../../functions/rotation';
import { CounterStrategy } from '../../helpers/counter-strategy';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';

export const INITIAL = { generation: 0, password: 'initial-Pa55word-value' };

/** A fake Secrets Manager, the counter strategy, a mocked EventBridge and a handler built from them. */
export function setUp(options: { config?: Partial<RotationConfig>; rotationEnabled?: boolean } = {}) {
  const fake = new FakeSecretsManager();
  const strategy = new CounterStrategy();
  const eventBridgeClient = new EventBridgeClient({ region: 'us-east-1' });
  const eventBridge = mockClient(eventBridgeClient);
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  const arn = fake.createSecret('app/db', INITIAL, { rotationEnabled: options.rotationEnabled ?? true });
  const config = { ...loadRotationConfig({}), ...options.config };
  const handler: RotationHandler = createRotationHandler({
    strategy,
    secretsManager: fake.client,
    eventBridge: eventBridgeClient,
    config,
  });
  return { fake, strategy, eventBridge, eventBridgeClient, arn, handler, config };
}

/** The event Secrets Manager sends. */
export function stepEvent(arn: string, token: string, step: string, extra: Record<string, unknown> = {}) {
  return { SecretId: arn, ClientRequestToken: token, Step: step, ...extra };
}

/** Names of the Secrets Manager commands the fake received, in order. */
export function commandNames(fake: FakeSecretsManager): string[] {
  return fake.mock.calls().map((call) => (call.args[0] as object).constructor.name);
}

/** Commands that change the secret. */
export const WRITES = ['PutSecretValueCommand', 'UpdateSecretVersionStageCommand'];
