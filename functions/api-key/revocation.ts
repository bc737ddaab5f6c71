import type { Logger } from '@aws-lambda-powertools/logger';
import type { ConsumerCounter } from '../consumer-tracker/store';
import { RotationError, Stage } from '../rotation';
import { API_KEY_FIELD, ApiKeyFollowUp, RevocationReason, RevokeOutcome } from './constants';
import { CurrentKeyRevocationError } from './errors';
import type { ApiKeyProvider, ProviderContext, ProviderKey } from './providers/provider';
import type { ApiKeySecretStore, SecretState } from './secret-state';

/** What revocation work needs from the invocation it runs in (a rotation step or a sweep). */
export interface RevocationContext {
  readonly secretArn: string;
  readonly logger: Logger;
  readonly provider: ProviderContext;
  /** Publishes a follow-up event; `detail` never holds a key. */
  publish(action: string, detail: Record<string, unknown>): Promise<void>;
}

/** One key revoked (or found gone) by a sweep. */
export interface RevokedKey {
  readonly versionId?: string;
  readonly keyId?: string;
  readonly keyName: string;
  readonly reason: RevocationReason;
  readonly outcome: RevokeOutcome;
  /** With a consumer tracker: live consumers still on the key when it was revoked (left behind at a deadline). */
  readonly liveConsumers?: number;
  /**
   * A superseded version's key (not an orphan): when the version that superseded it was created (the earliest
   * version created after it), when Secrets Manager still lists both.
   */
  readonly supersededAt?: string;
  /** With `supersededAt`: milliseconds from then to this revocation, by the sweep's clock (outcome `revoked` only). */
  readonly latencyMs?: number;
}

/** What a sweep did. Never holds a key; returned to whoever invoked the sweep. */
export interface SweepReport {
  readonly secretArn: string;
  readonly emergency: boolean;
  readonly revoked: RevokedKey[];
  /** Revocations newly scheduled (a superseded key whose deadline was not recorded yet). */
  readonly scheduled: Array<{ readonly versionId: string; readonly revokeAfter: string }>;
  /** Keys still in their grace period; with a consumer tracker, how many live consumers still use each. */
  readonly waiting: Array<{
    readonly versionId: string;
    readonly revokeAfter: string;
    readonly liveConsumers?: number;
  }>;
  readonly failed: Array<{
    readonly versionId?: string;
    readonly keyName?: string;
    readonly errorName: string;
  }>;
}

/** What the revocation logic is built from. */
export interface RevocationDependencies {
  readonly store: ApiKeySecretStore;
  readonly provider: ApiKeyProvider;
  readonly gracePeriodSeconds: number;
  /** Prefix of key names; unset: `<secret name>-`. */
  readonly keyNamePrefix?: string;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** The consumer tracker: who still uses a superseded key. @default - none (revocation on the deadline only) */
  readonly consumers?: ConsumerCounter;
  /**
   * With `consumers`: revoke a superseded key once no live consumer uses it and this long has passed since it
   * was superseded, instead of waiting for the whole grace period (which stays the hard deadline).
   * @default - never early
   */
  readonly minGracePeriodSeconds?: number;
  /** Told the latency of each superseded key revoked (see `RevokedKey.latencyMs`): the metric. */
  readonly recordRevocationLatency?: (latencyMs: number) => void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TAG_SAFE = /^[\w.:/=+\-@]{1,90}$/;

/**
 * The grace period and the revocations after it.
 *
 * - When a key is superseded (finishSecret), its deadline `now + grace` is recorded in a tag on the secret,
 *   `secret-rotation:api-key:revoke-after:<versionId>`: a version's value cannot change once put, a tag can,
 *   and a retry or a later sweep finds it. An existing deadline is never moved.
 * - A sweep (the scheduled sweep invocation, the start of every rotation, and an emergency) revokes every key
 *   whose deadline has passed (all of them in an emergency): the provider revokes the key, AWSPREVIOUS is
 *   removed from its version (so verifiers of self-issued keys stop accepting it), a follow-up event is
 *   published, and only then the tag is removed, so a crash at any point is completed by the next sweep.
 * - It schedules a superseded key whose deadline was never recorded (AWSPREVIOUS without a tag: a
 *   finishSecret that crashed after moving the labels, or a manual `PutSecretValue`).
 * - Where the provider can list keys, it revokes keys issued under our name prefix whose version is neither
 *   current, pending, previous nor scheduled (keys of rotations that crashed or were abandoned), and keys
 *   under a version's name whose id is not the one the version records (issued by a createSecret that
 *   crashed before PutSecretValue, or lost a race with a concurrent one).
 * - It never revokes the key of AWSCURRENT or AWSPENDING, and drops the schedule of a version that became
 *   current again (a rollback).
 */
export class Revocations {
  readonly #deps: RevocationDependencies;

