import { RotationStep } from './constants';
import { InvalidEventError } from './errors';
import type { RotationEvent } from './types';

const STEP_SPELLINGS: Readonly<Record<string, RotationStep>> = {
  createSecret: RotationStep.CREATE,
  create_secret: RotationStep.CREATE,
  setSecret: RotationStep.SET,
  set_secret: RotationStep.SET,
  testSecret: RotationStep.TEST,
  test_secret: RotationStep.TEST,
  finishSecret: RotationStep.FINISH,
  finish_secret: RotationStep.FINISH,
};

/**
 * Validates the invocation event and normalises the step spelling.
 *
 * @throws InvalidEventError naming the missing or bad field; nothing has been touched at that point.
 */
export function parseRotationEvent(raw: unknown): RotationEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidEventError(
      'Rotation event must be an object with SecretId, ClientRequestToken and Step',
    );
  }
  const event = raw as Record<string, unknown>;
  const secretId = requireString(event, 'SecretId');
  const token = requireString(event, 'ClientRequestToken');
  const stepName = requireString(event, 'Step');
  const step = STEP_SPELLINGS[stepName];
  if (step === undefined) {
    throw new InvalidEventError(
      `Rotation event field 'Step' has unknown value '${stepName.slice(0, 64)}'; expected one of ` +
        'createSecret, setSecret, testSecret, finishSecret',
    );
  }
  const rotationToken = event.RotationToken;
  if (rotationToken !== undefined && rotationToken !== null && typeof rotationToken !== 'string') {
    throw new InvalidEventError("Rotation event field 'RotationToken' must be a string when present");
  }
  return {
    secretId,
    token,
    step,
    ...(typeof rotationToken === 'string' && rotationToken !== '' ? { rotationToken } : {}),
  };
}

function requireString(event: Record<string, unknown>, field: string): string {
  const value = event[field];
  if (value === undefined || value === null) {
    throw new InvalidEventError(`Rotation event is missing required field '${field}'`);
  }
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidEventError(`Rotation event field '${field}' must be a non-empty string`);
  }
  return value;
}
