import { randomBytes, randomUUID } from 'node:crypto';
import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  SecretsManagerServiceException,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';

interface FakeVersion {
  secretString?: string;
  stages: Set<string>;
  createdDate: Date;
}

interface FakeSecret {
  arn: string;
  name: string;
  rotationEnabled: boolean;
  versions: Map<string, FakeVersion>;
}

function serviceError(name: string, message: string): SecretsManagerServiceException {
  return new SecretsManagerServiceException({ name, message, $fault: 'client', $metadata: {} });
}

/**
 * A stateful model of the parts of Secrets Manager that rotation uses, served through aws-sdk-client-mock.
 * Staging labels are unique per secret as in the service; `PutSecretValue` without stages makes the version
 * current; `UpdateSecretVersionStage` checks `RemoveFromVersionId` and moves AWSPREVIOUS along with AWSCURRENT.
 */
export class FakeSecretsManager {
  readonly client = new SecretsManagerClient({ region: 'us-east-1' });
  readonly mock: AwsClientStub<SecretsManagerClient>;
  readonly secrets = new Map<string, FakeSecret>();
  /** Length used by `GetRandomPassword` when none is asked for. */
  passwordAlphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#$%&()*+,-.:;<=>?[]^_`{|}~';

  constructor() {
    this.mock = mockClient(this.client);
    this.mock.on(DescribeSecretCommand).callsFake((input) => this.describe(input.SecretId));
    this.mock.on(GetSecretValueCommand).callsFake((input) => this.getValue(input));
    this.mock.on(PutSecretValueCommand).callsFake((input) => this.putValue(input));
    this.mock.on(UpdateSecretVersionStageCommand).callsFake((input) => this.updateStage(input));
    this.mock.on(GetRandomPasswordCommand).callsFake((input) => this.randomPassword(input));
    this.mock.on(ListSecretVersionIdsCommand).callsFake((input) => this.listVersions(input.SecretId));
  }

