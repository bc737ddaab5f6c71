import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { Stage } from './constants';
import type { SecretVersion } from './types';

/** What the protocol needs of `DescribeSecret`. */
export interface SecretDescription {
  readonly arn: string;
  readonly name: string;
  readonly rotationEnabled: boolean;
  readonly versionIdsToStages: Readonly<Record<string, readonly string[]>>;
}

/** Selects one version: by id, by stage, or both (both must match). */
export interface VersionSelector {
  readonly versionId?: string;
  readonly stage?: string;
}

/** The Secrets Manager calls of the rotation protocol, typed and with not-found mapped to `undefined`. */
export class SecretsStore {
  constructor(private readonly client: SecretsManagerClient) {}

  async describe(secretId: string): Promise<SecretDescription> {
    const out = await this.client.send(new DescribeSecretCommand({ SecretId: secretId }));
    const stages: Record<string, readonly string[]> = {};
    for (const [versionId, labels] of Object.entries(out.VersionIdsToStages ?? {})) {
      // AWS lists only versions with labels; moto also lists unlabelled ones, with none (MOTO-DIFFERENCES.md).
      if (labels && labels.length > 0) stages[versionId] = labels;
    }
    return {
      arn: out.ARN ?? secretId,
      name: out.Name ?? secretId,
      rotationEnabled: out.RotationEnabled === true,
      versionIdsToStages: stages,
    };
  }

  /**
   * The version with its value, or `undefined` when it does not exist, has no value yet, or (with both a
   * version id and a stage) does not hold that stage.
   */
  async getVersion(secretId: string, selector: VersionSelector): Promise<SecretVersion | undefined> {
    try {
      const out = await this.client.send(
        new GetSecretValueCommand({
          SecretId: secretId,
          ...(selector.versionId ? { VersionId: selector.versionId } : {}),
          ...(selector.stage ? { VersionStage: selector.stage } : {}),
        }),
      );
      if (out.SecretString === undefined || out.VersionId === undefined) return undefined;
      return {
        versionId: out.VersionId,
        secretString: out.SecretString,
        stages: out.VersionStages ?? [],
        ...(out.CreatedDate ? { createdDate: out.CreatedDate } : {}),
      };
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) return undefined;
      // A VersionId with a VersionStage it no longer holds (the stage moved on, or a racer cleared it) is
      // InvalidRequestException in AWS and moto: that version is not at that stage, so there is none. Without
      // both selectors the same error means something else (a secret marked for deletion) and is kept.
      if (selector.versionId && selector.stage && isNamed(error, 'InvalidRequestException')) return undefined;
      throw error;
    }
  }

  /**
   * Puts the pending value under the rotation's token, staged AWSPENDING only. Returns `false` when the
   * version already exists with another value (a concurrent createSecret won the race).
   */
  async putPending(
    secretArn: string,
    token: string,
    secretString: string,
    rotationToken: string | undefined,
  ): Promise<boolean> {
    return this.#put(secretArn, token, secretString, Stage.PENDING, rotationToken);
  }

  /**
   * Puts a value as a new AWSCURRENT version (AWSPREVIOUS follows the version it replaces). Only for
   * reconciling an outside write during a rotation; `versionId` is derived so that a retry puts the same
   * version again instead of another one. Returns `false` when that version exists with another value.
   */
  async putCurrent(
    secretArn: string,
    versionId: string,
    secretString: string,
    rotationToken: string | undefined,
  ): Promise<boolean> {
    return this.#put(secretArn, versionId, secretString, Stage.CURRENT, rotationToken);
  }

  /** One PutSecretValue staged `stage` only; `false` when the version exists with another value. */
  async #put(
    secretArn: string,
    versionId: string,
    secretString: string,
    stage: string,
    rotationToken: string | undefined,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new PutSecretValueCommand({
          SecretId: secretArn,
          ClientRequestToken: versionId,
          SecretString: secretString,
          VersionStages: [stage],
          ...(rotationToken ? { RotationToken: rotationToken } : {}),
        }),
      );
      return true;
    } catch (error) {
      if (isNamed(error, 'ResourceExistsException')) return false;
      throw error;
    }
  }

  /**
   * Versions without a staging label ("deprecated"), newest first, at most `limit`. Secrets Manager keeps
   * about a hundred of them. One page: recovery only ever needs the latest few.
   */
  async deprecatedVersionIds(secretArn: string, limit: number): Promise<string[]> {
    const out = await this.client.send(
      new ListSecretVersionIdsCommand({ SecretId: secretArn, IncludeDeprecated: true, MaxResults: 100 }),
    );
    return (out.Versions ?? [])
      .filter((v) => v.VersionId !== undefined && (v.VersionStages ?? []).length === 0)
      .sort((a, b) => (b.CreatedDate?.getTime() ?? 0) - (a.CreatedDate?.getTime() ?? 0))
      .slice(0, limit)
      .map((v) => v.VersionId as string);
  }

  /** Moves `stage` to `moveTo` (taking it from `removeFrom`), or removes it from `removeFrom` alone. */
  async updateStage(
    secretArn: string,
    stage: string,
    target: { readonly moveTo?: string; readonly removeFrom?: string },
  ): Promise<void> {
    await this.client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretArn,
        VersionStage: stage,
        ...(target.moveTo ? { MoveToVersionId: target.moveTo } : {}),
        ...(target.removeFrom ? { RemoveFromVersionId: target.removeFrom } : {}),
      }),
    );
  }

  async randomPassword(
    length: number,
    excludeCharacters: string,
    excludePunctuation: boolean,
  ): Promise<string> {
    const out = await this.client.send(
      new GetRandomPasswordCommand({
        PasswordLength: length,
        ...(excludeCharacters ? { ExcludeCharacters: excludeCharacters } : {}),
        ...(excludePunctuation ? { ExcludePunctuation: true } : {}),
      }),
    );
    if (!out.RandomPassword) throw new Error('GetRandomPassword returned no password');
    return out.RandomPassword;
  }
}

/** The version id holding `stage`, if any. */
export function versionWithStage(description: SecretDescription, stage: string): string | undefined {
  for (const [versionId, stages] of Object.entries(description.versionIdsToStages)) {
    if (stages.includes(stage)) return versionId;
  }
  return undefined;
}

/**
 * The version holding AWSPENDING when that version is not also AWSCURRENT: a rotation in progress (or one that
 * failed and left its label behind). The RotateSecret API reference: a rotation ends with AWSPENDING on the
 * same version as AWSCURRENT, or on no version; only AWSPENDING present on another version than AWSCURRENT
 * means "a previous rotation request is still in progress". finishSecret leaves AWSPENDING on the version it
 * made current (one write fewer), so every "is a rotation in progress?" question asks this, never AWSPENDING alone.
 */
export function pendingInProgress(
  versionIdsToStages: Readonly<Record<string, readonly string[]>>,
): string | undefined {
  for (const [versionId, stages] of Object.entries(versionIdsToStages)) {
    if (stages.includes(Stage.PENDING) && !stages.includes(Stage.CURRENT)) return versionId;
  }
  return undefined;
}

/** Whether an SDK error has the given name (works across SDK package copies). */
export function isNamed(error: unknown, name: string): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === name;
}
