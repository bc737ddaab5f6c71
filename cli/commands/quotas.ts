import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * Secrets Manager's request quotas, per region and account, as AWS documents them ("AWS Secrets Manager
 * quotas", https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html, and the
 * 2022-11 and 2025-03 "increases API requests per second" announcements). None is adjustable. Operations in
 * one group share one bucket: every rotation of the account draws on the same 50 writes a second.
 */
export const SECRETS_MANAGER_QUOTAS = {
  /** PutSecretValue, UpdateSecret, UpdateSecretVersionStage and the replication calls: 50/s combined. */
  write: {
    ratePerSecond: 50,
    operations: [
      'PutSecretValue',
      'UpdateSecret',
      'UpdateSecretVersionStage',
      'RemoveRegionsFromReplication',
      'ReplicateSecretToRegion',
      'StopReplicationToReplica',
    ],
  },
  /** RotateSecret and CancelRotateSecret: 50/s combined. */
  rotate: { ratePerSecond: 50, operations: ['RotateSecret', 'CancelRotateSecret'] },
  /** TagResource and UntagResource: 50/s combined. */
  tag: { ratePerSecond: 50, operations: ['TagResource', 'UntagResource'] },
  /** GetSecretValue: 10,000/s (raised from 5,000 in 2025-03). */
  getValue: { ratePerSecond: 10_000, operations: ['GetSecretValue'] },
  /** DescribeSecret: 40,000/s (raised in 2025-03). */
  describe: { ratePerSecond: 40_000, operations: ['DescribeSecret'] },
  /** BatchGetSecretValue: 100/s. */
  batchGet: { ratePerSecond: 100, operations: ['BatchGetSecretValue'] },
  /** ListSecrets: 100/s (2022-11). */
  list: { ratePerSecond: 100, operations: ['ListSecrets'] },
  /** The resource-policy calls: 50/s combined. */
  policy: {
    ratePerSecond: 50,
    operations: ['DeleteResourcePolicy', 'GetResourcePolicy', 'PutResourcePolicy', 'ValidateResourcePolicy'],
  },
} as const satisfies Readonly<Record<string, QuotaGroup>>;

/** The name of a documented quota group. */
export type QuotaGroupName = keyof typeof SECRETS_MANAGER_QUOTAS;

/** One quota: a rate shared by a set of operations. */
export interface QuotaGroup {
  readonly ratePerSecond: number;
  readonly operations: readonly string[];
}

/**
 * Every operation not in a documented group (GetRandomPassword, ListSecretVersionIds, CreateSecret, ...)
 * is paced on its own at this rate. AWS publishes no figure for them; 50/s is the lowest documented rate,
 * so a pacer that assumes it never exceeds a real quota.
 */
export const UNLISTED_OPERATION_RATE = 50;

/** The group an operation counts against, or `undefined` for an unlisted one. */
export function quotaGroupOf(operation: string): QuotaGroupName | undefined {
  for (const [name, group] of Object.entries(SECRETS_MANAGER_QUOTAS)) {
    if ((group.operations as readonly string[]).includes(operation)) return name as QuotaGroupName;
  }
  return undefined;
}

/**
 * The quotas scaled by `factor` (0 < factor ≤ 1): a share of the account's quota for this tool, or the
 * bench's model of them on a machine too small to serve the real rates.
 */
export function scaledQuotas(factor: number): Record<QuotaGroupName, QuotaGroup> {
  if (!(factor > 0 && factor <= 1)) throw new RangeError(`quota scale must be in (0, 1], got ${factor}`);
  const out = {} as Record<QuotaGroupName, QuotaGroup>;
  for (const [name, group] of Object.entries(SECRETS_MANAGER_QUOTAS)) {
    out[name as QuotaGroupName] = { ...group, ratePerSecond: group.ratePerSecond * factor };
  }
  return out;
}

