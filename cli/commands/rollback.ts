import { GetSecretValueCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { AuditDetailType } from '../../functions/audit/records';
import { Stage } from '../../functions/rotation/constants';
import type { Args, CommandSpec } from '../args';
import { AUDIT_BUS_ENV, auditBusOf, callerArn, publishOperatorEvents } from '../audit-events';
import { type CommandContext, println } from '../context';
import { CliError, describeAwsError, ExitCode, UsageError } from '../errors';
import { toJson } from '../format';
import {
  cachedFunctionInfo,
  KINDS,
  kindLabel,
  parseStrategyFlag,
  type RotationKind,
  resolveKind,
  STRATEGY_KINDS,
} from '../kind';
import { decideRollback, type RollbackDecision } from '../rollback-policy';
import { describeSecret, pendingRotation, type SecretState, versionWith } from '../secrets';

export const rollbackSpec: CommandSpec = {
  name: 'rollback',
  summary: 'move AWSCURRENT back to AWSPREVIOUS where the rotation strategy allows it',
  description: [
    'Moves AWSCURRENT back to the AWSPREVIOUS version (UpdateSecretVersionStage with RemoveFromVersionId = the',
    'current version; Secrets Manager then moves AWSPREVIOUS to the version that was current), when the',
    'previous value still works at its target:',
    '  database/alternating-users  allowed: the previous user keeps its password',
    '  database/single-user        refused: the old password no longer works at the database',
    '  database/rds-master         refused: the same, through the RDS API',
    '  jwt                         allowed while the previous signing key is still published',
    '  api-key                     allowed while the previous key is not revoked',
    'Refused too while a rotation is in progress (AWSPENDING on a version that is not AWSCURRENT) and when',
    'there is no AWSPREVIOUS.',
    '',
    'The kind and strategy come from, in order: --strategy; the tags secret-rotation:kind and',
    "secret-rotation:strategy; the rotation function's ROTATION_KIND/ROTATION_STRATEGY (when",
    'lambda:GetFunctionConfiguration is allowed); the shape of the current value (read, never printed).',
    '',
    'Changes nothing without confirmation: --yes, or an answer on a terminal; --dry-run shows the plan.',
    '',
    'A rollback needs --reason. It is recorded in the audit trail (RotationAudit) as a "Secret Rolled Back"',
    'event with your AWS identity (STS GetCallerIdentity), the reason and the versions AWSCURRENT moved',
    `between, on --event-bus, else the secret's secret-rotation:event-bus tag, else $${AUDIT_BUS_ENV}.`,
    'With no bus known the rollback goes ahead with a warning that it is not recorded; when the event cannot be',
    'published after the labels moved, the rollback stands and the command exits 1 saying so.',
  ].join('\n'),
  positionals: [{ name: 'secret', required: true }],
  options: {
    strategy: {
      type: 'string',
      value: '<name>',
      description: `A strategy (${Object.keys(STRATEGY_KINDS).join(', ')}), a kind (${KINDS.join(', ')}), or <kind>/<strategy>`,
    },
    reason: {
      type: 'string',
      value: '<text>',
      description: 'Why (recorded with your AWS identity in the audit trail); required unless --dry-run',
    },
    'event-bus': {
      type: 'string',
      value: '<name>',
      description: `Where the audit event goes (default: the secret's secret-rotation:event-bus tag, else $${AUDIT_BUS_ENV})`,
    },
    yes: { type: 'boolean', short: 'y', description: 'Roll back without asking' },
    'dry-run': { type: 'boolean', description: 'Show what would move, change nothing' },
  },
  examples: [
    'secret-rotation rollback prod/orders-app --dry-run',
    'secret-rotation rollback prod/orders-app --yes --reason "INC-77: the new password breaks the reporting job"',
    'secret-rotation rollback prod/signing-key --strategy jwt --yes --reason "INC-78" --json',
  ],
};

/** A label move, planned or done. */
export interface LabelMoveJson {
  readonly stage: string;
  /** The version the label was on; null when it was on none. */
  readonly from: string | null;
  /** The version the label is on now; null when it was removed. */
  readonly to: string | null;
}

/** What `rollback --json` prints. */
export interface RollbackJson {
  readonly secret: string;
  readonly arn: string;
  readonly kind: string | null;
  readonly strategy: string | null;
  /** Where the kind came from: `--strategy`, `tags`, `rotation function environment`, `secret value shape`. */
  readonly kindSource: string | null;
  readonly allowed: boolean;
  readonly reason: string;
  readonly dryRun: boolean;
  readonly rolledBack: boolean;
  /** The version that was AWSCURRENT. */
  readonly fromVersionId: string | null;
  /** The version AWSCURRENT moves to (AWSPREVIOUS before). */
  readonly toVersionId: string | null;
  /** Planned moves when nothing changed; observed moves after a rollback. */
  readonly moves: readonly LabelMoveJson[];
  readonly notes: readonly string[];
  /** The audit record of a rollback that was done; null for a dry run or a refusal. */
  readonly audit: RollbackAuditJson | null;
}

/** The audit event of a rollback. */
export interface RollbackAuditJson {
  /** The operator's --reason. */
  readonly reason: string;
  /** Who rolled back (STS GetCallerIdentity); null when no bus was known (nothing to record it with). */
  readonly actor: string | null;
  readonly eventBus: string | null;
  readonly published: boolean;
  /** Why the event was not published. */
  readonly error: string | null;
}

/** `rollback <secret>`. */
export async function runRollback(args: Args, context: CommandContext): Promise<ExitCode> {
  const secretId = args.positionals[0] as string;
  const dryRun = args.flag('dry-run');
  const yes = args.flag('yes');
  const flag = args.string('strategy');
  if (flag !== undefined) parseStrategyFlag(flag, 'rollback');
  if (dryRun && yes) throw new UsageError('--dry-run and --yes contradict each other', 'rollback');
  const canAsk = context.interactive && !context.json;
  if (!dryRun && !yes && !canAsk) {
    throw new UsageError(
      'rollback moves AWSCURRENT: pass --yes to confirm, or --dry-run to see what would move',
      'rollback',
    );
  }
  const why = args.string('reason')?.trim();
  if (!dryRun && !why) {
    throw new UsageError(
      'rollback: --reason is required: say why, it is recorded in the audit trail',
      'rollback',
    );
  }
  if (why && why.length > 500)
    throw new UsageError('rollback: --reason must be at most 500 characters', 'rollback');

  let state: SecretState;
  try {
    state = await describeSecret(context.secretsManager, secretId);
  } catch (error) {
    throw describeAwsError(error, secretId, context.target);
  }
  const current = versionWith(state, Stage.CURRENT);
  const previous = versionWith(state, Stage.PREVIOUS);
  const result = (fields: {
    kind?: RotationKind;
    decision: RollbackDecision;
    rolledBack: boolean;
    moves: readonly LabelMoveJson[];
    audit?: RollbackAuditJson;
  }): RollbackJson => ({
    secret: state.name,
    arn: state.arn,
    kind: fields.kind?.kind ?? null,
    strategy:
      fields.kind?.strategy ?? (fields.kind?.alternatives ? fields.kind.alternatives.join('|') : null),
    kindSource: fields.kind?.kindSource ?? null,
    allowed: fields.decision.allowed,
    reason: fields.decision.reason,
    dryRun,
    rolledBack: fields.rolledBack,
    fromVersionId: current ?? null,
    toVersionId: previous ?? null,
    moves: fields.moves,
    notes: fields.kind?.notes ?? [],
    audit: fields.audit ?? null,
  });
  const refuse = (reason: string, kind?: RotationKind): never => {
    if (context.json) {
      const decision = { allowed: false, reason };
      context.stdout.write(
        toJson(result({ ...(kind ? { kind } : {}), decision, rolledBack: false, moves: [] })),
      );
    }
    throw new CliError(`secret ${state.name}: rollback refused: ${reason}`);
  };

  if (!context.json) println(context, `Rolling back ${context.palette.bold(state.name)} (${state.arn})`);
  const pending = pendingRotation(state);
  if (pending) {
    refuse(
      `a rotation is in progress (AWSPENDING is on version ${pending}, which is not AWSCURRENT); let it finish or clear it first`,
    );
  }
  if (!current) refuse('the secret has no AWSCURRENT version');
  if (!previous) refuse('there is no AWSPREVIOUS version to go back to');
  const from = current as string;
  const to = previous as string;

  const functions = context.functions ? cachedFunctionInfo(context.functions) : undefined;
  const kind = await resolveKind(state, {
    ...(flag ? { flag } : {}),
    ...(functions ? { functions } : {}),
    secretsManager: context.secretsManager,
    command: 'rollback',
  });
  if (!context.json) {
    println(context, `  kind:     ${kindLabel(kind)}${kind.kindSource ? ` (from ${sourceText(kind)})` : ''}`);
    for (const note of kind.notes) println(context, `  note:     ${note}`);
  }
  let decision: RollbackDecision;
  try {
    decision = await decideRollback(kind, {
      secret: state,
      currentVersionId: from,
      previousVersionId: to,
      currentValue: () => readJson(context, state.arn, from),
      previousValue: () => readJson(context, state.arn, to),
      now: context.now(),
    });
  } catch (error) {
    throw describeAwsError(error, state.name, context.target);
  }
  if (!decision.allowed) refuse(decision.reason, kind);

  const leftoverPending = state.stages[from]?.includes(Stage.PENDING) === true;
  const planned: LabelMoveJson[] = [
    ...(leftoverPending ? [{ stage: Stage.PENDING, from, to: null }] : []),
    { stage: Stage.CURRENT, from, to },
    { stage: Stage.PREVIOUS, from: to, to: from },
  ];
  if (!context.json) {
    println(context, `  allowed:  ${decision.reason}`);
    println(context, `  plan:     AWSCURRENT ${from} -> ${to}`);
    if (leftoverPending)
      println(context, `            AWSPENDING removed from ${from} (left there by the last rotation)`);
  }

  if (dryRun) {
    if (context.json) {
      context.stdout.write(toJson(result({ kind, decision, rolledBack: false, moves: planned })));
    } else {
      println(context, 'Dry run: nothing changed. Run again with --yes to roll back.');
    }
    return ExitCode.OK;
  }
  if (!yes && !(await context.confirm(`Move AWSCURRENT of ${state.name} back to ${to}? [y/N] `))) {
    throw new CliError(`secret ${state.name}: rollback not confirmed; nothing changed`);
  }
  // Who rolls back is known before anything moves: a rollback whose author cannot be told does not start.
  const busName = auditBusOf(args.string('event-bus'), state.tags, context.env);
  const actor = busName ? await callerArn(context, 'rollback') : undefined;

  try {
    // AWSPENDING left on the current version would become a "rotation in progress" once AWSCURRENT leaves it.
    if (leftoverPending) {
      await context.secretsManager.send(
        new UpdateSecretVersionStageCommand({
          SecretId: state.arn,
          VersionStage: Stage.PENDING,
          RemoveFromVersionId: from,
        }),
      );
    }
    await context.secretsManager.send(
      new UpdateSecretVersionStageCommand({
        SecretId: state.arn,
        VersionStage: Stage.CURRENT,
        MoveToVersionId: to,
        RemoveFromVersionId: from,
      }),
    );
  } catch (error) {
    throw describeAwsError(error, state.name, context.target);
  }
  let after: SecretState;
  try {
    after = await describeSecret(context.secretsManager, state.arn);
  } catch (error) {
    throw describeAwsError(error, state.name, context.target);
  }
  const moves: LabelMoveJson[] = [Stage.CURRENT, Stage.PREVIOUS, Stage.PENDING]
    .map((stage) => ({
      stage,
      from: versionWith(state, stage) ?? null,
      to: versionWith(after, stage) ?? null,
    }))
    .filter((m) => m.from !== m.to);
  const audit = await recordRollback(context, {
    busName,
    actor,
    reason: why as string,
    state,
    from,
    to,
    kind,
  });
  if (context.json) {
    context.stdout.write(toJson(result({ kind, decision, rolledBack: true, moves, audit })));
  } else {
    println(context, `${context.palette.ok('Rolled back')} ${state.name}:`);
    for (const m of moves) {
      const by = m.stage === Stage.PREVIOUS ? '  (moved by Secrets Manager)' : '';
      println(context, `  ${m.stage.padEnd(11)}  ${m.from ?? '(none)'} -> ${m.to ?? '(none)'}${by}`);
    }
    println(
      context,
      "Consumers on the client library pick this up from Secrets Manager's label-change event, or at their next refresh.",
    );
    if (audit.published) println(context, `Recorded in the audit trail (bus ${audit.eventBus}) as ${actor}.`);
  }
  if (!busName) {
    context.stderr.write(
      `warning: secret ${state.name}: the rollback is NOT in the audit trail: no event bus (pass --event-bus, tag the secret secret-rotation:event-bus, or set ${AUDIT_BUS_ENV})\n`,
    );
  }
  if (!audit.published && busName) {
    throw new CliError(
      `secret ${state.name}: rolled back (AWSCURRENT ${from} -> ${to}; the rollback stands), but its audit event was NOT published to ${busName}: ${audit.error}; record it by hand`,
    );
  }
  return ExitCode.OK;
}

/** Publishes the "Secret Rolled Back" audit event; a failure is returned, never thrown (the labels moved). */
async function recordRollback(
  context: CommandContext,
  r: {
    busName: string | undefined;
    actor: string | undefined;
    reason: string;
    state: SecretState;
    from: string;
    to: string;
    kind: RotationKind;
  },
): Promise<RollbackAuditJson> {
  const base = { reason: r.reason, actor: r.actor ?? null, eventBus: r.busName ?? null };
  if (!r.busName || !r.actor) return { ...base, published: false, error: 'no event bus' };
  const failed = await publishOperatorEvents(context, [
    {
      busName: r.busName,
      detailType: AuditDetailType.ROLLED_BACK,
      secretArn: r.state.arn,
      detail: {
        actor: r.actor,
        reason: r.reason,
        fromVersionId: r.from,
        toVersionId: r.to,
        versionId: r.to,
        kind: r.kind.kind ?? null,
        strategy: r.kind.strategy ?? null,
        note: `AWSCURRENT back from ${r.from}`,
      },
    },
  ]);
  return { ...base, published: failed.length === 0, error: failed[0]?.error ?? null };
}

function sourceText(kind: RotationKind): string {
  if (!kind.strategySource || kind.strategySource === kind.kindSource) return kind.kindSource ?? '';
  return `${kind.kindSource}; strategy from ${kind.strategySource}`;
}

/** A version's value parsed as JSON for a policy to look at; undefined when it is not JSON. Never printed. */
async function readJson(context: CommandContext, arn: string, versionId: string): Promise<unknown> {
  const out = await context.secretsManager.send(
    new GetSecretValueCommand({ SecretId: arn, VersionId: versionId }),
  );
  if (out.SecretString === undefined) return undefined;
  try {
    return JSON.parse(out.SecretString);
  } catch {
    return undefined;
  }
}
