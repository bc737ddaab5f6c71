import { randomUUID } from 'node:crypto';
import { GetSecretValueCommand, RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { RotationStep, Stage } from '../../functions/rotation/constants';
import { ROTATION_STEPS, RotationDriver, type StepRecord } from '../../local/driver';
import type { Args, CommandSpec } from '../args';
import { functionNameOf } from '../aws';
import { type CommandContext, println } from '../context';
import { parseDuration, parsePositiveInteger } from '../duration';
import { CliError, describeAwsError, ExitCode, firstLine, isNamed, UsageError } from '../errors';
import { formatMs, toJson } from '../format';
import { LOCAL_FUNCTIONS } from '../local-functions';
import { isStepFailure, parseRotationLogLine } from '../rotation-log';
import { describeSecret, pendingRotation, type SecretState, versionWith } from '../secrets';
import { FLEET_OPTIONS, isFleetRotation, runFleetRotate } from './rotate-fleet';

export const rotateSpec: CommandSpec = {
  name: 'rotate',
  summary: 'start a rotation and follow it step by step until it succeeds, fails or times out',
  description: [
    'Starts a rotation (RotateSecret with a new ClientRequestToken) and follows it: the new version getting',
    "its value (createSecret done), the rotation function's log lines (each step; a failed step ends the",
    'rotation at once), AWSCURRENT moving to the new version (finishSecret done). Exits 1 when the rotation',
    'fails, is abandoned, or does not finish within --timeout.',
    '',
    "Logs are read from the rotation function's log group (its LoggingConfig, else /aws/lambda/<name>) when",
    'logs:FilterLogEvents is allowed; without it a failure shows only as a timeout.',
    '',
    'With --local-function the CLI plays Secrets Manager itself, as the local mode does for moto (which cannot',
    "run Lambdas): it stages a new AWSPENDING version and invokes this project's real handler in-process with",
    'the four steps, configured by the same environment variables as the Lambda (ROTATION_STRATEGY, ...).',
    "Against moto always use it: moto's own RotateSecret runs no function (it copies the current value).",
    '',
    'Fleet (an emergency rotation): --all, --tag KEY=VALUE or --file LIST rotates every matching secret,',
    "paced to Secrets Manager's documented quotas (a token bucket per quota group: RotateSecret 50/s; the",
    "functions' writes, PutSecretValue and UpdateSecretVersionStage, 50/s combined); a progress bar on a",
    'terminal; a failed secret is reported and the others go on; --journal makes it resumable; --dry-run',
    'lists what would rotate. Exits 1 when any secret failed.',
  ].join('\n'),
  positionals: [{ name: 'secret', required: false }],
  options: {
    ...FLEET_OPTIONS,
    'local-function': {
      type: 'string',
      value: '<kind>',
      description: `Run this project's function in-process instead of the secret's Lambda: ${Object.keys(LOCAL_FUNCTIONS).join(', ')}`,
    },
    timeout: { type: 'string', value: '<duration>', description: 'Give up after this long', default: '15m' },
    interval: {
      type: 'string',
      value: '<duration>',
      description: 'How often to look at the labels and logs',
      default: '2s',
    },
    attempts: {
      type: 'string',
      value: '<n>',
      description: 'Local mode: whole-rotation attempts with the same token, as the service retries',
      default: '1',
    },
    'log-group': {
      type: 'string',
      value: '<name>',
      description: "Read the function's logs from this log group",
    },
    verbose: {
      type: 'boolean',
      short: 'v',
      description:
        "Also print the function's log lines: on AWS those of this rotation; in-process its own JSON lines and metrics (not with --json)",
    },
  },
  examples: [
    'secret-rotation rotate prod/orders-app',
    'secret-rotation rotate prod/orders-app --timeout 5m --json',
    'secret-rotation rotate --tag team=payments --dry-run',
    'secret-rotation rotate --file leaked.txt --journal leak-2026-12.jsonl',
    'ROTATION_STRATEGY=alternating-users secret-rotation rotate demo/orders --local-function database --endpoint-url http://127.0.0.1:5000',
  ],
};

/** State of one step of one attempt. */
export type StepStatus = 'not-started' | 'running' | 'done' | 'failed';

/** One step in `rotate --json`. */
export interface RotateStepJson {
  readonly step: RotationStep;
  /** Whole-rotation attempt (the service and the local driver retry with the same token). */
  readonly attempt: number;
  readonly status: StepStatus;
  /** Local mode: the invocation's duration; on AWS: null. */
  readonly durationMs: number | null;
  readonly errorName: string | null;
  /** Scrubbed of secret values by the function. */
  readonly errorMessage: string | null;
}

/** How a rotation ended. */
export type RotateOutcome = 'rotated' | 'failed' | 'abandoned' | 'timed-out';

/** What `rotate --json` prints: one object. */
export interface RotateJson {
  readonly secret: string;
  readonly arn: string;
  /** `aws`: Secrets Manager invoked the secret's Lambda; `local`: the CLI ran the function in-process. */
  readonly mode: 'aws' | 'local';
  /** The Lambda's ARN, or `local:<kind>`; null for a rotation managed by another service. */
  readonly rotationFunction: string | null;
  /** The new version (the rotation's ClientRequestToken); null when the rotation never started. */
  readonly versionId: string | null;
  /** The version that was AWSCURRENT before. */
  readonly previousVersionId: string | null;
  readonly outcome: RotateOutcome;
  readonly succeeded: boolean;
  readonly durationMs: number;
  readonly steps: readonly RotateStepJson[];
  readonly error: {
    readonly step: string | null;
    readonly name: string | null;
    readonly message: string;
  } | null;
  /** Things the CLI could not observe (no logs permission, say). */
  readonly notes: readonly string[];
}

interface MutableStep {
  step: RotationStep;
  attempt: number;
  status: StepStatus;
  durationMs: number | null;
  errorName: string | null;
  errorMessage: string | null;
}

/** The steps of every attempt, in order. */
class StepTracker {
  readonly entries: MutableStep[] = [];

  constructor(private readonly onChange: (entry: MutableStep) => void) {}

  /** Updates a step; reports the change when its status moved to done or failed. */
  update(attempt: number, step: RotationStep, change: Partial<Omit<MutableStep, 'step' | 'attempt'>>): void {
    const entry = this.#entry(attempt, step);
    const before = entry.status;
    Object.assign(entry, change);
    if (entry.status !== before && (entry.status === 'done' || entry.status === 'failed'))
      this.onChange(entry);
  }

  /** Marks every step before `step` done (a later step can only start after them). */
  doneBefore(attempt: number, step: RotationStep): void {
    for (const s of ROTATION_STEPS) {
      if (s === step) return;
      if (this.#entry(attempt, s).status !== 'done') this.update(attempt, s, { status: 'done' });
    }
  }

  status(attempt: number, step: RotationStep): StepStatus {
    return this.#entry(attempt, step).status;
  }

  /** The step under way: the first of the last attempt that is not done. */
  running(): MutableStep | undefined {
    const last = this.entries[this.entries.length - 1]?.attempt ?? 1;
    return this.entries.find((e) => e.attempt === last && e.status !== 'done' && e.status !== 'failed');
  }

  #entry(attempt: number, step: RotationStep): MutableStep {
    if (!this.entries.some((e) => e.attempt === attempt)) {
      for (const s of ROTATION_STEPS) {
        this.entries.push({
          step: s,
          attempt,
          status: 'not-started',
          durationMs: null,
          errorName: null,
          errorMessage: null,
        });
      }
    }
    return this.entries.find((e) => e.attempt === attempt && e.step === step) as MutableStep;
  }
}

/** Progress on a terminal or in a log: a line per finished step, a transient status line on terminals. */
class Progress {
  #transient = false;
  readonly #started: number;

  constructor(
    private readonly context: CommandContext,
    private readonly quiet: boolean,
  ) {
    this.#started = context.now().getTime();
  }

  elapsedMs(): number {
    return this.context.now().getTime() - this.#started;
  }

  line(text: string): void {
    if (this.quiet) return;
    this.clear();
    println(this.context, text);
  }

  /** A status line that the next line replaces; only on a terminal. */
  status(text: string): void {
    if (this.quiet || !this.context.stdout.isTTY) return;
    this.context.stdout.write(`\r\u001b[K${this.context.palette.dim(text)}`);
    this.#transient = true;
  }

  clear(): void {
    if (this.#transient) this.context.stdout.write('\r\u001b[K');
    this.#transient = false;
  }

  step(entry: MutableStep): void {
    const p = this.context.palette;
    const at = `+${(this.elapsedMs() / 1000).toFixed(1)} s`.padStart(8);
    const status = entry.status === 'done' ? p.ok('ok'.padEnd(6)) : p.bad('FAILED');
    const duration = entry.durationMs !== null ? formatMs(entry.durationMs).padStart(8) : '';
    const error = entry.errorName
      ? `  ${entry.errorName}${entry.errorMessage ? `: ${entry.errorMessage}` : ''}`
      : '';
    this.line(`  ${at}  ${entry.step.padEnd(12)}  ${status}${duration}${error}`.trimEnd());
  }
}

/** Options of one `rotate`, parsed. */
interface RotateOptions {
  readonly secretId: string;
  readonly localFunction?: string;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly attempts: number;
  readonly logGroup?: string;
  readonly verbose: boolean;
}

function parseOptions(args: Args, context: CommandContext): RotateOptions {
  const secretId = args.positionals[0] as string;
  const localFunction = args.string('local-function');
  if (localFunction !== undefined && !context.localFunctions[localFunction]) {
    throw new UsageError(
      `--local-function must be one of ${Object.keys(context.localFunctions).join(', ')}, got '${localFunction}'`,
      'rotate',
    );
  }
  const verbose = args.flag('verbose');
  if (verbose && args.flag('json')) {
    throw new UsageError(
      "--verbose prints the function's log lines on stdout and cannot be combined with --json",
      'rotate',
    );
  }
  const attemptsRaw = args.string('attempts');
  if (attemptsRaw !== undefined && localFunction === undefined) {
    throw new UsageError(
      '--attempts applies to --local-function only: on AWS, Secrets Manager decides its retries',
      'rotate',
    );
  }
  const logGroup = args.string('log-group');
  return {
    secretId,
    ...(localFunction !== undefined ? { localFunction } : {}),
    timeoutMs: parseDuration('timeout', args.string('timeout') ?? '15m', 'rotate'),
    intervalMs: Math.max(100, parseDuration('interval', args.string('interval') ?? '2s', 'rotate')),
    attempts: attemptsRaw !== undefined ? parsePositiveInteger('attempts', attemptsRaw, 'rotate', 10) : 1,
    ...(logGroup ? { logGroup } : {}),
    verbose,
  };
}

/** `rotate <secret>`. */
export async function runRotate(args: Args, context: CommandContext): Promise<ExitCode> {
  if (isFleetRotation(args)) return runFleetRotate(args, context);
  if (args.positionals.length === 0) {
    throw new UsageError(
      'rotate: missing <secret> (or --all, --tag KEY=VALUE, --file LIST for a fleet)',
      'rotate',
    );
  }
  const fleetOnly = Object.keys(FLEET_OPTIONS).find((name) => args.parsed.values[name] !== undefined);
  if (fleetOnly) {
    throw new UsageError(
      `--${fleetOnly} applies to a fleet (--all, --tag or --file), not to one secret`,
      'rotate',
    );
  }
  const options = parseOptions(args, context);
  let state: SecretState;
  try {
    state = await describeSecret(context.secretsManager, options.secretId);
  } catch (error) {
    throw describeAwsError(error, options.secretId, context.target);
  }
  const stuck = pendingRotation(state);
  if (stuck) {
    throw new CliError(
      `secret ${state.name}: a previous rotation is not complete: AWSPENDING is on version ${stuck}, which is not ` +
        'AWSCURRENT, and Secrets Manager refuses a new rotation until it completes or the label is removed ' +
        `(aws secretsmanager update-secret-version-stage --secret-id ${state.name} --version-stage AWSPENDING ` +
        `--remove-from-version-id ${stuck})`,
    );
  }
  const result = options.localFunction
    ? await rotateLocally(state, options, options.localFunction, context)
    : await rotateOnAws(state, options, context);
  if (context.json) context.stdout.write(toJson(result));
  if (result.succeeded) return ExitCode.OK;
  throw new CliError(failureMessage(result, options));
}

function failureMessage(result: RotateJson, options: RotateOptions): string {
  const version = result.versionId ? ` (version ${result.versionId})` : '';
  switch (result.outcome) {
    case 'failed': {
      const cause = result.error
        ? `${result.error.name ? `${result.error.name}: ` : ''}${result.error.message}`
        : 'unknown';
      const retry =
        result.mode === 'aws'
          ? '; Secrets Manager may retry it with the same version, see `secret-rotation history`'
          : '';
      return `secret ${result.secret}: rotation failed at ${result.error?.step ?? 'an unknown step'}${version}: ${firstLine(cause)}${retry}`;
    }
    case 'abandoned':
      return `secret ${result.secret}: rotation abandoned${version}: AWSPENDING was removed from the new version before it became AWSCURRENT (a PutSecretValue or CancelRotateSecret during the rotation)`;
    case 'timed-out': {
      const seen = [...result.steps].reverse().find((s) => s.status !== 'not-started');
      return (
        `secret ${result.secret}: rotation did not finish within ${formatMs(options.timeoutMs)}${version}; ` +
        `last seen: ${seen ? `${seen.step} ${seen.status}` : 'no step yet'}. It may still complete: check ` +
        `\`secret-rotation history ${result.secret}\`${result.mode === 'aws' ? " and the function's logs" : ''}`
      );
    }
    case 'rotated':
      return `secret ${result.secret}: rotated`;
  }
}

function header(progress: Progress, state: SecretState, what: string, context: CommandContext): void {
  progress.line(`Rotating ${context.palette.bold(state.name)} (${state.arn})`);
  progress.line(`  function: ${what}`);
}

function finishLine(progress: Progress, result: RotateJson, context: CommandContext): void {
  if (result.succeeded) {
    progress.line(
      `${context.palette.ok('Rotated')} ${result.secret} in ${formatMs(result.durationMs)}: AWSCURRENT is now version ${result.versionId}` +
        (result.previousVersionId ? ` (was ${result.previousVersionId}).` : '.'),
    );
  }
  for (const note of result.notes) progress.line(`  note: ${note}`);
}

async function rotateOnAws(
  state: SecretState,
  options: RotateOptions,
  context: CommandContext,
): Promise<RotateJson> {
  if (!state.rotationFunctionArn && !state.owningService) {
    throw new CliError(
      `secret ${state.name}: no rotation function is configured (RotationLambdaARN); configure rotation, or run this ` +
        "project's function in-process with --local-function <kind>",
    );
  }
  const progress = new Progress(context, context.json);
  const notes: string[] = [];
  const before = versionWith(state, Stage.CURRENT) ?? null;
  const started = context.now().getTime();
  let failure: RotateJson['error'] = null;
  const tracker = new StepTracker((entry) => progress.step(entry));
  header(progress, state, state.rotationFunctionArn ?? `managed by ${state.owningService}`, context);

  const logGroup = await findLogGroup(state, options, context, notes);
  const token = randomUUID();
  try {
    await context.secretsManager.send(
      new RotateSecretCommand({ SecretId: state.arn, ClientRequestToken: token, RotateImmediately: true }),
    );
  } catch (error) {
    throw describeAwsError(error, state.name, context.target);
  }
  progress.line(`  version:  ${token}`);

  const deadline = started + options.timeoutMs;
  const seenEvents = new Set<string>();
  let seenPending = false;
  let valueProbe = true;
  let readLogs = logGroup !== undefined && context.logs !== undefined;
  let outcome: RotateOutcome | undefined;
  while (outcome === undefined) {
    let current: SecretState;
    try {
      current = await describeSecret(context.secretsManager, state.arn);
    } catch (error) {
      throw describeAwsError(error, state.name, context.target);
    }
    const labels = current.stages[token] ?? [];
    if (labels.includes(Stage.CURRENT)) {
      tracker.doneBefore(1, RotationStep.FINISH);
      tracker.update(1, RotationStep.FINISH, { status: 'done' });
      outcome = 'rotated';
      break;
    }
    if (labels.includes(Stage.PENDING)) {
      seenPending = true;
      if (valueProbe && tracker.status(1, RotationStep.CREATE) !== 'done') {
        valueProbe = await probePendingValue(state, token, context, notes, () =>
          tracker.update(1, RotationStep.CREATE, { status: 'done' }),
        );
      }
    } else if (seenPending) {
      outcome = 'abandoned';
      break;
    }
    if (readLogs && logGroup && context.logs) {
      try {
        const events = await context.logs.filter(logGroup, `"${token}"`, started - 60_000);
        for (const event of events.sort((a, b) => a.timestamp - b.timestamp)) {
          if (seenEvents.has(event.eventId)) continue;
          seenEvents.add(event.eventId);
          const line = parseRotationLogLine(event.message);
          if (!line?.step || (line.token !== undefined && line.token !== token)) continue;
          if (options.verbose) {
            const error = line.errorName
              ? ` (${line.errorName}${line.errorMessage ? `: ${line.errorMessage}` : ''})`
              : '';
            progress.line(
              context.palette.dim(`    log ${line.level ?? '-'} ${line.step}: ${line.message ?? ''}${error}`),
            );
          }
          if (isStepFailure(line)) {
            tracker.doneBefore(1, line.step);
            failure = {
              step: line.step,
              name: line.errorName ?? null,
              message: line.errorMessage ?? "see the function's logs",
            };
            tracker.update(1, line.step, {
              status: 'failed',
              errorName: line.errorName ?? null,
              errorMessage: line.errorMessage ?? null,
            });
            outcome = 'failed';
            break;
          }
          tracker.doneBefore(1, line.step);
          if (tracker.status(1, line.step) === 'not-started')
            tracker.update(1, line.step, { status: 'running' });
        }
      } catch (error) {
        readLogs = false;
        notes.push(`stopped reading ${logGroup}: ${describeAwsError(error, undefined).message}`);
      }
    }
    if (outcome !== undefined) break;
    if (context.now().getTime() >= deadline) {
      outcome = 'timed-out';
      break;
    }
    const running = tracker.running();
    progress.status(
      `  ... ${running ? `${running.step} ${running.status === 'running' ? 'running' : 'waiting'}` : 'waiting'} (${Math.round(progress.elapsedMs() / 1000)} s)`,
    );
    await context.sleep(Math.min(options.intervalMs, Math.max(0, deadline - context.now().getTime())));
  }
  progress.clear();
  const result: RotateJson = {
    secret: state.name,
    arn: state.arn,
    mode: 'aws',
    rotationFunction: state.rotationFunctionArn ?? null,
    versionId: token,
    previousVersionId: before,
    outcome,
    succeeded: outcome === 'rotated',
    durationMs: context.now().getTime() - started,
    steps: tracker.entries.map((e) => ({ ...e })),
    error: failure,
    notes,
  };
  finishLine(progress, result, context);
  return result;
}

/** Where the function logs: `--log-group`, the function's LoggingConfig, else Lambda's default. */
async function findLogGroup(
  state: SecretState,
  options: RotateOptions,
  context: CommandContext,
  notes: string[],
): Promise<string | undefined> {
  if (!context.logs) {
    notes.push("step-by-step progress and failures need the function's logs, which are not consulted");
    return undefined;
  }
  if (options.logGroup) return options.logGroup;
  if (!state.rotationFunctionArn) return undefined;
  const fallback = `/aws/lambda/${functionNameOf(state.rotationFunctionArn)}`;
  if (!context.functions) return fallback;
  try {
    return (await context.functions.describe(state.rotationFunctionArn)).logGroup ?? fallback;
  } catch (error) {
    notes.push(
      `could not read the function's log group (${error instanceof Error ? error.name : 'error'}); using ${fallback}`,
    );
    return fallback;
  }
}

/**
 * Whether the new version has a value yet (createSecret done). The value is read and dropped at once,
 * never kept or printed. Returns false when reading is not allowed, to stop probing.
 */
async function probePendingValue(
  state: SecretState,
  token: string,
  context: CommandContext,
  notes: string[],
  onFound: () => void,
): Promise<boolean> {
  try {
    const out = await context.secretsManager.send(
      new GetSecretValueCommand({ SecretId: state.arn, VersionId: token, VersionStage: Stage.PENDING }),
    );
    if (out.SecretString !== undefined || out.SecretBinary !== undefined) onFound();
    return true;
  } catch (error) {
    if (isNamed(error, 'ResourceNotFoundException')) return true;
    notes.push(
      `cannot see when createSecret is done: GetSecretValue failed (${error instanceof Error ? error.name : 'error'})`,
    );
    return false;
  }
}

async function rotateLocally(
  state: SecretState,
  options: RotateOptions,
  name: string,
  context: CommandContext,
): Promise<RotateJson> {
  const factory = context.localFunctions[name];
  if (!factory) throw new UsageError(`unknown local function '${name}'`, 'rotate');
  if (!options.verbose) {
    // The function's JSON logs and EMF metrics are for CloudWatch; here they would bury the progress.
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  }
  const progress = new Progress(context, context.json);
  const driver = new RotationDriver(context.clientConfig);
  let handler: (event: unknown) => Promise<unknown>;
  try {
    handler = await factory({
      secretsManager: driver.client,
      clientConfig: context.clientConfig,
      env: context.env,
    });
  } catch (error) {
    if (isNamed(error, 'ConfigurationError')) {
      throw new UsageError(
        `the ${name} function's configuration is invalid: ${firstLine((error as Error).message)}`,
        'rotate',
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  header(progress, state, `local ${name} handler, run in-process (the CLI plays Secrets Manager)`, context);
  const before = versionWith(state, Stage.CURRENT) ?? null;
  const started = context.now().getTime();
  let token: string | null = null;
  let lastError: unknown;
  let attempt = 0;
  const tracker = new StepTracker((entry) => progress.step(entry));
  const observed = async (event: unknown) => {
    const e = event as { ClientRequestToken?: string; Step?: RotationStep };
    if (token === null && e.ClientRequestToken) {
      token = e.ClientRequestToken;
      progress.line(`  version:  ${token}`);
    }
    // The driver starts every attempt with createSecret.
    if (e.Step === RotationStep.CREATE) {
      attempt++;
      if (attempt > 1) {
        progress.line(
          `  attempt ${attempt} of ${options.attempts}, with the same version (as Secrets Manager retries)`,
        );
      }
    }
    if (e.Step) {
      tracker.update(Math.max(attempt, 1), e.Step, { status: 'running' });
      progress.status(`  ... ${e.Step} running`);
    }
    try {
      return await handler(event);
    } catch (error) {
      lastError = error;
      throw error;
    }
  };
  const onStep = (record: StepRecord) => {
    const message = !record.ok && lastError instanceof Error ? firstLine(lastError.message) : null;
    tracker.update(record.attempt, record.step, {
      status: record.ok ? 'done' : 'failed',
      durationMs: record.durationMs,
      errorName: record.errorName ?? null,
      errorMessage: message,
    });
  };
  // A step that hangs (an unreachable database) must not hold the CLI past --timeout.
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed-out'>((resolve) => {
    timer = setTimeout(() => resolve('timed-out'), options.timeoutMs);
    timer.unref?.();
  });
  let outcome: RotateOutcome;
  try {
    const record = await Promise.race([
      driver.rotate(state.arn, observed, { maxAttempts: options.attempts, onStep }),
      timedOut,
    ]);
    outcome = record === 'timed-out' ? 'timed-out' : record.succeeded ? 'rotated' : 'failed';
  } catch (error) {
    throw describeAwsError(error, state.name, context.target);
  } finally {
    clearTimeout(timer);
  }
  progress.clear();
  const failed = [...tracker.entries].reverse().find((e) => e.status === 'failed');
  const result: RotateJson = {
    secret: state.name,
    arn: state.arn,
    mode: 'local',
    rotationFunction: `local:${name}`,
    versionId: token,
    previousVersionId: before,
    outcome,
    succeeded: outcome === 'rotated',
    durationMs: context.now().getTime() - started,
    steps: tracker.entries.map((e) => ({ ...e })),
    error:
      outcome === 'failed' && failed
        ? { step: failed.step, name: failed.errorName, message: failed.errorMessage ?? 'the step failed' }
        : null,
    notes: [],
  };
  finishLine(progress, result, context);
  return result;
}
