import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { eventBridgeFor, LOCAL_FUNCTIONS, type LocalFunctionContext } from '../../../cli/local-functions';

function context(env: Record<string, string>): LocalFunctionContext {
  return { secretsManager: new SecretsManagerClient({}), clientConfig: { region: 'us-east-1' }, env };
}

describe('the local functions', () => {
  it('builds an EventBridge client only when the function is configured to publish events', async () => {
    expect(await eventBridgeFor(context({}))).toEqual({});
    expect((await eventBridgeFor(context({ EVENT_BUS_NAME: 'rotation' }))).eventBridge).toBeInstanceOf(
      EventBridgeClient,
    );
  });

  it('builds the real database handler from the environment, and fails on its configuration as the Lambda would', async () => {
    const factory = LOCAL_FUNCTIONS.database;
    expect(factory).toBeDefined();
    expect(typeof (await factory?.(context({ ROTATION_STRATEGY: 'alternating-users' })))).toBe('function');
    await expect(factory?.(context({}))).rejects.toMatchObject({
      name: 'ConfigurationError',
      message: expect.stringContaining('ROTATION_STRATEGY is required'),
    });
  });
});
