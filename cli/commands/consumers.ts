import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConsumerStore, type SecretConsumers } from '../../functions/consumer-tracker/store';
import type { Args, CommandSpec } from '../args';
import { type CommandContext, println } from '../context';
import { parseDuration } from '../duration';
import { CliError, describeAwsError, ExitCode, UsageError } from '../errors';
import { formatDate, formatMs, formatSpan, table, toJson } from '../format';
import { describeSecret, type SecretState } from '../secrets';

/** Environment variable naming the consumer tracker's table when `--table` is not given. */
export const TRACKER_TABLE_VARIABLE = 'SECRET_ROTATION_TRACKER_TABLE';

export const consumersSpec: CommandSpec = {
  name: 'consumers',
  summary: 'which consumers use which version of a secret, and which still use an older one',
  description: [
    "Reads the consumer tracker's table (ConsumerTracker construct): every live consumer of the secret that",
    'reports through the client library (VersionReporter), the version it uses and since when, its last',
    'heartbeat, and whether it is on AWSCURRENT. A consumer on an older version longer than --lag-bound',
    'after the rotation is LAGGING. Consumers that do not use the library do not report and are not listed:',
    "for databases, the rotation's previous-user-checked event counts the live sessions of the old user.",
    `Table: --table, else ${TRACKER_TABLE_VARIABLE}. Never reads a value.`,
  ].join('\n'),
  positionals: [{ name: 'secret', required: true }],
  options: {
    table: { type: 'string', value: '<name>', description: "The consumer tracker's DynamoDB table" },
    'lag-bound': {
      type: 'string',
      value: '<duration>',
      description: 'How long after a rotation a consumer on an older version counts as lagging',
      default: '15m',
    },
    check: { type: 'boolean', description: 'Exit 1 when a consumer is lagging' },
  },
  examples: [
    'secret-rotation consumers prod/orders-app --table prod-consumer-tracker',
    'secret-rotation consumers prod/orders-app --check --lag-bound 5m --json',
  ],
};

/** One consumer in `consumers --json`. */
export interface ConsumerJson {
  readonly service: string;
  readonly instance: string;
  readonly versionId: string;
  /** Labels of the consumer's version now; empty for a deprecated version. */
  readonly stages: readonly string[];
  readonly onCurrent: boolean;
  readonly usingSince: string;
  readonly lastSeen: string;
  /** ms from the rotation to this consumer's first use of the version, when it moved to the latest rotation. */
  readonly updateLatencyMs: number | null;
  /** On an older version longer than the lag bound after the latest rotation. */
  readonly lagging: boolean;
}

/** What `consumers --json` prints. */
export interface ConsumersJson {
  readonly secret: string;
  readonly arn: string;
  readonly currentVersionId: string | null;
  readonly lastRotation: { readonly versionId: string; readonly rotatedAt: string } | null;
  readonly live: number;
  readonly onCurrent: number;
  readonly onOlder: number;
  readonly lagging: number;
  readonly consumers: readonly ConsumerJson[];
}

/** `consumers <secret>`. */
export async function runConsumers(args: Args, context: CommandContext): Promise<ExitCode> {
  const secretId = args.positionals[0] as string;
  const tableName = trackerTable(args, context);
  if (!tableName) {
    throw new UsageError(
      `no tracker table: pass --table or set ${TRACKER_TABLE_VARIABLE}`,
      consumersSpec.name,
    );
  }
  const lagBoundMs = parseDuration('lag-bound', args.string('lag-bound') ?? '15m', consumersSpec.name);
  let state: SecretState;
  try {
    state = await describeSecret(context.secretsManager, secretId);
  } catch (error) {
    throw describeAwsError(error, secretId, context.target);
  }
  const dynamo = new DynamoDBClient(context.clientConfig);
  let tracked: SecretConsumers;
  try {
    tracked = await new ConsumerStore(dynamo, tableName).secret(state.arn, context.now().getTime());
  } catch (error) {
    throw trackerError(error, tableName, state.name);
  } finally {
    dynamo.destroy();
  }
  const report = consumersReport(state, tracked, context.now(), lagBoundMs);
  if (context.json) context.stdout.write(toJson(report));
  else println(context, renderConsumers(report, context));
  return args.flag('check') && report.lagging > 0 ? ExitCode.FAILURE : ExitCode.OK;
}

/** The tracker table of `--table` or the environment. */
export function trackerTable(args: Args, context: Pick<CommandContext, 'env'>): string | undefined {
  return args.string('table') ?? (context.env[TRACKER_TABLE_VARIABLE]?.trim() || undefined);
}

/** A tracker error as one line naming the table. */
export function trackerError(error: unknown, tableName: string, secret: string): CliError {
  const name = error instanceof Error ? error.name : 'Error';
  if (name === 'ResourceNotFoundException') {
    return new CliError(
      `consumer tracker table '${tableName}' does not exist (reading consumers of ${secret})`,
      {
        cause: error,
      },
    );
  }
  if (name === 'AccessDeniedException') {
    return new CliError(
      `not allowed to read consumer tracker table '${tableName}' (dynamodb:Query) for ${secret}`,
      { cause: error },
    );
  }
  return new CliError(`could not read consumer tracker table '${tableName}' for ${secret}: ${name}`, {
    cause: error,
  });
}

