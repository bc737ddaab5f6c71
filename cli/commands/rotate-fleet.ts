import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Filter } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { ApprovalStore, ApprovalTag, publishAuditEvent } from '../../functions/approval/approvals';
import { AuditDetailType } from '../../functions/audit/records';
import { countThrottles, ThrottleCount, withThrottleCount } from '../../functions/rotation/throttles';
import { RotationDriver } from '../../local/driver';
import type { Args, OptionSpec } from '../args';
import {
  AUDIT_BUS_ENV,
  auditBusOf,
  callerArn,
  type OperatorEvent,
  publishOperatorEvents,
} from '../audit-events';
import { type CommandContext, println } from '../context';
import { parseDuration, parsePositiveInteger } from '../duration';
import { CliError, describeAwsError, ExitCode, firstLine, isNamed, UsageError } from '../errors';
import { formatMs, table, toJson } from '../format';
import { describeSecret, listSecrets, pendingRotation, type SecretState } from '../secrets';
import { FleetJournal, type FleetMode, FleetOutcome, type FleetSecretResult, rotateFleet } from './fleet';
import {
  minimumSeconds,
  paceClient,
  QuotaPacer,
  SECRETS_MANAGER_QUOTAS,
  UNLISTED_OPERATION_RATE,
} from './quotas';

/** The options `rotate` takes for a fleet (`--all`, `--tag`, `--file`). */
export const FLEET_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  all: { type: 'boolean', description: 'Fleet: rotate every secret of the account and region' },
  tag: {
    type: 'string',
    multiple: true,
    value: '<key=value>',
    description: 'Fleet: rotate every secret with this tag (several: all of them)',
  },
  file: {
    type: 'string',
    value: '<path>',
    description: 'Fleet: rotate the secrets listed in this file, a name or ARN a line (# comments)',
  },
  'dry-run': {
    type: 'boolean',
    description: 'Fleet: list what would rotate and the time it takes; change nothing',
  },
  journal: {
    type: 'string',
    value: '<path>',
    description: 'Fleet: record progress here; run again with the same file to resume (skips what rotated)',
  },
  concurrency: {
    type: 'string',
    value: '<n>',
    description: 'Fleet: rotations in flight at most',
    default: '50',
  },
  'writes-per-rotation': {
    type: 'string',
    value: '<n>',
    description:
      "Fleet: Secrets Manager writes a rotation's function makes (this project's: a PutSecretValue, an UpdateSecretVersionStage)",
    default: '2',
  },
  reason: {
    type: 'string',
    value: '<text>',
    description:
      'Fleet: why; required to bypass the approval of secrets that wait for one (recorded with your AWS identity)',
  },
  'event-bus': {
    type: 'string',
    value: '<name>',
    description: `Fleet: where the run's audit records go (default: each secret's secret-rotation:event-bus tag, else $${AUDIT_BUS_ENV})`,
  },
  'quota-share': {
    type: 'string',
    value: '<fraction>',
    description: "Fleet: share of the account's write and rotate quotas to use, leaving the rest to others",
    default: '1',
  },
};

/** What `rotate --all|--tag|--file --json` prints. */
export interface FleetRotateJson {
  readonly mode: 'aws' | 'local';
  readonly dryRun: boolean;
  readonly selection: {
    readonly all: boolean;
    readonly tags: readonly string[];
    readonly file: string | null;
  };
  readonly pacing: {
    readonly writesPerSecond: number;
    readonly writesPerRotation: number;
    readonly rotationsPerSecond: number;
    readonly concurrency: number;
  };
  /** The time the write quota allows for the secrets to rotate. */
  readonly minimumSeconds: number;
  readonly durationMs: number;
  /**
   * Requests AWS answered with a throttling error during the run, those the SDK then retried successfully
   * included: the CLI's own, and in local mode the rotation function's.
   */
  readonly throttledRequests: number;
  readonly counts: Readonly<Record<FleetOutcome | 'selected', number>>;
  readonly secrets: readonly FleetSecretResult[];
  /** The run's audit records ("Secret Fleet Rotation Started", one a secret started); null for --dry-run. */
  readonly audit: FleetAuditJson | null;
}

/** What a fleet run recorded in the audit trail. */
export interface FleetAuditJson {
  readonly runId: string;
  /** Who started the run (STS GetCallerIdentity); null when no secret had a bus to record it on. */
  readonly actor: string | null;
  readonly selector: string;
  readonly published: number;
  /** Records EventBridge did not take (the run went on; the command exits 1). */
  readonly unpublished: ReadonlyArray<{ readonly secret: string; readonly error: string }>;
  /** Secrets started with no bus known: not in the audit trail. */
  readonly unrecorded: readonly string[];
}

