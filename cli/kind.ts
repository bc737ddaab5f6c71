import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Stage } from '../functions/rotation/constants';
import type { FunctionInfo, FunctionInfoReader } from './aws';
import { UsageError } from './errors';
import type { SecretState } from './secrets';

/** Tag on a secret naming its kind of rotation: `database`, `jwt`, `api-key`. */
export const KIND_TAG = 'secret-rotation:kind';
/** Tag on a secret naming its strategy, e.g. `alternating-users`. */
export const STRATEGY_TAG = 'secret-rotation:strategy';

/** Kinds of secret the project rotates. */
export const KINDS = ['database', 'jwt', 'api-key'] as const;

/**
 * Our functions' `ROTATION_STRATEGY` values and their kinds, so that a function (or a tag) naming only the
 * strategy still tells its kind: functions/database/config.ts, functions/jwt/config.ts (`jwks`),
 * functions/api-key/constants.ts (the providers).
 */
export const STRATEGY_KINDS: Readonly<Record<string, string>> = {
  'single-user': 'database',
  'alternating-users': 'database',
  'rds-master': 'database',
  jwks: 'jwt',
  'api-gateway': 'api-key',
  http: 'api-key',
  'self-issued': 'api-key',
};

/** Where the kind or strategy came from, in the order they are consulted. */
export const KindSource = {
  FLAG: '--strategy',
  TAGS: 'tags',
  FUNCTION: 'rotation function environment',
  VALUE: 'secret value shape',
} as const;
export type KindSource = (typeof KindSource)[keyof typeof KindSource];

/** What is known of how a secret is rotated. */
export interface RotationKind {
  readonly kind?: string;
  readonly strategy?: string;
  /** When the strategy is one of several (a database secret without `masterarn`). */
  readonly alternatives?: readonly string[];
  readonly kindSource?: KindSource;
  readonly strategySource?: KindSource;
  /** Why a source could not be consulted (a missing permission, say). */
  readonly notes: readonly string[];
}

/** A kind and strategy as one source tells them. */
export interface KindHint {
  readonly kind?: string;
  readonly strategy?: string;
  readonly alternatives?: readonly string[];
}

/** `kind/strategy`, `kind`, or `-` for a table cell. */
export function kindLabel(kind: RotationKind): string {
  if (!kind.kind) return '-';
  if (kind.strategy) return `${kind.kind}/${kind.strategy}`;
  if (kind.alternatives) return `${kind.kind}/${kind.alternatives.join('|')}`;
  return kind.kind;
}

/**
 * Parses `--strategy`: a strategy that tells its kind (`single-user`, `alternating-users`, `rds-master`),
 * a kind (`database`, `jwt`, `api-key`), or `kind/strategy`.
 */
export function parseStrategyFlag(value: string, command?: string): KindHint {
  const [first, second] = value.split('/', 2) as [string, string | undefined];
  if (second !== undefined) {
    if (!(KINDS as readonly string[]).includes(first)) throw badStrategy(value, command);
    return { kind: first, strategy: second };
  }
  if ((KINDS as readonly string[]).includes(first)) return { kind: first };
  const kind = STRATEGY_KINDS[first];
  if (kind) return { kind, strategy: first };
  throw badStrategy(value, command);
}

function badStrategy(value: string, command?: string): UsageError {
  return new UsageError(
    `--strategy must be one of ${[...Object.keys(STRATEGY_KINDS), ...KINDS].join(', ')} or <kind>/<strategy>, got '${value}'`,
    command,
  );
}

function fromNames(kind: string | undefined, strategy: string | undefined): KindHint {
  const k = kind?.trim() || (strategy ? STRATEGY_KINDS[strategy.trim()] : undefined);
  const s = strategy?.trim() || undefined;
  return { ...(k ? { kind: k } : {}), ...(s ? { strategy: s } : {}) };
}

/** Kind and strategy from the secret's tags. */
export function fromTags(tags: Readonly<Record<string, string>>): KindHint {
  return fromNames(tags[KIND_TAG], tags[STRATEGY_TAG]);
}

/** Kind and strategy from a rotation function's environment (`ROTATION_KIND`, `ROTATION_STRATEGY`). */
export function fromFunctionEnvironment(info: FunctionInfo): KindHint {
  return fromNames(info.environment.ROTATION_KIND, info.environment.ROTATION_STRATEGY);
}