  constructor(deps: RevocationDependencies) {
    this.#deps = deps;
  }

  /** The name a version's key is issued under. */
  keyName(secretName: string, versionId: string): string {
    return `${this.prefix(secretName)}${versionId}`;
  }

  /** The prefix of every key name of the secret. */
  prefix(secretName: string): string {
    return this.#deps.keyNamePrefix ?? `${secretName}-`;
  }

  /**
   * Records the deadline of `versionId`'s key unless one is recorded; returns the deadline. Publishes
   * `api-key-revocation-scheduled` when it records one.
   */
  async schedule(
    context: RevocationContext,
    state: SecretState,
    versionId: string,
    keyId?: string,
  ): Promise<string> {
    const existing = state.scheduled.find((s) => s.versionId === versionId);
    if (existing && !Number.isNaN(existing.revokeAfter)) return existing.raw;
    if (!TAG_SAFE.test(versionId)) {
      throw new RotationError(
        `Secret ${state.arn}: version id ${versionId} cannot be part of a tag key; use Secrets Manager's generated tokens`,
      );
    }
    const revokeAfter = isoSeconds(this.#deps.now() + this.#deps.gracePeriodSeconds * 1000);
    await this.#deps.store.schedule(state.arn, versionId, revokeAfter);
    context.logger.info('Scheduled the revocation of the superseded key', { versionId, revokeAfter });
    await context.publish(ApiKeyFollowUp.SCHEDULED, {
      versionId,
      keyName: this.keyName(state.name, versionId),
      ...(keyId ? { keyId } : {}),
      revokeAfter,
      gracePeriodSeconds: this.#deps.gracePeriodSeconds,
    });
    return revokeAfter;
  }

  /** Revokes what is due (everything but the current and pending keys when `emergency`). */
  async sweep(context: RevocationContext, options: { readonly emergency: boolean }): Promise<SweepReport> {
    const { store, provider } = this.#deps;
    const report: SweepReport = {
      secretArn: context.secretArn,
      emergency: options.emergency,
      revoked: [],
      scheduled: [],
      waiting: [],
      failed: [],
    };
    // List before reading the labels: a key issued after the listing cannot be mistaken for an orphan,
    // because its token was staged before it was issued.
    const first = await store.load(context.secretArn);
    const listed = provider.list ? await provider.list(context.provider, this.prefix(first.name)) : [];
    const state = provider.list ? await store.load(context.secretArn) : first;
    const now = this.#deps.now();
    const current = await this.#currentKey(context, state);
    const live = new Set([state.current, state.pending].filter((id): id is string => id !== undefined));
    const scheduledIds = new Set(state.scheduled.map((s) => s.versionId));
    // The versions' creation dates, listed once per sweep and only when a superseded key is revoked.
    let created: Promise<ReadonlyMap<string, number> | undefined> | undefined;
    const createdDates = () => {
      created ??= store.versionCreatedDates(state.arn).catch((error: unknown) => {
        // A measurement, not a precondition: the revocation stands without it.
        context.logger.warn('Could not list the versions of the secret; revocation latency not measured', {
          errorName: error instanceof Error ? error.name : typeof error,
        });
        return undefined;
      });
      return created;
    };
    const attempt = async (work: () => Promise<void>, versionId?: string, keyName?: string) => {
      try {
        await work();
      } catch (error) {
        const errorName = error instanceof Error ? error.name : typeof error;
        context.logger.error('Could not complete a revocation', {
          versionId,
          errorName,
          errorMessage: error instanceof Error ? error.message : String(error),
        });
        report.failed.push({
          ...(versionId ? { versionId } : {}),
          ...(keyName ? { keyName } : {}),
          errorName,
        });
      }
    };

    for (const entry of state.scheduled) {
      const { versionId } = entry;
      if (live.has(versionId)) {
        await attempt(async () => {
          context.logger.warn(
            'A version scheduled for revocation is current or pending again; schedule dropped',
            {
              versionId,
            },
          );
          await store.unschedule(state.arn, versionId);
        }, versionId);
      } else if (Number.isNaN(entry.revokeAfter)) {
        await attempt(async () => {
          context.logger.warn('A revocation tag holds no valid instant; scheduling the grace period anew', {
            versionId,
          });
          // Overwrites the tag: there is never a moment without a deadline.
          const revokeAfter = await this.schedule(context, { ...state, scheduled: [] }, versionId);
          report.scheduled.push({ versionId, revokeAfter });
        }, versionId);
      } else if (options.emergency || entry.revokeAfter <= now) {
        const reason = options.emergency ? RevocationReason.EMERGENCY : RevocationReason.GRACE_PERIOD_ENDED;
        const liveConsumers = await this.#liveConsumers(context, versionId);
        if (liveConsumers) {
          context.logger.warn('Revoking a key that live consumers still use: the hard deadline passed', {
            versionId,
            liveConsumers,
          });
        }
        await attempt(
          () =>
            this.#revokeVersion(
              context,
              state,
              current,
              versionId,
              reason,
              entry.raw,
              report,
              createdDates,
              liveConsumers,
            ),
          versionId,
        );
      } else {
        const liveConsumers = await this.#liveConsumers(context, versionId);
        if (liveConsumers === 0 && this.#earlyRevocationDue(entry.revokeAfter, now)) {
          await attempt(
            () =>
              this.#revokeVersion(
                context,
                state,
                current,
                versionId,
                RevocationReason.CONSUMERS_MOVED,
                entry.raw,
                report,
                createdDates,
                0,
              ),
            versionId,
          );
        } else {
          report.waiting.push({
            versionId,
            revokeAfter: entry.raw,
            ...(liveConsumers !== undefined ? { liveConsumers } : {}),
          });
        }
      }
    }