/** Whether the command line asks for a fleet rotation. */
export function isFleetRotation(args: Args): boolean {
  return args.flag('all') || args.strings('tag').length > 0 || args.string('file') !== undefined;
}

interface FleetOptions {
  readonly all: boolean;
  readonly tags: ReadonlyArray<readonly [string, string]>;
  readonly file?: string;
  readonly dryRun: boolean;
  readonly journal?: string;
  readonly concurrency: number;
  readonly writesPerRotation: number;
  readonly share: number;
  readonly localFunction?: string;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly attempts: number;
  readonly reason?: string;
}

function parseFleetOptions(args: Args, context: CommandContext): FleetOptions {
  const all = args.flag('all');
  const rawTags = args.strings('tag');
  const file = args.string('file');
  const selectors = [all, rawTags.length > 0, file !== undefined].filter(Boolean).length;
  if (selectors > 1) throw new UsageError('choose one of --all, --tag and --file', 'rotate');
  if (args.positionals.length > 0) {
    throw new UsageError(
      `a <secret> and --all/--tag/--file cannot be combined, got '${args.positionals[0]}'`,
      'rotate',
    );
  }
  const tags = rawTags.map((raw) => {
    const at = raw.indexOf('=');
    if (at <= 0) throw new UsageError(`--tag must be KEY=VALUE, got '${raw}'`, 'rotate');
    return [raw.slice(0, at), raw.slice(at + 1)] as const;
  });
  const localFunction = args.string('local-function');
  if (localFunction !== undefined && !context.localFunctions[localFunction]) {
    throw new UsageError(
      `--local-function must be one of ${Object.keys(context.localFunctions).join(', ')}, got '${localFunction}'`,
      'rotate',
    );
  }
  if (args.flag('verbose')) throw new UsageError('--verbose applies to one secret, not to a fleet', 'rotate');
  if (args.string('log-group'))
    throw new UsageError('--log-group applies to one secret, not to a fleet', 'rotate');
  const shareRaw = args.string('quota-share') ?? '1';
  const share = Number(shareRaw);
  if (!/^\d*\.?\d+$/.test(shareRaw) || !(share > 0 && share <= 1)) {
    throw new UsageError(`--quota-share must be a fraction in (0, 1], got '${shareRaw}'`, 'rotate');
  }
  const journal = args.string('journal');
  return {
    all,
    tags,
    ...(file !== undefined ? { file } : {}),
    dryRun: args.flag('dry-run'),
    ...(journal !== undefined ? { journal } : {}),
    concurrency: parsePositiveInteger('concurrency', args.string('concurrency') ?? '50', 'rotate', 1000),
    writesPerRotation: parsePositiveInteger(
      'writes-per-rotation',
      args.string('writes-per-rotation') ?? '2',
      'rotate',
      10,
    ),
    share,
    ...(localFunction !== undefined ? { localFunction } : {}),
    timeoutMs: parseDuration('timeout', args.string('timeout') ?? '15m', 'rotate'),
    intervalMs: Math.max(100, parseDuration('interval', args.string('interval') ?? '2s', 'rotate')),
    attempts: parsePositiveInteger('attempts', args.string('attempts') ?? '1', 'rotate', 10),
    ...(args.string('reason')?.trim() ? { reason: (args.string('reason') as string).trim() } : {}),
  };
}

