import type { Args, CommandSpec } from '../args';
import { type CommandContext, println } from '../context';
import { describeAwsError, ExitCode } from '../errors';
import { formatDate, formatDay, isoOrNull, table, toJson } from '../format';
import {
  describeSecret,
  listVersions,
  pendingRotation,
  type SecretState,
  type VersionInfo,
} from '../secrets';

export const historySpec: CommandSpec = {
  name: 'history',
  summary: "a secret's versions with their labels, creation and last-access dates",
  description: [
    'Lists every version of a secret, newest first (ListSecretVersionIds, all pages, deprecated versions',
    'included): its staging labels, when it was created and last read (AWS records the day only). A version',
    'with no label is deprecated: Secrets Manager deletes it in time. Never reads a value.',
  ].join('\n'),
  positionals: [{ name: 'secret', required: true }],
  options: {},
  examples: ['secret-rotation history prod/orders-app', 'secret-rotation history prod/orders-app --json'],
};

/** One version in `history --json`. */
export interface HistoryVersionJson {
  readonly versionId: string;
  /** Staging labels; empty for a deprecated version. */
  readonly stages: readonly string[];
  readonly createdDate: string | null;
  readonly lastAccessedDate: string | null;
}

/** What `history --json` prints. */
export interface HistoryJson {
  readonly secret: string;
  readonly arn: string;
  readonly rotationEnabled: boolean;
  readonly lastRotated: string | null;
  /** Newest first. */
  readonly versions: readonly HistoryVersionJson[];
}

/** `history <secret>`. */
export async function runHistory(args: Args, context: CommandContext): Promise<ExitCode> {
  const secretId = args.positionals[0] as string;
  let state: SecretState;
  let versions: VersionInfo[];
  try {
    state = await describeSecret(context.secretsManager, secretId);
    versions = await listVersions(context.secretsManager, state.arn);
  } catch (error) {
    throw describeAwsError(error, secretId, context.target);
  }
  const report: HistoryJson = {
    secret: state.name,
    arn: state.arn,
    rotationEnabled: state.rotationEnabled,
    lastRotated: isoOrNull(state.lastRotatedDate),
    versions: versions.map((v) => ({
      versionId: v.versionId,
      stages: [...v.stages],
      createdDate: isoOrNull(v.createdDate),
      lastAccessedDate: isoOrNull(v.lastAccessedDate),
    })),
  };
  if (context.json) {
    context.stdout.write(toJson(report));
    return ExitCode.OK;
  }
  println(context, renderHistory(report, state, versions, context));
  return ExitCode.OK;
}

/** The human output of `history`. */
export function renderHistory(
  report: HistoryJson,
  state: SecretState,
  versions: readonly VersionInfo[],
  context: Pick<CommandContext, 'palette'>,
): string {
  const p = context.palette;
  const lines = [
    `${p.bold(report.secret)} (${report.arn})`,
    `rotation ${report.rotationEnabled ? 'enabled' : 'disabled'}; last rotated ${state.lastRotatedDate ? formatDate(state.lastRotatedDate) : 'never'}`,
    '',
  ];
  if (versions.length === 0) {
    lines.push('No versions.');
    return lines.join('\n');
  }
  lines.push(
    table(versions, [
      { header: 'version', value: (v) => v.versionId },
      {
        header: 'labels',
        value: (v) => (v.stages.length > 0 ? v.stages.join(', ') : '(none: deprecated)'),
        style: (cell, v) =>
          v.stages.includes('AWSCURRENT') ? p.ok(cell) : v.stages.length === 0 ? p.dim(cell) : cell,
      },
      { header: 'created', value: (v) => formatDate(v.createdDate) },
      { header: 'last accessed', value: (v) => formatDay(v.lastAccessedDate) },
    ]),
  );
  const pending = pendingRotation(state);
  if (pending) {
    lines.push(
      '',
      `AWSPENDING is on ${pending}, which is not AWSCURRENT: a rotation is under way or failed.`,
    );
  }
  return lines.join('\n');
}
