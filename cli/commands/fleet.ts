import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { RotateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Stage } from '../../functions/rotation/constants';
import type { RotationDriver, RotationFunction } from '../../local/driver';
import { describeAwsError, firstLine } from '../errors';
import { describeSecret, pendingRotation, type SecretState, versionWith } from '../secrets';
import type { QuotaPacer } from './quotas';

/** How one secret of a fleet rotation ended. */
export const FleetOutcome = {
  /** This run rotated it: its new version is AWSCURRENT. */
  ROTATED: 'rotated',
  /** An earlier run of the same journal rotated it; nothing was done. */
  ALREADY_ROTATED: 'already-rotated',
  /** Its rotation failed, was abandoned, timed out, or could not start. */
  FAILED: 'failed',
  /** Not rotatable (no rotation function configured); nothing was done. */
  SKIPPED: 'skipped',
} as const;
export type FleetOutcome = (typeof FleetOutcome)[keyof typeof FleetOutcome];

/** One secret's result, as `rotate --json` reports it. Never a value. */
export interface FleetSecretResult {
  readonly secret: string;
  readonly arn: string;
  readonly outcome: FleetOutcome;
  /** The rotation's version (ClientRequestToken); null when none started. */
  readonly versionId: string | null;
  readonly previousVersionId: string | null;
  readonly durationMs: number;
  /** Why it failed or was skipped. */
  readonly reason: string | null;
  /** Local mode: how long each step's last invocation took. */
  readonly stepsMs?: Readonly<Record<string, number>>;
}

/** A line of the journal: what happened to one secret, appended as it happens. */
export interface JournalEntry {
  readonly arn: string;
  readonly event: 'started' | 'rotated' | 'failed';
  readonly versionId: string;
  readonly at: string;
}

/**
 * An append-only JSON-lines file of started and finished rotations, written before each RotateSecret and
 * after each outcome, so that a run interrupted at any point can be resumed: rotated secrets are skipped, a
 * started one is followed from its recorded version instead of being rotated twice.
 */
export class FleetJournal {
  readonly #last = new Map<string, JournalEntry>();

