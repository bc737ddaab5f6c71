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
 * It refuses what AWS refuses (and is held to it by `test/unit/rotation/contract.test.ts`, which runs the
 * same cases against moto's server): staging labels are unique per secret; `PutSecretValue` without stages
 * makes the version current; `UpdateSecretVersionStage` requires `RemoveFromVersionId` to hold the label and
 * moves AWSPREVIOUS along with AWSCURRENT; `GetSecretValue` with a VersionId and a VersionStage that do not
 * belong together is `InvalidRequestException`.
 */
export class FakeSecretsManager {
  readonly client = new SecretsManagerClient({ region: 'us-east-1' });
  readonly mock: AwsClientStub<SecretsManagerClient>;
  readonly secrets = new Map<string, FakeSecret>();
  /** Length used by `GetRandomPassword` when none is asked for. */
  passwordAlphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#$%&()*+,-.:;<=>?[]^_`{|}~';

  /** Commands held at a barrier, by command name: see `barrier`. */
  readonly #barriers = new Map<string, { parties: number; waiting: Array<() => void> }>();

  constructor() {
    this.mock = mockClient(this.client);
    this.mock.on(DescribeSecretCommand).callsFake(async (input) => {
      await this.#arrive('DescribeSecret');
      return this.describe(input.SecretId);
    });
    this.mock.on(GetSecretValueCommand).callsFake(async (input) => {
      await this.#arrive('GetSecretValue');
      return this.getValue(input);
    });
    this.mock.on(PutSecretValueCommand).callsFake(async (input) => {
      await this.#arrive('PutSecretValue');
      return this.putValue(input);
    });
    this.mock.on(UpdateSecretVersionStageCommand).callsFake(async (input) => {
      await this.#arrive('UpdateSecretVersionStage');
      return this.updateStage(input);
    });
    this.mock.on(GetRandomPasswordCommand).callsFake((input) => this.randomPassword(input));
    this.mock.on(ListSecretVersionIdsCommand).callsFake((input) => this.listVersions(input));
  }

  /**
   * Holds the next `parties` calls of `operation` (e.g. `DescribeSecret`) until all of them have arrived,
   * then answers them in arrival order: the way to make two concurrent invocations read the same state
   * before either writes, without timing.
   */
  barrier(operation: string, parties: number): void {
    this.#barriers.set(operation, { parties, waiting: [] });
  }

  async #arrive(operation: string): Promise<void> {
    const barrier = this.#barriers.get(operation);
    if (!barrier) return;
    const arrived = new Promise<void>((resolve) => barrier.waiting.push(resolve));
    if (barrier.waiting.length >= barrier.parties) {
      this.#barriers.delete(operation);
      for (const release of barrier.waiting) release();
    }
    await arrived;
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

  /**
   * What `RotateSecret` with `RotateImmediately=false` stages before it invokes testSecret alone: a temporary
   * AWSPENDING version holding a copy of AWSCURRENT (what moto does; AWS documents only that it is
   * temporary). `endConfigurationTest` removes its label again, as the service does.
   */
  startConfigurationTest(secretId: string, token: string = randomUUID()): string {
    const secret = this.secret(secretId);
    const current = this.versionOf(secretId, 'AWSCURRENT');
    const value = current ? secret.versions.get(current)?.secretString : undefined;
    this.moveStage(secret, 'AWSPENDING', token);
    const version = secret.versions.get(token);
    if (version) version.secretString = value;
    return token;
  }

  /** Removes the temporary AWSPENDING of `startConfigurationTest`. */
  endConfigurationTest(secretId: string, token: string): void {
    this.secret(secretId).versions.get(token)?.stages.delete('AWSPENDING');
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

  /**
   * A `PutSecretValue` from outside the rotation (default stages: becomes AWSCURRENT). By default it also
   * strips AWSPENDING, as PROTOCOL.md says the service does when it reports RotationAbandoned; with
   * `keepPending` the rotation's AWSPENDING stays (what moto does).
   */
  putFromOutside(secretId: string, value: string | object, options: { keepPending?: boolean } = {}): string {
    const id = randomUUID();
    const secret = this.secret(secretId);
    secret.versions.set(id, {
      secretString: typeof value === 'string' ? value : JSON.stringify(value),
      stages: new Set(),
      createdDate: new Date(),
    });
    this.attachStage(secret, 'AWSCURRENT', id);
    if (!options.keepPending)
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

  // AWS and moto: a VersionId and a VersionStage that do not belong together is InvalidRequestException;
  // an unknown version, or a stage no version holds, or a version without a value, is ResourceNotFound.
  private getValue(input: { SecretId?: string; VersionId?: string; VersionStage?: string }) {
    const secret = this.secret(input.SecretId);
    let id = input.VersionId;
    const stage = input.VersionStage ?? (id ? undefined : 'AWSCURRENT');
    if (id && stage) {
      const version = secret.versions.get(id);
      if (version && !version.stages.has(stage)) {
        throw serviceError(
          'InvalidRequestException',
          'You provided a VersionStage that is not associated to the provided VersionId.',
        );
      }
    }
    if (!id && stage) id = [...secret.versions].find(([, v]) => v.stages.has(stage))?.[0];
    const version = id ? secret.versions.get(id) : undefined;
    if (!id || !version || version.secretString === undefined) {
      throw serviceError(
        'ResourceNotFoundException',
        `Secrets Manager can't find the specified secret value for ${input.VersionId ? 'VersionId' : 'staging label'}: ${input.VersionId ?? stage}`,
      );
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: id,
      SecretString: version.secretString,
      VersionStages: [...version.stages],
      CreatedDate: version.createdDate,
    };
  }

  // AWS: the same token with the same value is an idempotent success; with another value,
  // ResourceExistsException. A version RotateSecret staged without a value takes the value. Labels named in
  // VersionStages move to the version; AWSCURRENT moving takes AWSPREVIOUS to the version it left.
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
      return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [...existing.stages] };
    }
    if (existing) {
      existing.secretString = input.SecretString;
    } else {
      secret.versions.set(id, {
        secretString: input.SecretString,
        stages: new Set(),
        createdDate: new Date(),
      });
    }
    for (const stage of input.VersionStages ?? ['AWSCURRENT']) this.attachStage(secret, stage, id);
    return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: input.VersionStages };
  }

  // AWS UpdateSecretVersionStage: RemoveFromVersionId must name the version that holds the label (moto:
  // "Version stage X not found in version Y"); a label attached to another version than MoveToVersionId
  // cannot move without it; both ids must be versions of the secret. AWSCURRENT moving takes AWSPREVIOUS
  // to the version it left.
  private updateStage(input: {
    SecretId?: string;
    VersionStage?: string;
    MoveToVersionId?: string;
    RemoveFromVersionId?: string;
  }) {
    const secret = this.secret(input.SecretId);
    const stage = input.VersionStage ?? '';
    const { MoveToVersionId: moveTo, RemoveFromVersionId: removeFrom } = input;
    for (const id of [removeFrom, moveTo]) {
      if (id && !secret.versions.has(id)) {
        throw serviceError('InvalidParameterException', `Not a valid version: ${id}`);
      }
    }
    const holder = [...secret.versions].find(([, v]) => v.stages.has(stage))?.[0];
    if (removeFrom && holder !== removeFrom) {
      throw serviceError(
        'InvalidParameterException',
        `Version stage ${stage} not found in version ${removeFrom}`,
      );
    }
    if (!removeFrom && holder && holder !== moveTo) {
      throw serviceError(
        'InvalidParameterException',
        `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder}, so you must explicitly reference that version in RemoveFromVersionId.`,
      );
    }
    if (!moveTo && !removeFrom) {
      throw serviceError(
        'InvalidParameterException',
        'Specify MoveToVersionId, RemoveFromVersionId or both.',
      );
    }
    if (moveTo) {
      this.attachStage(secret, stage, moveTo);
    } else if (removeFrom) {
      secret.versions.get(removeFrom)?.stages.delete(stage);
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

  // AWS: versions without a label are deprecated and listed only with IncludeDeprecated.
  private listVersions(input: { SecretId?: string; IncludeDeprecated?: boolean }) {
    const secret = this.secret(input.SecretId);
    return {
      ARN: secret.arn,
      Name: secret.name,
      Versions: [...secret.versions]
        .filter(([, v]) => input.IncludeDeprecated === true || v.stages.size > 0)
        .map(([id, v]) => ({
          VersionId: id,
          VersionStages: [...v.stages],
          CreatedDate: v.createdDate,
        })),
    };
  }

  /** Attaches `stage` to `versionId`, taking it from any other version; AWSCURRENT drags AWSPREVIOUS along. */
  private attachStage(secret: FakeSecret, stage: string, versionId: string): void {
    const holder = [...secret.versions].find(([, v]) => v.stages.has(stage))?.[0];
    if (stage === 'AWSCURRENT' && holder && holder !== versionId)
      this.moveStage(secret, 'AWSPREVIOUS', holder);
    this.moveStage(secret, stage, versionId);
    if (stage === 'AWSCURRENT') secret.versions.get(versionId)?.stages.delete('AWSPREVIOUS');
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
