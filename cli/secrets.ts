import {
  DescribeSecretCommand,
  type DescribeSecretResponse,
  type Filter,
  type FilterNameStringType,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  type SecretListEntry,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { Stage } from '../functions/rotation/constants';
import { pendingInProgress } from '../functions/rotation/secrets-store';

/** A secret's rotation configuration as Secrets Manager reports it. */
export interface RotationRules {
  readonly automaticallyAfterDays?: number;
  readonly scheduleExpression?: string;
  readonly duration?: string;
}

/** What the CLI knows of a secret from `DescribeSecret` or `ListSecrets`: metadata, never a value. */
export interface SecretState {
  readonly arn: string;
  readonly name: string;
  readonly rotationEnabled: boolean;
  readonly rotationFunctionArn?: string;
  /** Set for secrets managed by another service (RDS-managed master secrets). */
  readonly owningService?: string;
  readonly rules?: RotationRules;
  readonly createdDate?: Date;
  readonly lastRotatedDate?: Date;
  readonly nextRotationDate?: Date;
  readonly tags: Readonly<Record<string, string>>;
  /** Version id → staging labels. */
  readonly stages: Readonly<Record<string, readonly string[]>>;
}

/** One version of a secret (`ListSecretVersionIds`). */
export interface VersionInfo {
  readonly versionId: string;
  readonly stages: readonly string[];
  readonly createdDate?: Date;
  readonly lastAccessedDate?: Date;
}

type Described = Pick<
  DescribeSecretResponse,
  | 'ARN'
  | 'Name'
  | 'RotationEnabled'
  | 'RotationLambdaARN'
  | 'OwningService'
  | 'RotationRules'
  | 'CreatedDate'
  | 'LastRotatedDate'
  | 'NextRotationDate'
  | 'Tags'
>;

function toState(
  out: Described,
  stages: DescribeSecretResponse['VersionIdsToStages'],
  fallbackId: string,
): SecretState {
  const rules: RotationRules = {
    ...(out.RotationRules?.AutomaticallyAfterDays !== undefined
      ? { automaticallyAfterDays: out.RotationRules.AutomaticallyAfterDays }
      : {}),
    ...(out.RotationRules?.ScheduleExpression
      ? { scheduleExpression: out.RotationRules.ScheduleExpression }
      : {}),
    ...(out.RotationRules?.Duration ? { duration: out.RotationRules.Duration } : {}),
  };
  const tags: Record<string, string> = {};
  for (const tag of out.Tags ?? []) if (tag.Key) tags[tag.Key] = tag.Value ?? '';
  const labels: Record<string, readonly string[]> = {};
  for (const [versionId, list] of Object.entries(stages ?? {})) labels[versionId] = list ?? [];
  return {
    arn: out.ARN ?? fallbackId,
    name: out.Name ?? fallbackId,
    rotationEnabled: out.RotationEnabled === true,
    ...(out.RotationLambdaARN ? { rotationFunctionArn: out.RotationLambdaARN } : {}),
    ...(out.OwningService ? { owningService: out.OwningService } : {}),
    ...(Object.keys(rules).length > 0 ? { rules } : {}),
    ...(out.CreatedDate ? { createdDate: out.CreatedDate } : {}),
    ...(out.LastRotatedDate ? { lastRotatedDate: out.LastRotatedDate } : {}),
    ...(out.NextRotationDate ? { nextRotationDate: out.NextRotationDate } : {}),
    tags,
    stages: labels,
  };
}

/** `DescribeSecret`, as a `SecretState`. */
export async function describeSecret(client: SecretsManagerClient, secretId: string): Promise<SecretState> {
  const out = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
  return toState(out, out.VersionIdsToStages, secretId);
}

/** Every secret `ListSecrets` returns for `filters`, all pages, without secrets scheduled for deletion. */
export async function listSecrets(
  client: SecretsManagerClient,
  filters: readonly Filter[] = [],
): Promise<SecretState[]> {
  const secrets: SecretState[] = [];
  let nextToken: string | undefined;
  do {
    const out = await client.send(
      new ListSecretsCommand({
        MaxResults: 100,
        ...(filters.length > 0 ? { Filters: [...filters] } : {}),
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    for (const entry of out.SecretList ?? []) secrets.push(fromListEntry(entry));
    nextToken = out.NextToken;
  } while (nextToken);
  return secrets;
}

function fromListEntry(entry: SecretListEntry): SecretState {
  return toState(entry, entry.SecretVersionsToStages, entry.ARN ?? entry.Name ?? '?');
}

/** Keys `ListSecrets` filters on, for `--filter key=value`. */
export const FILTER_KEYS = [
  'name',
  'description',
  'tag-key',
  'tag-value',
  'primary-region',
  'owning-service',
  'all',
] as const satisfies readonly FilterNameStringType[];

/** Every version of a secret, deprecated ones (no label) included, all pages, newest first. */
export async function listVersions(client: SecretsManagerClient, secretId: string): Promise<VersionInfo[]> {
  const versions: VersionInfo[] = [];
  let nextToken: string | undefined;
  do {
    const out = await client.send(
      new ListSecretVersionIdsCommand({
        SecretId: secretId,
        IncludeDeprecated: true,
        MaxResults: 100,
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    for (const v of out.Versions ?? []) {
      if (!v.VersionId) continue;
      versions.push({
        versionId: v.VersionId,
        stages: v.VersionStages ?? [],
        ...(v.CreatedDate ? { createdDate: v.CreatedDate } : {}),
        ...(v.LastAccessedDate ? { lastAccessedDate: v.LastAccessedDate } : {}),
      });
    }
    nextToken = out.NextToken;
  } while (nextToken);
  return versions.sort(
    (a, b) =>
      (b.createdDate?.getTime() ?? 0) - (a.createdDate?.getTime() ?? 0) ||
      labelRank(a.stages) - labelRank(b.stages),
  );
}

/** Newest first by label when dates tie (AWS dates are to the second; moto reports "now" for every version). */
function labelRank(stages: readonly string[]): number {
  if (stages.includes(Stage.PENDING) && !stages.includes(Stage.CURRENT)) return 0;
  if (stages.includes(Stage.CURRENT)) return 1;
  if (stages.includes(Stage.PREVIOUS)) return 2;
  return stages.length > 0 ? 3 : 4;
}

/** The version holding `stage`, if any. */
export function versionWith(state: Pick<SecretState, 'stages'>, stage: string): string | undefined {
  for (const [versionId, labels] of Object.entries(state.stages))
    if (labels.includes(stage)) return versionId;
  return undefined;
}

/**
 * The version holding AWSPENDING when it is not also AWSCURRENT: a rotation under way, or one that failed
 * and left its label behind. AWSPENDING on the current version is the legal leftover of a finished rotation.
 */
export function pendingRotation(state: Pick<SecretState, 'stages'>): string | undefined {
  return pendingInProgress(state.stages);
}