  constructor(readonly path: string) {
    if (!existsSync(path)) return;
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.forEach((line, index) => {
      if (!line.trim()) return;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(line) as JournalEntry;
      } catch (error) {
        // A crash can cut the last line short; any other bad line means the file is not a journal.
        if (index >= lines.length - 2) return;
        throw new Error(`journal ${path}: line ${index + 1} is not JSON`, { cause: error });
      }
      if (typeof entry.arn !== 'string' || typeof entry.versionId !== 'string') {
        throw new Error(`journal ${path}: line ${index + 1} has no arn or versionId`);
      }
      this.#last.set(entry.arn, entry);
    });
  }

  /** The last entry for a secret. */
  last(arn: string): JournalEntry | undefined {
    return this.#last.get(arn);
  }

  record(arn: string, event: JournalEntry['event'], versionId: string, at: Date): void {
    const entry: JournalEntry = { arn, event, versionId, at: at.toISOString() };
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`);
    this.#last.set(arn, entry);
  }
}

/** How the rotations run. */
export type FleetMode =
  | {
      /** Secrets Manager invokes each secret's rotation Lambda; the CLI starts and follows. */
      readonly kind: 'aws';
      /** Paced by the caller's quota pacer. */
      readonly secretsManager: SecretsManagerClient;
      readonly pollIntervalMs: number;
      readonly timeoutMs: number;
    }
  | {
      /** The CLI plays Secrets Manager and runs this project's function in-process (the local mode). */
      readonly kind: 'local';
      /** Its client is paced by the caller's quota pacer. */
      readonly driver: RotationDriver;
      /** Builds one handler per worker, as each Lambda execution environment builds its own. */
      readonly handler: () => Promise<RotationFunction>;
      /** Whole-rotation attempts with the same token, as the service retries. */
      readonly attempts: number;
      readonly timeoutMs: number;
    };

/** What a fleet rotation runs with. */
export interface FleetRotationOptions {
  readonly mode: FleetMode;
  /** Reads labels (DescribeSecret) through the paced client. */
  readonly secretsManager: SecretsManagerClient;
  /** Rotations in flight at most. */
  readonly concurrency: number;
  /**
   * Paces the start of rotations, so that the writes their functions make (outside this process on AWS)
   * stay within the write quota: rate = write quota / writes a rotation makes.
   */
  readonly starts: QuotaPacer;
  readonly journal?: FleetJournal;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  /**
   * Called before a secret's rotation starts; throwing fails that secret only (an approval bypass that could
   * not be recorded, say).
   */
  readonly beforeStart?: (target: SecretState) => Promise<void>;
  /** Called when a secret starts and when it ends. */
  readonly onProgress?: (event: {
    readonly type: 'start' | 'end';
    readonly result?: FleetSecretResult;
  }) => void;
}

/**
 * Rotates every secret in `targets`, `concurrency` at a time, each start paced by `starts` and every request
 * by the clients' pacer; a failed secret is reported and the others go on. Returns one result a secret, in
 * the order of `targets`.
 */
export async function rotateFleet(
  targets: readonly SecretState[],
  options: FleetRotationOptions,
): Promise<FleetSecretResult[]> {
  const results: FleetSecretResult[] = new Array(targets.length);
  let nextIndex = 0;
  const worker = async () => {
    const handler = options.mode.kind === 'local' ? await options.mode.handler() : undefined;
    for (let i = nextIndex++; i < targets.length; i = nextIndex++) {
      const target = targets[i] as SecretState;
      options.onProgress?.({ type: 'start' });
      const result = await rotateOne(target, options, handler);
      results[i] = result;
      options.onProgress?.({ type: 'end', result });
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(options.concurrency, targets.length)) }, worker),
  );
  return results;
}

async function rotateOne(
  target: SecretState,
  options: FleetRotationOptions,
  handler: RotationFunction | undefined,
): Promise<FleetSecretResult> {
  const started = options.now().getTime();
  const previous = versionWith(target, Stage.CURRENT) ?? null;
  const base = { secret: target.name, arn: target.arn, previousVersionId: previous };
  const done = (
    outcome: FleetOutcome,
    versionId: string | null,
    reason: string | null,
  ): FleetSecretResult => {
    if (versionId && options.journal && (outcome === 'rotated' || outcome === 'failed')) {
      options.journal.record(target.arn, outcome, versionId, options.now());
    }
    return { ...base, outcome, versionId, durationMs: options.now().getTime() - started, reason };
  };
  try {
    const resumed = await resume(target, options);
    if (resumed?.kind === 'rotated') {
      return {
        ...base,
        outcome: 'already-rotated',
        versionId: resumed.versionId,
        durationMs: 0,
        reason: null,
      };
    }
    if (options.mode.kind === 'aws') {
      if (resumed?.kind === 'follow') {
        return await followOnAws(target, resumed.versionId, options, options.mode, done);
      }
      if (!target.rotationFunctionArn && !target.owningService) {
        return done('skipped', null, 'no rotation function is configured (RotationLambdaARN)');
      }
    }
    const stuck = pendingRotation(target);
    if (stuck) {
      return done(
        'failed',
        null,
        `a previous rotation is not complete: AWSPENDING is on version ${stuck}, which is not AWSCURRENT`,
      );
    }
    await options.beforeStart?.(target);
    await options.starts.acquire('start');
    if (options.mode.kind === 'aws') {
      const token = randomUUID();
      options.journal?.record(target.arn, 'started', token, options.now());
      await options.mode.secretsManager.send(
        new RotateSecretCommand({ SecretId: target.arn, ClientRequestToken: token, RotateImmediately: true }),
      );
      return await followOnAws(target, token, options, options.mode, done);
    }
    return await rotateLocally(target, options.mode, handler as RotationFunction, options, done);
  } catch (error) {
    return done('failed', null, describeAwsError(error, undefined).message);
  }
}

/** What the journal says of a secret, checked against its labels now. */
async function resume(
  target: SecretState,
  options: FleetRotationOptions,
): Promise<{ kind: 'rotated' | 'follow'; versionId: string } | undefined> {
  const last = options.journal?.last(target.arn);
  if (!last || last.event === 'failed') return undefined;
  const labels = target.stages[last.versionId] ?? [];
  if (labels.includes(Stage.CURRENT)) {
    if (last.event === 'started')
      options.journal?.record(target.arn, 'rotated', last.versionId, options.now());
    return { kind: 'rotated', versionId: last.versionId };
  }
  // Rotated by this journal, then rotated again since (AWSCURRENT moved on): still done for this campaign.
  if (last.event === 'rotated') return { kind: 'rotated', versionId: last.versionId };
  if (labels.includes(Stage.PENDING) && options.mode.kind === 'aws') {
    return { kind: 'follow', versionId: last.versionId };
  }
  return undefined;
}

async function followOnAws(
  target: SecretState,
  token: string,
  options: FleetRotationOptions,
  mode: Extract<FleetMode, { kind: 'aws' }>,
  done: (outcome: FleetOutcome, versionId: string | null, reason: string | null) => FleetSecretResult,
): Promise<FleetSecretResult> {
  const deadline = options.now().getTime() + mode.timeoutMs;
  let seenPending = false;
  for (;;) {
    const state = await describeSecret(options.secretsManager, target.arn);
    const labels = state.stages[token] ?? [];
    if (labels.includes(Stage.CURRENT)) return done('rotated', token, null);
    if (labels.includes(Stage.PENDING)) seenPending = true;
    else if (seenPending) {
      return done('failed', token, 'rotation abandoned: AWSPENDING was removed before it became AWSCURRENT');
    }
    if (options.now().getTime() >= deadline) {
      return done(
        'failed',
        token,
        `did not finish within ${Math.round(mode.timeoutMs / 1000)} s; it may still complete (Secrets Manager retries): run again with the same --journal to follow it`,
      );
    }
    await options.sleep(mode.pollIntervalMs);
  }
}

async function rotateLocally(
  target: SecretState,
  mode: Extract<FleetMode, { kind: 'local' }>,
  handler: RotationFunction,
  options: FleetRotationOptions,
  done: (outcome: FleetOutcome, versionId: string | null, reason: string | null) => FleetSecretResult,
): Promise<FleetSecretResult> {
  let token: string | null = null;
  let lastError: unknown;
  const observed: RotationFunction = async (event) => {
    const e = event as { ClientRequestToken?: string };
    if (token === null && e.ClientRequestToken) {
      token = e.ClientRequestToken;
      options.journal?.record(target.arn, 'started', token, options.now());
    }
    try {
      return await handler(event);
    } catch (error) {
      lastError = error;
      throw error;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed-out'>((resolve) => {
    timer = setTimeout(() => resolve('timed-out'), mode.timeoutMs);
    timer.unref?.();
  });
  try {
    const record = await Promise.race([
      mode.driver.rotate(target.arn, observed, { maxAttempts: mode.attempts }),
      timedOut,
    ]);
    if (record === 'timed-out') {
      return done('failed', token, `did not finish within ${Math.round(mode.timeoutMs / 1000)} s`);
    }
    const stepsMs = Object.fromEntries(record.steps.map((step) => [step.step, step.durationMs]));
    if (record.succeeded) return { ...done('rotated', record.token, null), stepsMs };
    const failed = [...record.steps].reverse().find((s) => !s.ok);
    const message = lastError instanceof Error ? `: ${firstLine(lastError.message)}` : '';
    return done(
      'failed',
      record.token,
      `${failed?.step ?? 'a step'} failed (${failed?.errorName ?? 'error'})${message}`,
    );
  } finally {
    clearTimeout(timer);
  }
}
