import {
  InvalidSecretValueError,
  type RotationContext,
  type RotationStrategy,
  type SecretVersion,
  Stage,
} from '../../rotation';
import type { DatabaseEngine, DatabaseSession, PairRecord, UserPair } from '../engines/engine';
import { CredentialMismatchError, UnverifiedUserPairError } from '../errors';
import { type DatabaseSecret, parseDatabaseSecret, withCredentials } from '../secret';
import {
  type DatabaseStrategyDependencies,
  loginAfterChange,
  parse,
  requireSameTarget,
  tryLogin,
  using,
  withConcurrencyRetry,
  withStrictestTransport,
} from './common';
import {
  checkPreviousUser,
  type PreviousUserCheckOptions,
  PreviousUserSessionsPolicy,
} from './previous-user';

const SUFFIX = '_clone';

/**
 * Two users take turns: each rotation sets a new password on the user that is not current, so the
 * credentials consumers hold keep working until the next rotation. The first rotation creates
 * `<user>_clone` with the user's privileges, through the master secret named by `masterarn`.
 */
export class AlternatingUsersStrategy implements RotationStrategy {
  readonly kind = 'database';
  readonly name = 'alternating-users';

  constructor(
    private readonly deps: DatabaseStrategyDependencies,
    /** Counting (and optionally refusing on) live sessions of the user whose password changes. */
    private readonly previousUser: PreviousUserCheckOptions = { policy: PreviousUserSessionsPolicy.REPORT },
  ) {}

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
    const pair = exactPair(engine, current.username, pending.username);
    if (!pair) {
      throw new UnverifiedUserPairError(
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
    await withConcurrencyRetry(this.deps, context, async () => {
      // The master session carries the new password too: never over a weaker transport than the secret's.
      const admin = await tryLogin(
        this.deps,
        context,
        withStrictestTransport(master, pending, current),
        'master',
      );
      if (!admin) {
        throw new CredentialMismatchError(
          `Secret ${context.secretArn}: the database refused the master credentials`,
        );
      }
      await using(admin, async (session) => {
        const record = await this.verifiedPair(
          context,
          session,
          pair,
          withStrictestTransport(current, pending),
        );
        if (!(await session.userExists(pending.username))) {
          if (pending.username !== record.clone) {
            throw new UnverifiedUserPairError(
              `Secret ${context.secretArn}: the AWSPENDING user does not exist at the database; refusing to create it`,
            );
          }
          await session.createAlternate(record, pending.password);
          context.logger.info('Created the alternate user');
        } else {
          // The pending user's password changes here and only here: whatever must hold before it changes
          // (no session of the pending user still being in use) is checked just before this line.
          await checkPreviousUser(
            context,
            session,
            pending.username,
            await versionOfUser(context, pending.username),
            this.previousUser,
          );
          // Setting the same password again is harmless; probing first would fail anyway while the user
          // still lacks its privileges (after a crash between CREATE USER and the grants).
          const form = await session.setPassword(pending.username, pending.password);
          context.logger.info('Set the password of the alternate user', { passwordSentAs: form });
        }
        await session.alignPrivileges(pair);
      });
    });
    // testSecret proves the pending user's login (with retries for propagation); a login here would repeat it.
  }

  /**
   * The pair as the database records it, checked before any change: recorded for this secret and these two
   * users; or, on the first rotation, a base user whose credentials AWSCURRENT holds (proved by logging in)
   * and a clone that does not exist yet, recorded now. Anything else is refused, and nothing is changed.
   */
  private async verifiedPair(
    context: RotationContext,
    session: DatabaseSession,
    pair: UserPair,
    current: DatabaseSecret,
  ): Promise<PairRecord> {
    const expected: PairRecord = { secretArn: context.secretArn, base: pair.base, clone: pair.clone };
    const recorded = await session.pairRecord(pair.clone);
    if (recorded) {
      if (recorded.secretArn !== expected.secretArn || recorded.base !== expected.base) {
        throw new UnverifiedUserPairError(
          `Secret ${context.secretArn}: the database records user '${pair.clone}' as the alternate of ` +
            `'${recorded.base}' for another secret or user; refusing to rotate`,
        );
      }
      return recorded;
    }
    if (await session.userExists(pair.clone)) {
      throw new UnverifiedUserPairError(
        `Secret ${context.secretArn}: user '${pair.clone}' exists but the database holds no record that this ` +
          `function created it as the alternate of '${pair.base}' for this secret; refusing to rotate. If the ` +
          'pair is genuine, record it as docs/security.md (Database rotation) describes',
      );
    }
    if (current.username !== pair.base) {
      throw new UnverifiedUserPairError(
        `Secret ${context.secretArn}: AWSCURRENT names user '${current.username}', which has no pair record; ` +
          'refusing to rotate',
      );
    }
    // First rotation: cloning gives the clone the base user's privileges, so the secret must prove it
    // already holds the base user's credentials; a secret edited to name another account proves nothing.
    const proof = await tryLogin(this.deps, context, current, Stage.CURRENT);
    if (!proof) {
      throw new UnverifiedUserPairError(
        `Secret ${context.secretArn}: the AWSCURRENT credentials of user '${current.username}' do not log in; ` +
          'refusing to create its alternate user',
      );
    }
    await using(proof, (s) => s.check());
    return expected;
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

/** The AWSPREVIOUS version id when that version holds `username` (the user about to change). */
async function versionOfUser(context: RotationContext, username: string): Promise<string | undefined> {
  const previous = await context.secrets.previous();
  return previous && tolerantParse(context, previous)?.username === username ? previous.versionId : undefined;
}

function tolerantParse(context: RotationContext, version: SecretVersion): DatabaseSecret | undefined {
  try {
    return parseDatabaseSecret(context.secretArn, Stage.PREVIOUS, version.secretString);
  } catch {
    context.logger.warn('AWSPREVIOUS is not a valid database secret; ignoring it');
    return undefined;
  }
}

/**
 * The pair made of `current` and `other` when one is the other's clone name, else `undefined`. A
 * proposal only: setSecret checks it against the database's pair record.
 */
export function exactPair(engine: DatabaseEngine, current: string, other: string): UserPair | undefined {
  if (other === current) return undefined;
  if (cloneName(engine, other) === current) return { base: other, clone: current, current, pending: other };
  if (cloneName(engine, current) === other) return { base: current, clone: other, current, pending: other };
  return undefined;
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
  const exact = other === undefined ? undefined : exactPair(engine, current, other);
  if (exact) return exact;
  if (current.endsWith(SUFFIX) && current.length > SUFFIX.length) {
    // Rotated before by a function that kept no previous version (or by AWS's template): strip the suffix.
    const base = current.slice(0, -SUFFIX.length);
    return { base, clone: current, current, pending: base };
  }
  const clone = cloneName(engine, current);
  return { base: current, clone, current, pending: clone };
}
