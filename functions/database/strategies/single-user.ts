import {
  OutsideWriteError,
  type OutsideWriteResolution,
  type RotationContext,
  type RotationStrategy,
  type SecretVersion,
  Stage,
} from '../../rotation';
import { DatabaseAuthenticationError, DatabaseStatementError } from '../errors';
import { type DatabaseSecret, parseDatabaseSecret, withCredentials } from '../secret';
import {
  type DatabaseStrategyDependencies,
  loginAfterChange,
  parse,
  requireSameTarget,
  tryLogin,
  using,
  withStrictestTransport,
} from './common';

/** Deprecated versions setSecret tries, newest first, when no labelled version logs in. */
const DEPRECATED_VERSIONS_TRIED = 5;

/** Fields that say which account at which server: an outside write that changes them cannot be merged. */
const TARGET_FIELDS: readonly string[] = ['engine', 'host', 'port', 'username', 'dbname'];

/** Fields, the password aside, whose values differ between two secrets' JSON. */
function changedFields(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  keys.delete('password');
  return [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort();
}

/**
 * The user changes its own password. No master credentials needed; consumers see one window, between
 * setSecret and finishSecret, when only AWSPENDING works (the client library retries with it).
 */
export class SingleUserStrategy implements RotationStrategy {
  readonly kind = 'database';
  readonly name = 'single-user';

  constructor(private readonly deps: DatabaseStrategyDependencies) {}

  async createPending(context: RotationContext, current: SecretVersion): Promise<string> {
    const secret = parse(context, current, Stage.CURRENT);
    const password = await context.passwords.generate();
    return withCredentials(secret, secret.username, password);
  }

  async set(context: RotationContext, pendingVersion: SecretVersion): Promise<void> {
    const pending = parse(context, pendingVersion, Stage.PENDING);
    const current = parse(context, await context.secrets.current(), Stage.CURRENT);
    requireSameTarget(context, pending, current, Stage.CURRENT, ['username', 'host', 'port', 'family']);
    const previousVersion = await context.secrets.previous();
    const previous = previousVersion ? parse(context, previousVersion, Stage.PREVIOUS) : undefined;
    if (previous)
      requireSameTarget(context, pending, previous, Stage.PREVIOUS, ['username', 'host', 'port', 'family']);

    // Every login uses the strictest transport of the versions involved: a fallback to AWSPREVIOUS never
    // sends the new password over a connection weaker than AWSPENDING's or AWSCURRENT's.
    const strict = (secret: DatabaseSecret) => withStrictestTransport(secret, pending, current, previous);
    const pendingTarget = strict(pending);

    // One login in the usual case: with AWSCURRENT, which then changes the password. The user has one
    // password, so AWSCURRENT logging in means AWSPENDING cannot yet; when AWSCURRENT is refused, AWSPENDING
    // logging in means a previous run changed it already (a crash after the change). testSecret proves the
    // new password with a login of its own, so setSecret does not log in again after a change that succeeded.
    for (const [label, credentials] of [
      [Stage.CURRENT, current],
      [Stage.PENDING, pending],
      [Stage.PREVIOUS, previous],
    ] as const) {
      if (!credentials) continue;
      const session = await tryLogin(this.deps, context, strict(credentials), label);
      if (!session) {
        context.logger.info('Login refused', { credentials: label });
        continue;
      }
      if (label === Stage.PENDING) {
        await using(session, (s) => s.check());
        context.logger.info('The pending password already works; setSecret has nothing to do');
        return;
      }
      const form = await using(session, (s) => s.changeOwnPassword(pending.password)).catch(
        (error: unknown) => {
          // Another invocation changing the same password at the same moment (PostgreSQL: `tuple concurrently
          // updated`): the login below tells whether the pending password is in place.
          if (error instanceof DatabaseStatementError && error.transient) {
            context.logger.warn('A concurrent change of the same password', { code: error.code });
            return undefined;
          }
          throw error;
        },
      );
      if (form) {
        context.logger.info('Changed the password', { loggedInWith: label, passwordSentAs: form });
        return;
      }
      await using(await loginAfterChange(this.deps, context, pendingTarget, Stage.PENDING), (s) => s.check());
      return;
    }
    // Every login failed. A duplicate invocation (a manual invoke racing the service's retry) may have
    // changed the password between our first attempt and the others: look again, within the usual bound,
    // at what the pending credentials can do before reporting a failure.
    const late = await loginAfterChange(this.deps, context, pendingTarget, Stage.PENDING).catch(
      (error: unknown) => {
        if (error instanceof DatabaseAuthenticationError) return undefined;
        throw error;
      },
    );
    if (late) {
      await using(late, (session) => session.check());
      context.logger.info('The pending password works now: another invocation changed it');
      return;
    }
    if (await this.#recoverFromDeprecated(context, pending, [current, previous])) return;
    throw new DatabaseAuthenticationError(pending.username, pending.host, {
      cause: new Error(
        'Neither the pending, the current nor the previous password logs in; nothing was changed',
      ),
    });
  }

  /**
   * Finding 13: an outside write can leave the only working password in a version this secret no longer
   * labels (a rotation interrupted after setSecret). Try the newest few such versions, for the same user at
   * the same server only, over the strictest TLS of the versions involved, and change the password from
   * there. Bounded: failed logins count against lockout policies.
   */
  async #recoverFromDeprecated(
    context: RotationContext,
    pending: DatabaseSecret,
    tried: ReadonlyArray<DatabaseSecret | undefined>,
  ): Promise<boolean> {
    const versions = (await context.secrets.deprecated?.(DEPRECATED_VERSIONS_TRIED)) ?? [];
    const seen = new Set([pending.password, ...tried.map((t) => t?.password)]);
    for (const version of versions) {
      let candidate: DatabaseSecret;
      try {
        candidate = parseDatabaseSecret(context.secretArn, version.versionId, version.secretString);
      } catch {
        continue;
      }
      const sameTarget = (['username', 'host', 'port', 'family'] as const).every(
        (f) => candidate[f] === pending[f],
      );
      if (!sameTarget || seen.has(candidate.password)) continue;
      seen.add(candidate.password);
      const credentials = { ...pending, password: candidate.password, ssl: pending.ssl || candidate.ssl };
      const session = await tryLogin(
        this.deps,
        context,
        credentials,
        `deprecated version ${version.versionId}`,
      );
      if (!session) continue;
      await using(session, (s) => s.changeOwnPassword(pending.password));
      context.logger.warn('Changed the password with the credentials of a version that had lost its labels', {
        versionId: version.versionId,
      });
      await using(await loginAfterChange(this.deps, context, pending, Stage.PENDING), (s) => s.check());
      return true;
    }
    return false;
  }

  /**
   * Finding 13: AWSCURRENT was written from outside after this rotation built its value (the operator's
   * edit), while the database already accepts only the pending password. Moving AWSCURRENT would drop the
   * edit; keeping it would leave AWSCURRENT failing to log in. Keep both: the edit's fields with the pending
   * password. An edit that names another account or server cannot take this password: refuse, loudly.
   */
  async reconcileOutsideWrite(
    context: RotationContext,
    versions: { readonly current: SecretVersion; readonly pending: SecretVersion },
  ): Promise<OutsideWriteResolution> {
    const pending = parse(context, versions.pending, Stage.PENDING);
    let current: DatabaseSecret;
    try {
      current = parse(context, versions.current, Stage.CURRENT);
    } catch (error) {
      throw new OutsideWriteError(
        context.secretArn,
        context.token,
        versions.current.versionId,
        `AWSCURRENT (version ${versions.current.versionId}) of secret ${context.secretArn} is not a valid database ` +
          `secret; the database accepts the password of version ${context.token} (AWSPENDING). Nothing was moved. ` +
          `Put a valid value with that password as AWSCURRENT, or move AWSCURRENT to ${context.token}, then retry.`,
        { cause: error },
      );
    }
    const changed = changedFields(current.raw, pending.raw);
    if (changed.length === 0) return { action: 'move' };
    const target = changed.filter((f) => TARGET_FIELDS.includes(f));
    if (target.length > 0) {
      throw new OutsideWriteError(
        context.secretArn,
        context.token,
        versions.current.versionId,
        `AWSCURRENT (version ${versions.current.versionId}) of secret ${context.secretArn} was written during this ` +
          `rotation and changes ${target.join(', ')}: the new password of version ${context.token} (AWSPENDING), ` +
          `which the database now requires for ${pending.username}@${pending.host}, cannot be carried over. ` +
          'Nothing was moved. Either put your edit again with the password from AWSPENDING, or move AWSCURRENT to ' +
          `${context.token} if your edit can be dropped; then retry the rotation.`,
      );
    }
    if (current.password === pending.password) return { action: 'keep-current' };
    const secretString = JSON.stringify({ ...current.raw, password: pending.password });
    // The edit's own settings (TLS among them) with the new password: prove that it logs in before it is put.
    const merged = parseDatabaseSecret(context.secretArn, Stage.CURRENT, secretString);
    const session = await tryLogin(this.deps, context, merged, 'the edit with the new password');
    if (!session) {
      throw new OutsideWriteError(
        context.secretArn,
        context.token,
        versions.current.versionId,
        `AWSCURRENT (version ${versions.current.versionId}) of secret ${context.secretArn} was written during this ` +
          `rotation; with the new password of version ${context.token} (AWSPENDING) its settings do not log in. ` +
          'Nothing was moved. Check the edit, put it again with the password from AWSPENDING, then retry.',
      );
    }
    await using(session, (s) => s.check());
    return { action: 'replace', secretString, keptFields: changed };
  }

  async test(context: RotationContext, pendingVersion: SecretVersion): Promise<void> {
    const pending = parse(context, pendingVersion, Stage.PENDING);
    // Only the pending version's own `ssl`: testSecret also runs for RotateImmediately=false, and reads
    // nothing else.
    await using(await loginAfterChange(this.deps, context, pending, Stage.PENDING), (s) => s.check());
  }
}
