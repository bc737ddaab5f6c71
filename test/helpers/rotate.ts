import type { RotationHandler } from '../../functions/rotation';
import type { FakeSecretsManager } from './fake-secrets-manager';

export const STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

/** Runs one whole rotation the way Secrets Manager does: a new AWSPENDING token, then the four steps. */
export async function rotateOnce(
  fake: FakeSecretsManager,
  handler: RotationHandler,
  secretId: string,
  token?: string,
): Promise<string> {
  const versionId = fake.startRotation(secretId, token);
  for (const step of STEPS) {
    await handler({ SecretId: secretId, ClientRequestToken: versionId, Step: step });
  }
  return versionId;
}
