import {
  InvalidSecretValueError,
  type RotationContext,
  type RotationStrategy,
  type SecretVersion,
  Stage,
} from '../../rotation';
import type { DatabaseEngine, UserPair } from '../engines/engine';
import { CredentialMismatchError } from '../errors';
import { type DatabaseSecret, parseDatabaseSecret, withCredentials } from '../secret';
import {
  type DatabaseStrategyDependencies,
  loginAfterChange,
  parse,
  requireSameTarget,
  tryLogin,
  using,
} from './common';

const SUFFIX = '_clone';

/**
 * Two users take turns: each rotation sets a new password on the user that is not current, so the
 * credentials consumers hold keep working until the next rotation. The first rotation creates
 * `<user>_clone` with the user's privileges, through the master secret named by `masterarn`.
 */
export class AlternatingUsersStrategy implements RotationStrategy {
  readonly kind = 'database';
  readonly name = 'alternating-users';

  constructor(private readonly deps: DatabaseStrategyDependencies) {}

  async createPending(context: RotationContext, currentVersion: SecretVersion): Promise<string> {
    const current = parse(context, currentVersion, Stage.CURRENT);
    requireMaster(context, current);
    const previousVersion = await context.secrets.previous();
    const previous = previousVersion ? tolerantParse(context, previousVersion) : undefined;
    const engine = this.deps.engineFor(current.family);
    const pair = userPair(engine, current.username, previous?.username);
    const password = await context.passwords.generate();
    return withCredentials(current, pair.pending, password);
  }

  async set(context: RotationContext, pendingVersion: SecretVersion): Promise<void> {
    const pending = parse(context, pendingVersion, Stage.PENDING);
    const current = parse(context, await context.secrets.current(), Stage.CURRENT);
    requireSameTarget(context, pending, current, Stage.CURRENT, ['host', 'port', 'family', 'dbname']);
    const engine = this.deps.engineFor(current.family);
    const pair = userPair(engine, current.username, pending.username);
    if (pair.pending !== pending.username) {
      throw new CredentialMismatchError(
        `Secret ${context.secretArn}: AWSPENDING user is not the alternate of the AWSCURRENT user; refusing to rotate`,
      );
    }
    const master = parseDatabaseSecret(
      context.secretArn,
      'master secret',
      (await context.secrets.other(requireMaster(context, current))).secretString,
    );
    if (master.host !== current.host || master.port !== current.port || master.family !== current.family) {
      throw new CredentialMismatchError(
        `Secret ${context.secretArn}: the master secret points at another database (host, port or engine differ)`,
      );
    }
    const admin = await tryLogin(this.deps, context, master, 'master');
    if (!admin) {
      throw new CredentialMismatchError(
        `Secret ${context.secretArn}: the database refused the master credentials`,
      );
    }
    await using(admin, async (session) => {
      if (!(await session.userExists(pending.username))) {
        await session.createUserLike(current.username, pending.username, pending.password);
        context.logger.info('Created the alternate user');
      } else {
        // Setting the same password again is harmless; probing first would fail anyway while the user
        // still lacks its privileges (after a crash between CREATE USER and the grants).
        await session.setPassword(pending.username, pending.password);
        context.logger.info('Set the password of the alternate user');
      }
      await session.alignPrivileges(pair);
    });
    // testSecret proves the pending user's login (with retries for propagation); a login here would repeat it.
  }

  async test(context: RotationContext, pendingVersion: SecretVersion): Promise<void> {
    const pending = parse(context, pendingVersion, Stage.PENDING);
    await using(await loginAfterChange(this.deps, context, pending, Stage.PENDING), (s) => s.check());
  }
}

function requireMaster(context: RotationContext, secret: DatabaseSecret): string {
  if (!secret.masterarn) {
    throw new InvalidSecretValueError(
      context.secretArn,
      Stage.CURRENT,
      'masterarn',
      'is missing: the alternating-users strategy needs the ARN of a master secret that can create users',
    );
  }
  return secret.masterarn;
}

function tolerantParse(context: RotationContext, version: SecretVersion): DatabaseSecret | undefined {
  try {
    return parseDatabaseSecret(context.secretArn, Stage.PREVIOUS, version.secretString);
  } catch {
    context.logger.warn('AWSPREVIOUS is not a valid database secret; ignoring it');
    return undefined;
  }
}

/** The alternate of `base`: `<base>_clone`, the base shortened when the engine's limit requires. */
export function cloneName(engine: DatabaseEngine, base: string): string {
  const name = `${base}${SUFFIX}`;
  return engine.fits(name) ? name : `${engine.truncate(base, SUFFIX.length)}${SUFFIX}`;
}

/**
 * Which user is the base and which the clone, and which one the rotation switches to. `other` is the user
 * of the previous (or pending) version when known: it resolves shortened names unambiguously.
 */
export function userPair(engine: DatabaseEngine, current: string, other: string | undefined): UserPair {
  if (other !== undefined && other !== current) {
    if (cloneName(engine, other) === current) return { base: other, clone: current, current, pending: other };
    if (cloneName(engine, current) === other) return { base: current, clone: other, current, pending: other };
  }
  if (current.endsWith(SUFFIX) && current.length > SUFFIX.length) {
    // Rotated before by a function that kept no previous version (or by AWS's template): strip the suffix.
    const base = current.slice(0, -SUFFIX.length);
    return { base, clone: current, current, pending: base };
  }
  const clone = cloneName(engine, current);
  return { base: current, clone, current, pending: clone };
}
