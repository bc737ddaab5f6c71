import { type RotationContext, type RotationStrategy, type SecretVersion, Stage } from '../../rotation';
import { DatabaseAuthenticationError, DatabaseStatementError } from '../errors';
import { type DatabaseSecret, withCredentials } from '../secret';
import {
  type DatabaseStrategyDependencies,
  loginAfterChange,
  parse,
  requireSameTarget,
  tryLogin,
  using,
  withStrictestTransport,
} from './common';

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
    throw new DatabaseAuthenticationError(pending.username, pending.host, {
      cause: new Error(
        'Neither the pending, the current nor the previous password logs in; nothing was changed',
      ),
    });
  }

  async test(context: RotationContext, pendingVersion: SecretVersion): Promise<void> {
    const pending = parse(context, pendingVersion, Stage.PENDING);
    // Only the pending version's own `ssl`: testSecret also runs for RotateImmediately=false, and reads
    // nothing else.
    await using(await loginAfterChange(this.deps, context, pending, Stage.PENDING), (s) => s.check());
  }
}