    const previous = state.previous;
    if (previous && !live.has(previous) && !scheduledIds.has(previous)) {
      await attempt(async () => {
        if (options.emergency) {
          await this.#revokeVersion(
            context,
            state,
            current,
            previous,
            RevocationReason.EMERGENCY,
            undefined,
            report,
            createdDates,
          );
        } else {
          context.logger.warn('AWSPREVIOUS has no revocation deadline; scheduling it now', {
            versionId: previous,
          });
          const revokeAfter = await this.schedule(context, state, previous);
          report.scheduled.push({ versionId: previous, revokeAfter });
        }
      }, previous);
    }

    const prefix = this.prefix(state.name);
    const recorded = new Map<string, string | undefined>();
    for (const key of listed) {
      const versionId = key.name?.slice(prefix.length) ?? '';
      if (!UUID.test(versionId)) continue;
      if (live.has(versionId) || scheduledIds.has(versionId) || versionId === previous) {
        // A version's own key, unless the version records another id: then this one was issued by a
        // createSecret that crashed before PutSecretValue, or lost a race, and its value was never stored.
        if (!recorded.has(versionId)) {
          const raw = await store.versionValue(state.arn, versionId);
          recorded.set(versionId, raw === undefined ? undefined : keyFacts(context, raw).keyId);
        }
        const keyId = recorded.get(versionId);
        if (keyId === undefined || keyId === key.keyId) continue;
      }
      await attempt(() => this.#revokeOrphan(context, key, versionId, report), versionId, key.name);
    }
    context.logger.info('Sweep done', {
      emergency: options.emergency,
      revoked: report.revoked.length,
      scheduled: report.scheduled.length,
      waiting: report.waiting.length,
      failed: report.failed.length,
    });
    return report;
  }