/** The report of one secret's consumers. */
export function consumersReport(
  state: SecretState,
  tracked: SecretConsumers,
  now: Date,
  lagBoundMs: number,
): ConsumersJson {
  const currentVersionId =
    Object.entries(state.stages).find(([, stages]) => stages.includes('AWSCURRENT'))?.[0] ?? null;
  const rotation = tracked.rotation;
  const sinceRotation = rotation ? now.getTime() - rotation.rotatedAt : 0;
  const consumers = tracked.consumers.map((c): ConsumerJson => {
    const onCurrent = c.versionId === currentVersionId;
    return {
      service: c.service,
      instance: c.instance,
      versionId: c.versionId,
      stages: [...(state.stages[c.versionId] ?? [])],
      onCurrent,
      usingSince: new Date(c.usedSince).toISOString(),
      lastSeen: new Date(c.lastSeenAt).toISOString(),
      updateLatencyMs:
        rotation && c.versionId === rotation.versionId ? Math.max(0, c.usedSince - rotation.rotatedAt) : null,
      lagging: !onCurrent && rotation !== undefined && sinceRotation > lagBoundMs,
    };
  });
  const onCurrent = consumers.filter((c) => c.onCurrent).length;
  return {
    secret: state.name,
    arn: state.arn,
    currentVersionId,
    lastRotation: rotation
      ? { versionId: rotation.versionId, rotatedAt: new Date(rotation.rotatedAt).toISOString() }
      : null,
    live: consumers.length,
    onCurrent,
    onOlder: consumers.length - onCurrent,
    lagging: consumers.filter((c) => c.lagging).length,
    consumers,
  };
}

/** The human output of `consumers`. */
export function renderConsumers(
  report: ConsumersJson,
  context: Pick<CommandContext, 'palette' | 'now'>,
): string {
  const p = context.palette;
  const now = context.now().getTime();
  const lines = [`${p.bold(report.secret)} (${report.arn})`];
  lines.push(
    report.lastRotation
      ? `last rotation: ${report.lastRotation.versionId} became AWSCURRENT ${formatDate(new Date(report.lastRotation.rotatedAt))} (${formatSpan(now - Date.parse(report.lastRotation.rotatedAt))} ago)`
      : 'last rotation: none seen by the tracker',
  );
  lines.push(
    `${report.live} live consumer(s): ${report.onCurrent} on AWSCURRENT, ${report.onOlder} on an older version` +
      (report.lagging > 0 ? `, ${p.bad(`${report.lagging} LAGGING`)}` : ''),
    '',
  );
  if (report.consumers.length === 0) {
    lines.push('No consumer reports this secret (consumers without the client library never do).');
    return lines.join('\n');
  }
  lines.push(
    table(report.consumers, [
      { header: 'service', value: (c) => c.service },
      { header: 'instance', value: (c) => c.instance },
      { header: 'version', value: (c) => c.versionId },
      {
        header: 'labels',
        value: (c) => (c.stages.length > 0 ? c.stages.join(', ') : '(none: deprecated)'),
        style: (cell, c) => (c.onCurrent ? p.ok(cell) : c.lagging ? p.bad(cell) : p.warn(cell)),
      },
      { header: 'using since', value: (c) => formatDate(new Date(c.usingSince)) },
      {
        header: 'after rotation',
        value: (c) => latencyText(c.updateLatencyMs),
      },
      { header: 'last seen', value: (c) => `${formatSpan(now - Date.parse(c.lastSeen))} ago` },
      {
        header: 'state',
        value: (c) => (c.onCurrent ? 'ok' : c.lagging ? 'LAGGING' : 'moving'),
        style: (cell, c) => (c.onCurrent ? p.ok(cell) : c.lagging ? p.bad(cell) : p.warn(cell)),
      },
    ]),
  );
  return lines.join('\n');
}

/** Per-secret counts for `status`: live consumers, on AWSCURRENT, on an older version. */
export interface ConsumerCountsJson {
  readonly live: number;
  readonly onCurrent: number;
  readonly onOlder: number;
}

/**
 * Reads the consumer counts of secrets from the tracker's table, one Query per secret; `undefined` for a
 * secret the table cannot be read for (the error goes to `onError`).
 */
export async function readConsumerCounts(
  context: Pick<CommandContext, 'clientConfig' | 'now'>,
  tableName: string,
  states: readonly SecretState[],
  onError: (secret: string, error: CliError) => void,
): Promise<Map<string, ConsumerCountsJson>> {
  const dynamo = new DynamoDBClient(context.clientConfig);
  const store = new ConsumerStore(dynamo, tableName);
  const counts = new Map<string, ConsumerCountsJson>();
  try {
    for (const state of states) {
      try {
        const report = consumersReport(
          state,
          await store.secret(state.arn, context.now().getTime()),
          context.now(),
          0,
        );
        counts.set(state.arn, { live: report.live, onCurrent: report.onCurrent, onOlder: report.onOlder });
      } catch (error) {
        onError(state.name, trackerError(error, tableName, state.name));
      }
    }
  } finally {
    dynamo.destroy();
  }
  return counts;
}

/** A `status` cell: `3 (1 older)`, or `-` when unknown. */
export function consumerCountsText(counts: ConsumerCountsJson | null | undefined): string {
  if (!counts) return '-';
  return counts.onOlder > 0 ? `${counts.live} (${counts.onOlder} older)` : `${counts.live}`;
}

function latencyText(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 60_000 ? formatMs(ms) : formatSpan(ms);
}
