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
 * operation), each refilling at the group's rate with a burst of one, so requests leave evenly spaced at
 * 1/rate. A service's bucket usually allows some burst; pacing without one leaves that burst to absorb
 * network jitter, which is what keeps throttling at zero. Waiters are served first come, first served.
 */
export class QuotaPacer {
  readonly #groups: Readonly<Record<string, QuotaGroup>>;
  readonly #unlistedRate: number;
  readonly #clock: PacerClock;
  /** bucket name → the next slot to reserve. */
  readonly #next = new Map<string, number>();
  /** bucket name → when its last request left. */
  readonly #lastSent = new Map<string, number>();
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
  ) {
    for (const [name, group] of Object.entries(groups)) {
      if (!(group.ratePerSecond > 0)) throw new RangeError(`quota ${name}: rate must be positive`);
    }
    this.#groups = groups;
    this.#clock = clock;
    this.#unlistedRate = unlistedRate;
  }

  /** The bucket an operation draws from and its rate. */
  bucketOf(operation: string): { readonly name: string; readonly ratePerSecond: number } {
    for (const [name, group] of Object.entries(this.#groups)) {
      if (group.operations.includes(operation)) return { name, ratePerSecond: group.ratePerSecond };
    }
    return { name: `other:${operation}`, ratePerSecond: this.#unlistedRate };
  }

  /** Waits until `operation` may be sent without exceeding its quota, and takes its slot. */
  async acquire(operation: string): Promise<void> {
    const { name, ratePerSecond } = this.bucketOf(operation);
    const interval = 1000 / ratePerSecond;
    const asked = this.#clock.now();
    // Slots are reserved before waiting, so concurrent callers queue behind each other in order.
    const slot = Math.max(asked, this.#next.get(name) ?? asked);
    this.#next.set(name, slot + interval);
    if (slot > asked) await this.#clock.sleep(slot - asked);
    // A stalled process (a busy machine, a long GC) wakes several reserved slots at once; sending them
    // together would be a burst above the rate. So actual sends stay at least one interval apart too.
    for (;;) {
      const now = this.#clock.now();
      const earliest = (this.#lastSent.get(name) ?? Number.NEGATIVE_INFINITY) + interval;
      if (now >= earliest) {
        this.#lastSent.set(name, now);
        if ((this.#next.get(name) ?? 0) < now + interval) this.#next.set(name, now + interval);
        break;
      }
      await this.#clock.sleep(earliest - now);
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
