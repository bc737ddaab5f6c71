import type { RotationKind } from './kind';
import type { SecretState } from './secrets';

/** Whether AWSCURRENT may go back to AWSPREVIOUS, and why. */
export interface RollbackDecision {
  readonly allowed: boolean;
  /** One sentence an operator can act on; never a secret value. */
  readonly reason: string;
}

/** What a policy may look at. */
export interface RollbackPolicyContext {
  readonly secret: SecretState;
  readonly currentVersionId: string;
  readonly previousVersionId: string;
  /** The AWSCURRENT value parsed as JSON (undefined when not JSON). Read only when called; never printed. */
  readonly currentValue: () => Promise<unknown>;
  /** The AWSPREVIOUS value, likewise. */
  readonly previousValue: () => Promise<unknown>;
  readonly now: Date;
}

/** Decides for one kind and strategy. */
export type RollbackPolicy = (context: RollbackPolicyContext) => RollbackDecision | Promise<RollbackDecision>;

const allow = (reason: string): RollbackDecision => ({ allowed: true, reason });
const refuse = (reason: string): RollbackDecision => ({ allowed: false, reason });

/** Tag prefix of an API key version's revocation deadline (functions/api-key/constants.ts, `ApiKeyTag`). */
export const API_KEY_REVOKE_AFTER_TAG = 'secret-rotation:api-key:revoke-after:';
/** Tag an operator sets to revoke every API key but the current one at once. */
export const API_KEY_EMERGENCY_TAG = 'secret-rotation:api-key:emergency';

/**
 * The JWT policy. The secret's value is a key set (functions/jwt/key-set.ts) whose `current` key signs; the
 * function publishes the public keys of the AWSCURRENT key set. Rolling back makes the AWSPREVIOUS set's
 * signing key sign again: safe while that key is still in the AWSCURRENT set (published), refused once a
 * rotation dropped it (its retention ended).
 */
export const jwtPolicy: RollbackPolicy = async (context) => {
  const signing = signingKid(await context.previousValue());
  if (!signing) return refuse('the AWSPREVIOUS value is not a JWT key set with a current signing key');
  if (!keyIds(await context.currentValue()).has(signing)) {
    return refuse(
      `the previous signing key (kid ${signing}) has been dropped from the published key set: tokens it signs would not verify`,
    );
  }
  return allow(
    `the previous signing key (kid ${signing}) is still published, so tokens it signs keep verifying`,
  );
};

/**
 * The API key policy. The function records each superseded key's revocation deadline in a tag
 * (`secret-rotation:api-key:revoke-after:<versionId>`), revokes it once the deadline passed, and drops the
 * deadline of a version that became current again. Rolling back is safe while the deadline is ahead.
 */
export const apiKeyPolicy: RollbackPolicy = (context) => {
  const tags = context.secret.tags;
  if (tags[API_KEY_EMERGENCY_TAG] !== undefined) {
    return refuse(
      `an emergency revocation is requested (tag ${API_KEY_EMERGENCY_TAG}): the previous key is revoked or about to be`,
    );
  }
  const raw = tags[`${API_KEY_REVOKE_AFTER_TAG}${context.previousVersionId}`];
  if (raw === undefined) {
    return allow('no revocation is scheduled for the previous API key: it is still valid');
  }
  const deadline = Date.parse(raw);
  if (!Number.isNaN(deadline) && deadline <= context.now.getTime()) {
    return refuse(
      `the previous API key's grace period ended at ${raw}: it is revoked, or will be at the next sweep`,
    );
  }
  return allow(
    `the previous API key is not revoked: its grace period runs until ${raw}, and the function drops that deadline once the version is current again`,
  );
};

/**
 * Rollback policies by kind, then strategy (`*`: any strategy of the kind). A rollback is safe only when the
 * previous value still works at its target: a strategy that changed a password in place has made the
 * previous one useless, a strategy that keeps the previous credentials valid has not.
 */
export const ROLLBACK_POLICIES: Readonly<Record<string, Readonly<Record<string, RollbackPolicy>>>> = {
  database: {
    'single-user': () =>
      refuse(
        "single-user rotation changed the user's password at the database: the previous password no longer works there; rotate again instead",
      ),
    'rds-master': () =>
      refuse(
        'rds-master rotation changed the master password through the RDS API: the previous password no longer works; rotate again instead',
      ),
    'alternating-users': () =>
      allow(
        'alternating users: the previous user keeps its password at the database until the next rotation',
      ),
  },
  jwt: { '*': jwtPolicy },
  'api-key': { '*': apiKeyPolicy },
};

function keys(value: unknown): Array<{ kid?: unknown; state?: unknown }> {
  if (typeof value !== 'object' || value === null) return [];
  const list = (value as { keys?: unknown }).keys;
  return Array.isArray(list)
    ? list.filter((k): k is { kid?: unknown } => typeof k === 'object' && k !== null)
    : [];
}

function signingKid(value: unknown): string | undefined {
  const kid = keys(value).find((k) => k.state === 'current')?.kid;
  return typeof kid === 'string' ? kid : undefined;
}

function keyIds(value: unknown): Set<string> {
  return new Set(keys(value).flatMap((k) => (typeof k.kid === 'string' ? [k.kid] : [])));
}

/**
 * The decision for a secret of a known (or unknown) kind: unknown kinds and strategies are refused; a
 * strategy known only as one of several alternatives is allowed only when every alternative allows it.
 */
export async function decideRollback(
  kind: RotationKind,
  context: RollbackPolicyContext,
): Promise<RollbackDecision> {
  if (!kind.kind) {
    return refuse(
      'cannot tell how this secret is rotated: pass --strategy, or tag the secret secret-rotation:kind and secret-rotation:strategy',
    );
  }
  const policies = ROLLBACK_POLICIES[kind.kind];
  if (!policies) return refuse(`no rollback policy for kind '${kind.kind}'`);
  const any = policies['*'];
  if (any) return any(context);
  if (kind.strategy) {
    const policy = policies[kind.strategy];
    if (!policy) return refuse(`no rollback policy for ${kind.kind} strategy '${kind.strategy}'`);
    return policy(context);
  }
  if (kind.alternatives && kind.alternatives.length > 0) {
    const decisions = await Promise.all(
      kind.alternatives.map(
        async (strategy) => (await policies[strategy]?.(context)) ?? refuse(`unknown strategy ${strategy}`),
      ),
    );
    if (decisions.every((d) => d.allowed)) return allow(decisions[0]?.reason ?? '');
    if (decisions.every((d) => !d.allowed)) {
      return refuse(
        `it is rotated by ${kind.alternatives.join(' or ')}${kind.strategySource ? ` (from the ${kind.strategySource})` : ''}, and neither allows a rollback: ${decisions[0]?.reason}`,
      );
    }
    return refuse(`it depends on the strategy (${kind.alternatives.join(' or ')}): pass --strategy`);
  }
  return refuse(
    `the ${kind.kind} strategy is unknown: pass --strategy or tag the secret secret-rotation:strategy`,
  );
}