  async #revokeVersion(
    context: RevocationContext,
    state: SecretState,
    current: KeyFacts,
    versionId: string,
    reason: RevocationReason,
    revokeAfter: string | undefined,
    report: SweepReport,
    createdDates: () => Promise<ReadonlyMap<string, number> | undefined>,
    liveConsumers?: number,
  ): Promise<void> {
    const { store, provider } = this.#deps;
    const raw = await store.versionValue(state.arn, versionId);
    const facts = raw === undefined ? {} : keyFacts(context, raw);
    if (
      (facts.keyId !== undefined && facts.keyId === current.keyId) ||
      (facts.apiKey !== undefined && facts.apiKey === current.apiKey)
    ) {
      throw new CurrentKeyRevocationError(state.arn, versionId);
    }
    const keyName = this.keyName(state.name, versionId);
    const result = await provider.revoke(context.provider, {
      name: keyName,
      ...(facts.keyId !== undefined ? { keyId: facts.keyId } : {}),
    });
    const revokedAt = this.#deps.now();
    if (state.stages[versionId]?.includes(Stage.PREVIOUS)) await store.removePrevious(state.arn, versionId);
    const keyId = result.keyId ?? facts.keyId;
    // Only a key this sweep revoked: one found already gone (a crashed sweep, or removed by hand) went earlier.
    const dates = result.outcome === RevokeOutcome.REVOKED ? await createdDates() : undefined;
    const latency = dates ? revocationLatency(dates, versionId, revokedAt) : undefined;
    const revoked: RevokedKey = {
      versionId,
      keyName,
      ...(keyId !== undefined ? { keyId } : {}),
      reason,
      outcome: result.outcome,
      ...(liveConsumers !== undefined ? { liveConsumers } : {}),
      ...(latency
        ? { supersededAt: new Date(latency.supersededAt).toISOString(), latencyMs: latency.latencyMs }
        : {}),
    };
    if (latency) this.#deps.recordRevocationLatency?.(latency.latencyMs);
    context.logger.info('Revoked the key of a superseded version', { ...revoked });
    await context.publish(ApiKeyFollowUp.REVOKED, { ...revoked, ...(revokeAfter ? { revokeAfter } : {}) });
    if (state.scheduled.some((s) => s.versionId === versionId)) await store.unschedule(state.arn, versionId);
    report.revoked.push(revoked);
  }

  async #revokeOrphan(
    context: RevocationContext,
    key: ProviderKey,
    versionId: string,
    report: SweepReport,
  ): Promise<void> {
    const keyName = key.name ?? '';
    const result = await this.#deps.provider.revoke(context.provider, { keyId: key.keyId, name: keyName });
    const revoked: RevokedKey = {
      versionId,
      keyName,
      keyId: result.keyId ?? key.keyId,
      reason: RevocationReason.ORPHAN,
      outcome: result.outcome,
    };
    context.logger.info('Revoked a key that no version records (a crashed or abandoned rotation)', {
      ...revoked,
    });
    await context.publish(ApiKeyFollowUp.REVOKED, { ...revoked });
    report.revoked.push(revoked);
  }

  /** Live consumers on a version, or `undefined` without a tracker or when it cannot be read. */
  async #liveConsumers(context: RevocationContext, versionId: string): Promise<number | undefined> {
    if (!this.#deps.consumers) return undefined;
    try {
      return await this.#deps.consumers.liveConsumersOn(context.secretArn, versionId);
    } catch (error) {
      // Unknown is not zero: without the tracker, only the deadline revokes.
      context.logger.warn('Could not read the consumer tracker', {
        versionId,
        errorName: error instanceof Error ? error.name : typeof error,
      });
      return undefined;
    }
  }

  /** Whether the minimum grace period has passed: superseded at `revokeAfter - grace`. */
  #earlyRevocationDue(revokeAfter: number, now: number): boolean {
    const { minGracePeriodSeconds, gracePeriodSeconds } = this.#deps;
    if (minGracePeriodSeconds === undefined) return false;
    return now >= revokeAfter - (gracePeriodSeconds - minGracePeriodSeconds) * 1000;
  }

  async #currentKey(context: RevocationContext, state: SecretState): Promise<KeyFacts> {
    if (!state.current) return {};
    const raw = await this.#deps.store.versionValue(state.arn, state.current);
    return raw === undefined ? {} : keyFacts(context, raw);
  }
}

interface KeyFacts {
  readonly keyId?: string;
  readonly apiKey?: string;
}

/** The key id and key of a version's value, leniently (the sweep must not stop at one bad version). */
function keyFacts(context: RevocationContext, raw: string): KeyFacts {
  context.provider.redact(raw);
  try {
    const value = JSON.parse(raw) as Record<string, unknown>;
    const keyId = typeof value.keyId === 'string' && value.keyId !== '' ? value.keyId : undefined;
    const apiKey = typeof value[API_KEY_FIELD] === 'string' ? (value[API_KEY_FIELD] as string) : undefined;
    if (apiKey) context.provider.redact(apiKey);
    return { ...(keyId ? { keyId } : {}), ...(apiKey ? { apiKey } : {}) };
  } catch {
    return {};
  }
}

/**
 * How long a superseded version's key outlived its supersession: from the creation of the version that
 * superseded it (the earliest one created after it) to `revokedAt`. `undefined` when the listing holds
 * neither the version nor a successor. Never negative: a clock behind Secrets Manager's counts as 0.
 */
export function revocationLatency(
  created: ReadonlyMap<string, number>,
  versionId: string,
  revokedAt: number,
): { supersededAt: number; latencyMs: number } | undefined {
  const own = created.get(versionId);
  if (own === undefined) return undefined;
  let supersededAt: number | undefined;
  for (const [id, at] of created) {
    if (id !== versionId && at > own && (supersededAt === undefined || at < supersededAt)) supersededAt = at;
  }
  if (supersededAt === undefined) return undefined;
  return { supersededAt, latencyMs: Math.max(0, revokedAt - supersededAt) };
}

/** An instant as ISO 8601 to the second, rounded up so that a grace period is never shortened. */
export function isoSeconds(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