  /** Creates a secret whose AWSCURRENT version holds `value`; returns its ARN. */
  createSecret(name: string, value: string | object, options: { rotationEnabled?: boolean } = {}): string {
    const arn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-${randomBytes(3).toString('hex')}`;
    const secretString = typeof value === 'string' ? value : JSON.stringify(value);
    this.secrets.set(arn, {
      arn,
      name,
      rotationEnabled: options.rotationEnabled ?? true,
      versions: new Map([
        [randomUUID(), { secretString, stages: new Set(['AWSCURRENT']), createdDate: new Date() }],
      ]),
    });
    return arn;
  }

  /** What `RotateSecret` does before the first invocation: a new version with AWSPENDING and no value. */
  startRotation(secretId: string, token: string = randomUUID()): string {
    const secret = this.secret(secretId);
    this.moveStage(secret, 'AWSPENDING', token);
    return token;
  }

  /** The version id holding `stage`. */
  versionOf(secretId: string, stage: string): string | undefined {
    for (const [id, version] of this.secret(secretId).versions) if (version.stages.has(stage)) return id;
    return undefined;
  }

  /** The value of the version holding `stage`, parsed as JSON. */
  valueOf<T = Record<string, unknown>>(secretId: string, stage = 'AWSCURRENT'): T {
    const id = this.versionOf(secretId, stage);
    const value = id ? this.secret(secretId).versions.get(id)?.secretString : undefined;
    if (value === undefined) throw new Error(`no value at ${stage}`);
    return JSON.parse(value) as T;
  }

  /** Stages of every version, for assertions. */
  stages(secretId: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [id, version] of this.secret(secretId).versions) out[id] = [...version.stages].sort();
    return out;
  }

  /** A `PutSecretValue` from outside the rotation (default stages: becomes AWSCURRENT, strips AWSPENDING). */
  putFromOutside(secretId: string, value: string | object): string {
    const id = randomUUID();
    const secret = this.secret(secretId);
    secret.versions.set(id, {
      secretString: typeof value === 'string' ? value : JSON.stringify(value),
      stages: new Set(),
      createdDate: new Date(),
    });
    this.moveStage(secret, 'AWSCURRENT', id);
    for (const version of secret.versions.values()) version.stages.delete('AWSPENDING');
    return id;
  }

  secret(secretId: string | undefined): FakeSecret {
    for (const secret of this.secrets.values()) {
      if (secret.arn === secretId || secret.name === secretId) return secret;
    }
    throw serviceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  }

  private describe(secretId: string | undefined) {
    const secret = this.secret(secretId);
    const stages: Record<string, string[]> = {};
    for (const [id, version] of secret.versions) if (version.stages.size) stages[id] = [...version.stages];
    return {
      ARN: secret.arn,
      Name: secret.name,
      RotationEnabled: secret.rotationEnabled,
      VersionIdsToStages: stages,
    };
  }

  private getValue(input: { SecretId?: string; VersionId?: string; VersionStage?: string }) {
    const secret = this.secret(input.SecretId);
    const stage = input.VersionStage ?? (input.VersionId ? undefined : 'AWSCURRENT');
    for (const [id, version] of secret.versions) {
      if (input.VersionId && id !== input.VersionId) continue;
      if (stage && !version.stages.has(stage)) continue;
      if (version.secretString === undefined) break;
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: id,
        SecretString: version.secretString,
        VersionStages: [...version.stages],
        CreatedDate: version.createdDate,
      };
    }
    throw serviceError(
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret value for staging label or version id.",
    );
  }

  private putValue(input: {
    SecretId?: string;
    ClientRequestToken?: string;
    SecretString?: string;
    VersionStages?: string[];
  }) {
    const secret = this.secret(input.SecretId);
    const id = input.ClientRequestToken ?? randomUUID();
    const existing = secret.versions.get(id);
    if (existing?.secretString !== undefined) {
      if (existing.secretString !== input.SecretString) {
        throw serviceError('ResourceExistsException', 'A resource with the ID you requested already exists.');
      }
    } else if (existing) {
      existing.secretString = input.SecretString;
    } else {
      secret.versions.set(id, {
        secretString: input.SecretString,
        stages: new Set(),
        createdDate: new Date(),
      });
    }
    for (const stage of input.VersionStages ?? ['AWSCURRENT']) this.moveStage(secret, stage, id);
    return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: input.VersionStages };
  }

  private updateStage(input: {
    SecretId?: string;
    VersionStage?: string;
    MoveToVersionId?: string;
    RemoveFromVersionId?: string;
  }) {
    const secret = this.secret(input.SecretId);
    const stage = input.VersionStage ?? '';
    const holder = [...secret.versions].find(([, v]) => v.stages.has(stage))?.[0];
    if (holder && holder !== input.MoveToVersionId && holder !== input.RemoveFromVersionId) {
      throw serviceError(
        'InvalidParameterException',
        `The parameter RemoveFromVersionId must be the version that holds ${stage}.`,
      );
    }
    if (
      input.RemoveFromVersionId &&
      holder !== input.RemoveFromVersionId &&
      holder !== input.MoveToVersionId
    ) {
      throw serviceError(
        'InvalidParameterException',
        `Version ${input.RemoveFromVersionId} does not hold ${stage}.`,
      );
    }
    if (input.MoveToVersionId) {
      if (!secret.versions.has(input.MoveToVersionId)) {
        throw serviceError('ResourceNotFoundException', 'The version to move to does not exist.');
      }
      if (stage === 'AWSCURRENT' && holder && holder !== input.MoveToVersionId) {
        this.moveStage(secret, 'AWSPREVIOUS', holder);
      }
      this.moveStage(secret, stage, input.MoveToVersionId);
    } else if (input.RemoveFromVersionId) {
      secret.versions.get(input.RemoveFromVersionId)?.stages.delete(stage);
    }
    return { ARN: secret.arn, Name: secret.name };
  }

  private randomPassword(input: {
    PasswordLength?: number;
    ExcludeCharacters?: string;
    ExcludePunctuation?: boolean;
  }) {
    const excluded = new Set(input.ExcludeCharacters ?? '');
    const alphabet = [...this.passwordAlphabet].filter(
      (c) => !excluded.has(c) && !(input.ExcludePunctuation && /[^A-Za-z0-9]/.test(c)),
    );
    const bytes = randomBytes(input.PasswordLength ?? 32);
    return { RandomPassword: [...bytes].map((b) => alphabet[b % alphabet.length]).join('') };
  }

  private listVersions(secretId: string | undefined) {
    const secret = this.secret(secretId);
    return {
      ARN: secret.arn,
      Name: secret.name,
      Versions: [...secret.versions].map(([id, v]) => ({
        VersionId: id,
        VersionStages: [...v.stages],
        CreatedDate: v.createdDate,
      })),
    };
  }

  private moveStage(secret: FakeSecret, stage: string, versionId: string): void {
    for (const version of secret.versions.values()) version.stages.delete(stage);
    let target = secret.versions.get(versionId);
    if (!target) {
      target = { stages: new Set(), createdDate: new Date() };
      secret.versions.set(versionId, target);
    }
    target.stages.add(stage);
  }
}