/** The secrets a fleet rotation selects, and those named in `--file` that do not exist. */
async function select(
  options: FleetOptions,
  context: CommandContext,
): Promise<{ targets: SecretState[]; missing: FleetSecretResult[] }> {
  if (options.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (error) {
      throw new UsageError(`--file ${options.file}: cannot read it (${(error as Error).message})`, 'rotate', {
        cause: error,
      });
    }
    const ids = [
      ...new Set(
        text
          .split('\n')
          .map((l) => l.replace(/#.*/, '').trim())
          .filter(Boolean),
      ),
    ];
    const targets: SecretState[] = [];
    const missing: FleetSecretResult[] = [];
    const seen = new Set<string>();
    for (const id of ids) {
      try {
        const state = await describeSecret(context.secretsManager, id);
        if (!seen.has(state.arn)) targets.push(state);
        seen.add(state.arn);
      } catch (error) {
        if (!isNamed(error, 'ResourceNotFoundException')) throw describeAwsError(error, id, context.target);
        missing.push({
          secret: id,
          arn: id,
          outcome: FleetOutcome.FAILED,
          versionId: null,
          previousVersionId: null,
          durationMs: 0,
          reason: 'not found',
        });
      }
    }
    return { targets, missing };
  }
  // ListSecrets matches tag keys and values separately and by prefix: filter to the exact pairs here.
  const filters: Filter[] = options.tags.flatMap(([key, value]) => [
    { Key: 'tag-key', Values: [key] },
    { Key: 'tag-value', Values: [value] },
  ]);
  let listed: SecretState[];
  try {
    listed = await listSecrets(context.secretsManager, filters);
  } catch (error) {
    throw describeAwsError(error, undefined, context.target);
  }
  const targets = listed.filter((s) => options.tags.every(([key, value]) => s.tags[key] === value));
  return { targets, missing: [] };
}

/** `rotate --all | --tag KEY=VALUE | --file LIST`: an emergency rotation of many secrets at the quotas' pace. */
export function runFleetRotate(args: Args, context: CommandContext): Promise<ExitCode> {
  const throttles = new ThrottleCount();
  return withThrottleCount(throttles, () => fleetRotate(args, context, throttles));
}

async function fleetRotate(args: Args, context: CommandContext, throttles: ThrottleCount): Promise<ExitCode> {
  const options = parseFleetOptions(args, context);
  const mode = options.localFunction ? 'local' : 'aws';
  const writesPerSecond = SECRETS_MANAGER_QUOTAS.write.ratePerSecond * options.share;
  const rotationsPerSecond = Math.min(
    SECRETS_MANAGER_QUOTAS.rotate.ratePerSecond * options.share,
    writesPerSecond / options.writesPerRotation,
  );
  const clock = { now: () => context.now().getTime(), sleep: context.sleep };
  const pacer = new QuotaPacer(
    Object.fromEntries(
      Object.entries(SECRETS_MANAGER_QUOTAS).map(([name, group]) => [
        name,
        {
          ...group,
          ratePerSecond:
            name === 'write' || name === 'rotate' ? group.ratePerSecond * options.share : group.ratePerSecond,
        },
      ]),
    ),
    clock,
  );
  paceClient(context.secretsManager, pacer);
  countThrottles(context.secretsManager);
  const journal = options.journal ? openJournal(options.journal) : undefined;
  const { targets, missing } = await select(options, context);
  const gated = targets.filter((t) => t.tags[ApprovalTag.REQUIRED] === 'required');
  if (gated.length > 0 && !options.reason && !options.dryRun) {
    throw new UsageError(
      `${gated.length} selected secret(s) wait for a person's approval (${gated
        .slice(0, 5)
        .map((t) => t.name)
        .join(
          ', ',
        )}${gated.length > 5 ? ', ...' : ''}): an emergency rotation bypasses it only with --reason, which is recorded with your AWS identity`,
      'rotate',
    );
  }
  const started = context.now().getTime();
  const selection = {
    all: options.all,
    tags: options.tags.map(([k, v]) => `${k}=${v}`),
    file: options.file ?? null,
  };
  const pacing = {
    writesPerSecond,
    writesPerRotation: options.writesPerRotation,
    rotationsPerSecond,
    concurrency: options.concurrency,
  };

  if (options.dryRun) {
    const plan = targets.map((t) => planOf(t, mode, journal));
    const results = [...plan, ...missing];
    const toRotate = plan.filter((r) => r.outcome === FleetOutcome.ROTATED).length;
    const report: FleetRotateJson = {
      mode,
      dryRun: true,
      selection,
      pacing,
      minimumSeconds: round(minimumSeconds(toRotate, options.writesPerRotation, writesPerSecond), 1),
      durationMs: 0,
      throttledRequests: throttles.value,
      counts: counts(results),
      secrets: results,
      audit: null,
    };
    if (context.json) context.stdout.write(toJson(report));
    else printDryRun(report, context);
    return ExitCode.OK;
  }

  let handlerFactory: FleetMode | undefined;
  if (mode === 'local') {
    const factory = context.localFunctions[options.localFunction as string];
    if (!factory) throw new UsageError(`unknown local function '${options.localFunction}'`, 'rotate');
    // The function's JSON logs and EMF metrics are for CloudWatch; here they would bury the progress.
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    const driver = new RotationDriver(context.clientConfig);
    paceClient(driver.client, pacer);
    countThrottles(driver.client);
    handlerFactory = {
      kind: 'local',
      driver,
      handler: async () => {
        try {
          return await factory({
            secretsManager: driver.client,
            clientConfig: context.clientConfig,
            env: context.env,
          });
        } catch (error) {
          if (isNamed(error, 'ConfigurationError')) {
            throw new UsageError(
              `the ${options.localFunction} function's configuration is invalid: ${firstLine((error as Error).message)}`,
              'rotate',
              { cause: error },
            );
          }
          throw error;
        }
      },
      attempts: options.attempts,
      timeoutMs: options.timeoutMs,
    };
  } else {
    handlerFactory = {
      kind: 'aws',
      secretsManager: context.secretsManager,
      pollIntervalMs: options.intervalMs,
      timeoutMs: options.timeoutMs,
    };
  }
  // Who started the emergency rotation of which secrets, before the first one starts.
  const audit = await recordFleetRun(
    context,
    options,
    args.string('event-bus'),
    selection,
    targets,
    mode,
    journal,
  );
  const bar = new ProgressBar(context, targets.length, started);
  if (!context.json) {
    println(
      context,
      `Rotating ${targets.length} secret(s) ${mode === 'local' ? `with the local ${options.localFunction} function` : 'through their rotation functions'}, ` +
        `at most ${round(rotationsPerSecond, 2)} a second (${round(writesPerSecond, 2)} writes/s, ${options.writesPerRotation} a rotation), ${options.concurrency} at a time`,
    );
    for (const m of missing) bar.line(`  ${context.palette.bad('FAILED')}  ${m.secret}: ${m.reason}`);
  }
  const bypass = gated.length > 0 ? approvalBypass(context, options.reason as string) : undefined;
  const results = await rotateFleet(targets, {
    ...(bypass ? { beforeStart: bypass } : {}),
    mode: handlerFactory,
    secretsManager: context.secretsManager,
    concurrency: options.concurrency,
    starts: new QuotaPacer(
      { start: { ratePerSecond: rotationsPerSecond, operations: ['start'] } },
      clock,
      UNLISTED_OPERATION_RATE,
      1,
    ),
    ...(journal ? { journal } : {}),
    now: context.now,
    sleep: context.sleep,
    onProgress: (event) => {
      if (context.json) return;
      if (event.type === 'start') bar.started();
      else if (event.result) bar.ended(event.result);
    },
  });
  bar.clear();
  const all = [...results, ...missing];
  const rotated = results.filter((r) => r.outcome === FleetOutcome.ROTATED).length;
  const report: FleetRotateJson = {
    mode,
    dryRun: false,
    selection,
    pacing,
    minimumSeconds: round(minimumSeconds(rotated, options.writesPerRotation, writesPerSecond), 1),
    durationMs: context.now().getTime() - started,
    throttledRequests: throttles.value,
    counts: counts(all),
    secrets: all,
    audit,
  };
  if (context.json) context.stdout.write(toJson(report));
  else printSummary(report, context);
  if (!context.json && audit.published > 0) {
    println(
      context,
      `Recorded in the audit trail: ${audit.published} record(s) of run ${audit.runId} by ${audit.actor}.`,
    );
  }
  if (audit.unrecorded.length > 0) {
    context.stderr.write(
      `warning: ${audit.unrecorded.length} secret(s) rotated without an audit record: no event bus (pass --event-bus, tag them secret-rotation:event-bus, or set ${AUDIT_BUS_ENV}): ${audit.unrecorded.slice(0, 5).join(', ')}${audit.unrecorded.length > 5 ? ', ...' : ''}\n`,
    );
  }
  const failed = report.counts.failed;
  if (failed > 0) {
    throw new CliError(
      `${failed} of ${all.length} secret(s) failed to rotate (listed above${options.journal ? `; run again with --journal ${options.journal} to retry them and skip the rotated ones` : ''})`,
    );
  }
  if (audit.unpublished.length > 0) {
    throw new CliError(
      `fleet run ${audit.runId}: the rotations went on, but ${audit.unpublished.length} audit record(s) were NOT published (${audit.unpublished
        .slice(0, 3)
        .map((u) => `${u.secret}: ${u.error}`)
        .join('; ')}${audit.unpublished.length > 3 ? '; ...' : ''}); record them by hand`,
    );
  }
  return ExitCode.OK;
}

/**
 * Publishes "Secret Fleet Rotation Started", one record a secret the run starts (those the plan rotates),
 * with the caller's STS identity, the run id, the selector and the reason, batched (PutEvents: 10 entries and
 * 256 KB a call), on each secret's bus. A record EventBridge does not take is reported, never stops the run.
 */
async function recordFleetRun(
  context: CommandContext,
  options: FleetOptions,
  busFlag: string | undefined,
  selection: { readonly all: boolean; readonly tags: readonly string[]; readonly file: string | null },
  targets: readonly SecretState[],
  mode: 'aws' | 'local',
  journal: FleetJournal | undefined,
): Promise<FleetAuditJson> {
  const runId = randomUUID();
  const selector = selection.all
    ? '--all'
    : selection.file !== null
      ? `--file ${selection.file}`
      : selection.tags.map((t) => `--tag ${t}`).join(' ');
  const starting = targets.filter((t) => planOf(t, mode, journal).outcome === FleetOutcome.ROTATED);
  const withBus = starting.map((t) => ({ target: t, bus: auditBusOf(busFlag, t.tags, context.env) }));
  const unrecorded = withBus.filter((w) => !w.bus).map((w) => w.target.name);
  const recorded = withBus.filter((w): w is { target: SecretState; bus: string } => w.bus !== undefined);
  if (recorded.length === 0)
    return { runId, actor: null, selector, published: 0, unpublished: [], unrecorded };
  const actor = await callerArn(context, 'rotate');
  const events: OperatorEvent[] = recorded.map(({ target, bus }) => ({
    busName: bus,
    detailType: AuditDetailType.FLEET_ROTATION,
    secretArn: target.arn,
    detail: {
      actor,
      runId,
      selector,
      ...(options.reason ? { reason: options.reason } : {}),
      note: `fleet run ${runId} (${selector}), ${starting.length} secret(s)`,
    },
  }));
  const failed = await publishOperatorEvents(context, events);
  const names = new Map(targets.map((t) => [t.arn, t.name]));
  const unpublished = failed.map((f) => ({ secret: names.get(f.secretArn) ?? f.secretArn, error: f.error }));
  for (const u of unpublished) {
    context.stderr.write(`warning: audit record of ${u.secret} NOT published: ${u.error}\n`);
  }
  return { runId, actor, selector, published: events.length - failed.length, unpublished, unrecorded };
}

/**
 * Records, before the rotation of a secret that waits for approval starts, that an emergency rotation
 * bypassed it: in the secret's approvals table (tags) and as an event, with the caller's STS identity.
 */
function approvalBypass(context: CommandContext, reason: string): (target: SecretState) => Promise<void> {
  let actor: Promise<string> | undefined;
  return async (target) => {
    if (target.tags[ApprovalTag.REQUIRED] !== 'required') return;
    const table = target.tags[ApprovalTag.TABLE];
    if (!table)
      throw new Error(
        `waits for approval but has no ${ApprovalTag.TABLE} tag: the bypass cannot be recorded`,
      );
    actor ??= new STSClient(context.clientConfig)
      .send(new GetCallerIdentityCommand({}))
      .then((out) => out.Arn ?? 'unknown');
    const store = new ApprovalStore(new DynamoDBClient(context.clientConfig), table);
    const record = await store.bypass({
      secretArn: target.arn,
      actor: await actor,
      reason,
      now: context.now(),
      retentionDays: 400,
    });
    const bus = target.tags[ApprovalTag.EVENT_BUS];
    await publishAuditEvent(
      bus ? new EventBridgeClient(context.clientConfig) : undefined,
      bus,
      AuditDetailType.BYPASSED,
      record,
      { note: 'fleet rotation' },
    );
  };
}

function openJournal(path: string): FleetJournal {
  try {
    return new FleetJournal(path);
  } catch (error) {
    throw new UsageError(`--journal ${firstLine((error as Error).message)}`, 'rotate', { cause: error });
  }
}

function planOf(
  target: SecretState,
  mode: 'aws' | 'local',
  journal: FleetJournal | undefined,
): FleetSecretResult {
  const base = {
    secret: target.name,
    arn: target.arn,
    versionId: null,
    previousVersionId: null,
    durationMs: 0,
  };
  const last = journal?.last(target.arn);
  if (last && (last.event === 'rotated' || target.stages[last.versionId]?.includes('AWSCURRENT'))) {
    return { ...base, versionId: last.versionId, outcome: FleetOutcome.ALREADY_ROTATED, reason: null };
  }
  if (mode === 'aws' && !target.rotationFunctionArn && !target.owningService) {
    return {
      ...base,
      outcome: FleetOutcome.SKIPPED,
      reason: 'no rotation function is configured (RotationLambdaARN)',
    };
  }
  const stuck = pendingRotation(target);
  if (stuck && !(last?.event === 'started' && last.versionId === stuck && mode === 'aws')) {
    return {
      ...base,
      outcome: FleetOutcome.FAILED,
      reason: `a previous rotation is not complete: AWSPENDING is on version ${stuck}`,
    };
  }
  return { ...base, outcome: FleetOutcome.ROTATED, reason: null };
}

function counts(results: readonly FleetSecretResult[]): Record<FleetOutcome | 'selected', number> {
  const out: Record<FleetOutcome | 'selected', number> = {
    selected: results.length,
    rotated: 0,
    'already-rotated': 0,
    failed: 0,
    skipped: 0,
  };
  for (const r of results) out[r.outcome]++;
  return out;
}

function printDryRun(report: FleetRotateJson, context: CommandContext): void {
  const words: Record<FleetOutcome, string> = {
    rotated: 'would rotate',
    'already-rotated': 'already rotated (journal)',
    failed: 'would fail',
    skipped: 'skip',
  };
  println(
    context,
    table(report.secrets, [
      { header: 'secret', value: (r) => r.secret },
      { header: 'plan', value: (r) => words[r.outcome] },
      { header: 'why', value: (r) => r.reason ?? '' },
    ]),
  );
  println(context);
  println(
    context,
    `Dry run: ${report.counts.rotated} would rotate, ${report.counts['already-rotated']} already rotated, ` +
      `${report.counts.skipped} skipped, ${report.counts.failed} would fail. Nothing was changed.`,
  );
  println(
    context,
    `At ${report.pacing.writesPerSecond} writes/s and ${report.pacing.writesPerRotation} writes a rotation, the write quota allows it in ${report.minimumSeconds} s at best.`,
  );
}

function printSummary(report: FleetRotateJson, context: CommandContext): void {
  const c = report.counts;
  println(
    context,
    `Done in ${formatMs(report.durationMs)}: ${c.rotated} rotated, ${c['already-rotated']} already rotated, ` +
      `${c.skipped} skipped, ${c.failed} failed (of ${c.selected}); the write quota allows ${report.minimumSeconds} s at best; ` +
      `AWS throttled ${report.throttledRequests} request(s).`,
  );
}

/** A progress bar on a terminal, redrawn in place; elsewhere a line a finished secret. */
class ProgressBar {
  #done = 0;
  #inFlight = 0;
  #failed = 0;
  #drawn = false;

  constructor(
    private readonly context: CommandContext,
    private readonly total: number,
    private readonly startedAt: number,
  ) {}

  started(): void {
    this.#inFlight++;
    this.#draw();
  }

  ended(result: FleetSecretResult): void {
    this.#inFlight--;
    this.#done++;
    const p = this.context.palette;
    if (result.outcome === FleetOutcome.FAILED) {
      this.#failed++;
      this.line(`  ${p.bad('FAILED')}  ${result.secret}: ${result.reason ?? 'unknown'}`);
    } else if (!this.context.stdout.isTTY) {
      const word = result.outcome === FleetOutcome.ROTATED ? p.ok('rotated') : result.outcome;
      this.line(
        `  ${word}  ${result.secret}${result.versionId ? `  ${result.versionId}` : ''}${result.reason ? `  (${result.reason})` : ''}`,
      );
    }
    this.#draw();
  }

  line(text: string): void {
    this.clear();
    println(this.context, text);
  }

  clear(): void {
    if (this.#drawn) this.context.stdout.write('\r\u001b[K');
    this.#drawn = false;
  }

  #draw(): void {
    if (!this.context.stdout.isTTY) return;
    const width = 30;
    const filled = this.total === 0 ? width : Math.round((this.#done / this.total) * width);
    const elapsed = (this.context.now().getTime() - this.startedAt) / 1000;
    const rate = elapsed > 0 ? this.#done / elapsed : 0;
    const eta = rate > 0 ? `${Math.ceil((this.total - this.#done) / rate)} s` : '-';
    this.context.stdout.write(
      `\r\u001b[K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.total}` +
        `  ${this.#failed} failed  ${this.#inFlight} in flight  ${rate.toFixed(1)}/s  eta ${eta}`,
    );
    this.#drawn = true;
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
