import { InvalidEventError } from '../rotation';
import { SweepAction } from './constants';

/** The function's own invocation: revoke the keys whose grace period is over (or all older keys). */
export interface SweepEvent {
  readonly secretId: string;
  /** Revoke every key but the current and pending ones now, whatever their deadlines. */
  readonly emergency: boolean;
}

/**
 * Whether an invocation event is a sweep rather than a rotation step: it has an `Action` field. Secrets
 * Manager's events never do.
 */
export function isSweepEvent(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) && 'Action' in raw;
}

/**
 * Validates a sweep event: `{ "Action": "sweep", "SecretId": "<arn or name>", "Emergency": true|false }`
 * (`Emergency` optional, default false).
 *
 * @throws InvalidEventError naming the missing or bad field; nothing has been touched at that point.
 */
export function parseSweepEvent(raw: unknown): SweepEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidEventError('Sweep event must be an object with Action and SecretId');
  }
  const event = raw as Record<string, unknown>;
  if (event.Action !== SweepAction.SWEEP) {
    const got = typeof event.Action === 'string' ? `'${event.Action.slice(0, 64)}'` : typeof event.Action;
    throw new InvalidEventError(`Sweep event field 'Action' must be '${SweepAction.SWEEP}', got ${got}`);
  }
  const secretId = event.SecretId;
  if (secretId === undefined || secretId === null) {
    throw new InvalidEventError("Sweep event is missing required field 'SecretId'");
  }
  if (typeof secretId !== 'string' || secretId.trim() === '') {
    throw new InvalidEventError("Sweep event field 'SecretId' must be a non-empty string");
  }
  const emergency = event.Emergency;
  if (emergency !== undefined && typeof emergency !== 'boolean') {
    throw new InvalidEventError("Sweep event field 'Emergency' must be true or false when present");
  }
  const unknown = Object.keys(event).filter((key) => !['Action', 'SecretId', 'Emergency'].includes(key));
  if (unknown.length > 0) {
    throw new InvalidEventError(
      `Sweep event has unknown field(s) ${unknown.map((k) => `'${k.slice(0, 32)}'`).join(', ')}; expected Action, SecretId, Emergency`,
    );
  }
  return { secretId, emergency: emergency === true };
}
