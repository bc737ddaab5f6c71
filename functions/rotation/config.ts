import { DEFAULT_EXCLUDE_CHARACTERS, DEFAULT_PASSWORD_LENGTH } from './constants';
import { ConfigurationError } from './errors';

/** Environment variables, as `process.env` holds them. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Configuration shared by every rotation function. */
export interface RotationConfig {
  /** EventBridge bus (name or ARN) that receives our events; `undefined` publishes nothing. */
  readonly eventBusName?: string;
  /** Length of generated passwords. */
  readonly passwordLength: number;
  /** Characters never used in generated passwords. */
  readonly excludeCharacters: string;
}

/**
 * Reads the shared configuration from environment variables, validated at cold start:
 * - `EVENT_BUS_NAME`: bus name or ARN for our events (optional; unset means no events).
 * - `PASSWORD_LENGTH`: integer from 8 to 4096 (default 32).
 * - `EXCLUDE_CHARACTERS`: characters never used in generated passwords (default `/@"'\`).
 *
 * @throws ConfigurationError naming the variable and the bad value.
 */
export function loadRotationConfig(env: Environment = process.env): RotationConfig {
  return {
    eventBusName: optionalString(env, 'EVENT_BUS_NAME'),
    passwordLength: integer(env, 'PASSWORD_LENGTH', { min: 8, max: 4096, default: DEFAULT_PASSWORD_LENGTH }),
    excludeCharacters: env.EXCLUDE_CHARACTERS ?? DEFAULT_EXCLUDE_CHARACTERS,
  };
}

/** A trimmed, non-empty variable, or `undefined` when unset or blank. */
export function optionalString(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** A variable that must be set. */
export function requiredString(env: Environment, name: string): string {
  const value = optionalString(env, name);
  if (value === undefined) {
    throw new ConfigurationError(`Environment variable ${name} is required but not set`);
  }
  return value;
}

/** An integer variable within bounds, or its default when unset. */
export function integer(
  env: Environment,
  name: string,
  options: { readonly min: number; readonly max: number; readonly default: number },
): number {
  const raw = optionalString(env, name);
  if (raw === undefined) return options.default;
  if (!/^-?\d+$/.test(raw)) {
    throw new ConfigurationError(`Environment variable ${name} must be an integer, got '${raw}'`);
  }
  const value = Number(raw);
  if (value < options.min || value > options.max) {
    throw new ConfigurationError(
      `Environment variable ${name} must be between ${options.min} and ${options.max}, got ${value}`,
    );
  }
  return value;
}

/** A boolean variable (`true`/`false`, `1`/`0`, `yes`/`no`), or its default when unset. */
export function boolean(env: Environment, name: string, defaultValue: boolean): boolean {
  const raw = optionalString(env, name)?.toLowerCase();
  if (raw === undefined) return defaultValue;
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw new ConfigurationError(`Environment variable ${name} must be true or false, got '${raw}'`);
}

/** One of a fixed set of values, or its default when unset. */
export function oneOf<const T extends string>(
  env: Environment,
  name: string,
  allowed: readonly T[],
  defaultValue: T,
): T {
  const raw = optionalString(env, name);
  if (raw === undefined) return defaultValue;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigurationError(
      `Environment variable ${name} must be one of ${allowed.join(', ')}, got '${raw}'`,
    );
  }
  return raw as T;
}
