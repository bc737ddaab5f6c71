import {
  DescribeSecretCommand,
  ListSecretVersionIdsCommand,
  type SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { isNamed, SecretsStore, Stage } from '../rotation';
import { ApiKeyTag } from './constants';

/** A revocation recorded on the secret: the key of `versionId` is revoked once `revokeAfter` has passed. */
export interface ScheduledRevocation {
  readonly versionId: string;
  /** Milliseconds since the epoch; `NaN` when the tag does not hold a valid instant. */
  readonly revokeAfter: number;
  /** The tag's raw value, for messages. */
  readonly raw: string;
}

/** What the revocation logic needs to know of the secret, read in one `DescribeSecret`. */
export interface SecretState {
  readonly arn: string;
  readonly name: string;
  readonly stages: Readonly<Record<string, readonly string[]>>;
  readonly current?: string;
  readonly pending?: string;
  readonly previous?: string;
  readonly scheduled: readonly ScheduledRevocation[];
  /** Whether an operator set the emergency tag. */
  readonly emergency: boolean;
}

/**
 * The Secrets Manager calls of API key rotation beyond the protocol core's: tags (the revocation deadlines
 * and the emergency switch), reading any version by id, and removing AWSPREVIOUS from a revoked key.
 */
export class ApiKeySecretStore {
  readonly #client: SecretsManagerClient;
  readonly #store: SecretsStore;

  constructor(client: SecretsManagerClient) {
    this.#client = client;
    this.#store = new SecretsStore(client);
  }

  async load(secretId: string): Promise<SecretState> {
    const out = await this.#client.send(new DescribeSecretCommand({ SecretId: secretId }));
    const stages: Record<string, readonly string[]> = {};
    for (const [versionId, labels] of Object.entries(out.VersionIdsToStages ?? {}))
      stages[versionId] = labels ?? [];
    const holder = (stage: string) => Object.keys(stages).find((id) => stages[id]?.includes(stage));
    const scheduled: ScheduledRevocation[] = [];
    let emergency = false;
    for (const tag of out.Tags ?? []) {
      if (tag.Key === ApiKeyTag.EMERGENCY) emergency = true;
      else if (tag.Key?.startsWith(ApiKeyTag.REVOKE_AFTER_PREFIX)) {
        const raw = tag.Value ?? '';
        scheduled.push({
          versionId: tag.Key.slice(ApiKeyTag.REVOKE_AFTER_PREFIX.length),
          revokeAfter: Date.parse(raw),
          raw,
        });
      }
    }
    const current = holder(Stage.CURRENT);
    const pending = holder(Stage.PENDING);
    const previous = holder(Stage.PREVIOUS);
    return {
      arn: out.ARN ?? secretId,
      name: out.Name ?? secretId,
      stages,
      ...(current ? { current } : {}),
      ...(pending ? { pending } : {}),
      ...(previous ? { previous } : {}),
      scheduled,
      emergency,
    };
  }

  /**
   * When each version of the secret was created (milliseconds since the epoch), the versions without a label
   * included: `ListSecretVersionIds` with `IncludeDeprecated` (one call unless the secret has more than 100).
   */
  async versionCreatedDates(secretArn: string): Promise<Map<string, number>> {
    const created = new Map<string, number>();
    let nextToken: string | undefined;
    do {
      const out = await this.#client.send(
        new ListSecretVersionIdsCommand({
          SecretId: secretArn,
          IncludeDeprecated: true,
          MaxResults: 100,
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      );
      for (const version of out.Versions ?? []) {
        const at = version.CreatedDate?.getTime();
        if (version.VersionId !== undefined && at !== undefined && !Number.isNaN(at))
          created.set(version.VersionId, at);
      }
      nextToken = out.NextToken;
    } while (nextToken);
    return created;
  }

  /** The value of one version, or `undefined` when it no longer exists. */
  async versionValue(secretArn: string, versionId: string): Promise<string | undefined> {
    return (await this.#store.getVersion(secretArn, { versionId }))?.secretString;
  }

  /** The AWSCURRENT value of a secret (an admin credential). */
  async currentValue(secretId: string): Promise<string | undefined> {
    return (await this.#store.getVersion(secretId, { stage: Stage.CURRENT }))?.secretString;
  }

  async schedule(secretArn: string, versionId: string, revokeAfter: string): Promise<void> {
    await this.#client.send(
      new TagResourceCommand({
        SecretId: secretArn,
        Tags: [{ Key: revokeAfterTag(versionId), Value: revokeAfter }],
      }),
    );
  }

  async unschedule(secretArn: string, versionId: string): Promise<void> {
    await this.#client.send(
      new UntagResourceCommand({ SecretId: secretArn, TagKeys: [revokeAfterTag(versionId)] }),
    );
  }

  async clearEmergency(secretArn: string): Promise<void> {
    await this.#client.send(
      new UntagResourceCommand({ SecretId: secretArn, TagKeys: [ApiKeyTag.EMERGENCY] }),
    );
  }

  /** Removes AWSPREVIOUS from `versionId`; nothing when another version holds it by now. */
  async removePrevious(secretArn: string, versionId: string): Promise<void> {
    try {
      await this.#store.updateStage(secretArn, Stage.PREVIOUS, { removeFrom: versionId });
    } catch (error) {
      if (!isNamed(error, 'InvalidParameterException')) throw error;
      const latest = await this.load(secretArn);
      if (latest.stages[versionId]?.includes(Stage.PREVIOUS)) throw error;
    }
  }
}

/** The tag holding the revocation deadline of a version's key. */
export function revokeAfterTag(versionId: string): string {
  return `${ApiKeyTag.REVOKE_AFTER_PREFIX}${versionId}`;
}