/**
 * Kind and strategy from the shape of the secret's value, never keeping or returning the value: a database
 * secret (engine, host, username, password) with `masterarn` is rotated by alternating users; without, by
 * single-user or rds-master.
 */
export function fromValueShape(secretString: string | undefined): KindHint {
  if (secretString === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    // The parser's message can quote the value: never surface it.
    return {};
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const v = value as Record<string, unknown>;
  const isDatabase = ['engine', 'host', 'username', 'password'].every((k) => typeof v[k] === 'string');
  if (!isDatabase) return {};
  if (typeof v.masterarn === 'string' && v.masterarn.length > 0) {
    return { kind: 'database', strategy: 'alternating-users' };
  }
  return { kind: 'database', alternatives: ['single-user', 'rds-master'] };
}

/** Caches a reader's answers per function, so a fleet sharing one rotation function costs one call. */
export function cachedFunctionInfo(reader: FunctionInfoReader): FunctionInfoReader {
  const cache = new Map<string, Promise<FunctionInfo>>();
  return {
    describe(functionArn) {
      let entry = cache.get(functionArn);
      if (!entry) {
        entry = reader.describe(functionArn);
        cache.set(functionArn, entry);
      }
      return entry;
    },
  };
}

/** What `resolveKind` may consult. */
export interface KindSources {
  /** The `--strategy` flag's value. */
  readonly flag?: string;
  /** Reads rotation functions' configuration; unset when it is not to be consulted. */
  readonly functions?: FunctionInfoReader;
  /** Reads AWSCURRENT to look at its shape; unset where values must not be read (`status`). */
  readonly secretsManager?: SecretsManagerClient;
  readonly command?: string;
}

/**
 * Determines how a secret is rotated from, in order: `--strategy`; the secret's tags `secret-rotation:kind`
 * and `secret-rotation:strategy`; the rotation function's environment (`ROTATION_KIND`,
 * `ROTATION_STRATEGY`); the shape of the current value. The first source to name a kind wins; a missing
 * strategy is taken from a later source that agrees on the kind.
 */
export async function resolveKind(state: SecretState, sources: KindSources): Promise<RotationKind> {
  const notes: string[] = [];
  let kind: string | undefined;
  let strategy: string | undefined;
  let alternatives: readonly string[] | undefined;
  let kindSource: KindSource | undefined;
  let strategySource: KindSource | undefined;
  const merge = (found: KindHint, source: KindSource) => {
    if (!found.kind) return;
    if (kind === undefined) {
      kind = found.kind;
      kindSource = source;
    }
    if (found.kind !== kind) return;
    if (strategy === undefined && found.strategy) {
      strategy = found.strategy;
      strategySource = source;
      alternatives = undefined;
    } else if (strategy === undefined && found.alternatives && alternatives === undefined) {
      alternatives = found.alternatives;
      strategySource = source;
    }
  };
  const done = () => kind !== undefined && strategy !== undefined;

  if (sources.flag) merge(parseStrategyFlag(sources.flag, sources.command), KindSource.FLAG);
  if (!done()) merge(fromTags(state.tags), KindSource.TAGS);
  if (!done() && state.rotationFunctionArn) {
    if (!sources.functions) {
      notes.push('rotation function not consulted');
    } else {
      try {
        merge(
          fromFunctionEnvironment(await sources.functions.describe(state.rotationFunctionArn)),
          KindSource.FUNCTION,
        );
      } catch (error) {
        notes.push(`could not read the rotation function's configuration (${errorName(error)})`);
      }
    }
  }
  if (!done() && sources.secretsManager) {
    try {
      const out = await sources.secretsManager.send(
        new GetSecretValueCommand({ SecretId: state.arn, VersionStage: Stage.CURRENT }),
      );
      merge(fromValueShape(out.SecretString), KindSource.VALUE);
    } catch (error) {
      notes.push(`could not read the current value to infer its kind (${errorName(error)})`);
    }
  }
  return {
    ...(kind !== undefined ? { kind } : {}),
    ...(strategy !== undefined ? { strategy } : {}),
    ...(alternatives !== undefined ? { alternatives } : {}),
    ...(kindSource !== undefined ? { kindSource } : {}),
    ...(strategySource !== undefined ? { strategySource } : {}),
    notes,
  };
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
