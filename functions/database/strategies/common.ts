import type { RotationContext, SecretVersion } from '../../rotation';
import type { ConnectionTarget, DatabaseEngine, DatabaseSession } from '../engines/engine';
import {
  CredentialMismatchError,
  DatabaseAuthenticationError,
  DatabaseStatementError,
  DatabaseUnavailableError,
} from '../errors';
import { withRetry } from '../retry';
import { type DatabaseSecret, type EngineFamily, parseDatabaseSecret } from '../secret';

/** What the database strategies are built from. */
export interface DatabaseStrategyDependencies {
  /** The engine for a family of databases. */
  readonly engineFor: (family: EngineFamily) => DatabaseEngine;
  /** Attempts for transient failures and password propagation lag. */
  readonly connectAttempts: number;
  /** Delay before the second attempt; doubles each time, with jitter, up to `maxDelayMs`. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Sleeps; injectable so tests do not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The connection target of a secret. */
export function targetOf(secret: DatabaseSecret): ConnectionTarget {
  return {
    host: secret.host,
    port: secret.port,
    username: secret.username,
    password: secret.password,
    ssl: secret.ssl,
    ...(secret.dbname ? { database: secret.dbname } : {}),
  };
}

/**
 * `secret` with the strictest transport of all the versions involved: TLS with verification as soon as
 * any one of them asks for it. Falling back to another version's credentials (AWSPREVIOUS after a refused
 * AWSCURRENT) must never send a password over a weaker connection than the pending version would use.
 */
export function withStrictestTransport(secret: DatabaseSecret, ...others: Array<DatabaseSecret | undefined>) {
  const ssl = secret.ssl || others.some((other) => other?.ssl === true);
  return ssl === secret.ssl ? secret : { ...secret, ssl };
}

/** Parses a version as a database secret; the stage names it in errors. */
export function parse(context: RotationContext, version: SecretVersion, stage: string): DatabaseSecret {
  return parseDatabaseSecret(context.secretArn, stage, version.secretString);
}

/**
 * Logs in, retrying transient failures with backoff. Returns `undefined` when the credentials are refused:
 * a refusal is an answer, not a reason to retry.
 */
export async function tryLogin(
  deps: DatabaseStrategyDependencies,
  context: RotationContext,
  secret: DatabaseSecret,
  label: string,
): Promise<DatabaseSession | undefined> {
  const engine = deps.engineFor(secret.family);
  try {
    return await withRetry(() => engine.connect(targetOf(secret)), retryOptions(deps, context, label, false));
  } catch (error) {
    if (error instanceof DatabaseAuthenticationError) return undefined;
    throw error;
  }
}

/**
 * Logs in with credentials that were just set: authentication failures are retried too, a bounded number
 * of times, because a new password can take a moment to reach every node (Aurora readers, proxies).
 */
export async function loginAfterChange(
  deps: DatabaseStrategyDependencies,
  context: RotationContext,
  secret: DatabaseSecret,
  label: string,
): Promise<DatabaseSession> {
  const engine = deps.engineFor(secret.family);
  return withRetry(() => engine.connect(targetOf(secret)), retryOptions(deps, context, label, true));
}

/**
 * Runs `work`, again from the start (a new session and fresh reads) when a statement lost a race with another
 * invocation changing the same account, a bounded number of times: a duplicate setSecret converges.
 */
export async function withConcurrencyRetry<T>(
  deps: DatabaseStrategyDependencies,
  context: RotationContext,
  work: () => Promise<T>,
): Promise<T> {
  return withRetry(work, {
    attempts: deps.connectAttempts,
    baseDelayMs: deps.baseDelayMs ?? 250,
    maxDelayMs: deps.maxDelayMs ?? 4000,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    retryable: (error: unknown) => error instanceof DatabaseStatementError && error.transient,
    onRetry: (error: unknown, attempt: number, delayMs: number) =>
      context.logger.warn('A concurrent change of the same account; running the change again', {
        attempt,
        delayMs,
        code: error instanceof DatabaseStatementError ? error.code : undefined,
      }),
  });
}

function retryOptions(
  deps: DatabaseStrategyDependencies,
  context: RotationContext,
  label: string,
  auth: boolean,
) {
  return {
    attempts: deps.connectAttempts,
    baseDelayMs: deps.baseDelayMs ?? 250,
    maxDelayMs: deps.maxDelayMs ?? 4000,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    retryable: (error: unknown) =>
      (error instanceof DatabaseUnavailableError && error.transient) ||
      (auth && error instanceof DatabaseAuthenticationError),
    onRetry: (error: unknown, attempt: number, delayMs: number) =>
      context.logger.warn('Retrying database login', {
        credentials: label,
        attempt,
        delayMs,
        errorName: error instanceof Error ? error.name : typeof error,
      }),
  };
}

/** Runs `work` with a session and always closes it. */
export async function using<T>(
  session: DatabaseSession,
  work: (session: DatabaseSession) => Promise<T>,
): Promise<T> {
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

/**
 * Refuses a rotation whose versions point at different databases or accounts: a secret must not be turned
 * against another account by editing one version.
 */
export function requireSameTarget(
  context: RotationContext,
  reference: DatabaseSecret,
  other: DatabaseSecret,
  otherStage: string,
  fields: ReadonlyArray<'username' | 'host' | 'port' | 'family' | 'dbname'>,
): void {
  for (const field of fields) {
    if (reference[field] !== other[field]) {
      throw new CredentialMismatchError(
        `Secret ${context.secretArn}: field '${field}' of ${otherStage} differs from AWSPENDING; refusing to rotate ` +
          'credentials of another account or database',
      );
    }
  }
}
