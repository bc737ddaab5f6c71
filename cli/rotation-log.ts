import { RotationStep } from '../functions/rotation/constants';

/** What the CLI reads from one of our rotation functions' JSON log lines. */
export interface RotationLogLine {
  readonly step?: RotationStep;
  readonly token?: string;
  readonly level?: string;
  readonly message?: string;
  readonly errorName?: string;
  /** Already scrubbed of secret values by the function's redactor. */
  readonly errorMessage?: string;
}

/** The message of the line our protocol core writes when a step fails. */
export const STEP_FAILED_MESSAGE = 'Rotation step failed';

const SNAKE_STEPS: Readonly<Record<string, RotationStep>> = {
  create_secret: RotationStep.CREATE,
  set_secret: RotationStep.SET,
  test_secret: RotationStep.TEST,
  finish_secret: RotationStep.FINISH,
};

function normaliseStep(value: unknown): RotationStep | undefined {
  if (typeof value !== 'string') return undefined;
  if ((Object.values(RotationStep) as string[]).includes(value)) return value as RotationStep;
  return SNAKE_STEPS[value];
}

function parseObject(text: string): Record<string, unknown> | undefined {
  const start = text.indexOf('{');
  if (start < 0) return undefined;
  try {
    const value: unknown = JSON.parse(text.slice(start));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses a CloudWatch Logs message of a rotation function: a Powertools JSON line as the function wrote it,
 * possibly behind Lambda's text prefix, or wrapped in Lambda's JSON log format (`message` holding the line).
 * Returns `undefined` for anything else (START/END/REPORT lines, plain text).
 */
export function parseRotationLogLine(text: string): RotationLogLine | undefined {
  let object = parseObject(text);
  if (!object) return undefined;
  if (object.step === undefined && typeof object.message === 'string') {
    const inner = parseObject(object.message);
    if (inner?.step !== undefined) object = inner;
  }
  const step = normaliseStep(object.step);
  const token =
    typeof object.token === 'string'
      ? object.token
      : typeof object.correlation_id === 'string'
        ? object.correlation_id
        : undefined;
  const string = (key: string) => (typeof object?.[key] === 'string' ? (object[key] as string) : undefined);
  const level = string('level');
  const message = string('message');
  const errorName = string('errorName');
  const errorMessage = string('errorMessage');
  if (step === undefined && token === undefined) return undefined;
  return {
    ...(step ? { step } : {}),
    ...(token ? { token } : {}),
    ...(level ? { level } : {}),
    ...(message ? { message } : {}),
    ...(errorName ? { errorName } : {}),
    ...(errorMessage ? { errorMessage } : {}),
  };
}

/** Whether a line is our protocol core's report of a failed step. */
export function isStepFailure(line: RotationLogLine): boolean {
  return line.message === STEP_FAILED_MESSAGE && (line.level === undefined || line.level === 'ERROR');
}