/** Clock and sleep, injectable for tests. */
export interface PacerClock {
  /** Milliseconds since an arbitrary origin. */
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

/**
 * Paces requests so that no quota group is ever exceeded: one token bucket per group (and one per unlisted
 * operation), each refilling at the group's rate and holding `burst` tokens (2 by default: any service bucket
 * holds at least that, and it lets a request that woke late be followed at once, so late timers on a busy
 * machine do not lower the rate). The bucket is checked against the time requests actually leave (a GCRA),
 * so a stalled process that wakes many waiters at once still sends no more than the bucket allows. Waiters
 * are queued first come, first served.
 */
export class QuotaPacer {
  readonly #groups: Readonly<Record<string, QuotaGroup>>;
  readonly #unlistedRate: number;
  readonly #clock: PacerClock;
  readonly #burst: number;
  /** bucket name → theoretical arrival time of the queue (orders the waiters). */
  readonly #queued = new Map<string, number>();
  /** bucket name → theoretical arrival time of the requests actually sent. */
  readonly #sentTat = new Map<string, number>();
  /** Requests paced, per bucket. */
  readonly sent: Record<string, number> = {};
  /** Milliseconds spent waiting, per bucket. */
  readonly waitedMs: Record<string, number> = {};

  constructor(
    groups: Readonly<Record<string, QuotaGroup>> = SECRETS_MANAGER_QUOTAS,
    clock: PacerClock = {
      now: () => performance.now(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    },
    unlistedRate = UNLISTED_OPERATION_RATE,
    burst = 2,
  ) {
    for (const [name, group] of Object.entries(groups)) {
      if (!(group.ratePerSecond > 0)) throw new RangeError(`quota ${name}: rate must be positive`);
    }
    if (!(Number.isInteger(burst) && burst >= 1))
      throw new RangeError(`burst must be a whole number ≥ 1, got ${burst}`);
    this.#groups = groups;
    this.#clock = clock;
    this.#unlistedRate = unlistedRate;
    this.#burst = burst;
  }

  /** The bucket an operation draws from and its rate. */
  bucketOf(operation: string): { readonly name: string; readonly ratePerSecond: number } {
    for (const [name, group] of Object.entries(this.#groups)) {
      if (group.operations.includes(operation)) return { name, ratePerSecond: group.ratePerSecond };
    }
    return { name: `other:${operation}`, ratePerSecond: this.#unlistedRate };
  }

  /** Waits until `operation` may be sent without exceeding its quota, and takes its token. */
  async acquire(operation: string): Promise<void> {
    const { name, ratePerSecond } = this.bucketOf(operation);
    const interval = 1000 / ratePerSecond;
    const tolerance = (this.#burst - 1) * interval;
    const asked = this.#clock.now();
    // The queue: each waiter's turn is reserved before it sleeps, so concurrent callers keep their order.
    const queued = this.#queued.get(name) ?? asked;
    const turn = Math.max(asked, queued - tolerance);
    this.#queued.set(name, Math.max(queued, turn) + interval);
    if (turn > asked) await this.#clock.sleep(turn - asked);
    // The bucket, on actual send times: a waiter that woke with others after a stall waits its token.
    for (;;) {
      const now = this.#clock.now();
      const tat = this.#sentTat.get(name) ?? now;
      if (now >= tat - tolerance) {
        this.#sentTat.set(name, Math.max(tat, now) + interval);
        break;
      }
      await this.#clock.sleep(tat - tolerance - now);
    }
    this.sent[name] = (this.sent[name] ?? 0) + 1;
    const waited = this.#clock.now() - asked;
    if (waited > 0) this.waitedMs[name] = (this.waitedMs[name] ?? 0) + waited;
  }
}

/**
 * Makes every request of `client` wait for its quota's slot in `pacer` first, retries included. The wait is
 * the last step before the request goes on the wire (after the retry strategy and signing: a SigV4 signature
 * stays valid for minutes), so that the time between taking the slot and reaching the service is as short
 * and as even as it can be.
 */
export function paceClient(client: SecretsManagerClient, pacer: QuotaPacer): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? '').replace(/Command$/, '');
      await pacer.acquire(operation);
      return next(args);
    },
    { step: 'deserialize', name: 'quotaPacer', priority: 'low' },
  );
}

/**
 * The shortest time the write quota allows for `rotations` rotations of `writesPerRotation` writes each:
 * the binding limit of a fleet rotation, since RotateSecret (one call a rotation, 50/s) never binds first.
 */
export function minimumSeconds(rotations: number, writesPerRotation: number, writeRate: number): number {
  return (rotations * writesPerRotation) / writeRate;
}
