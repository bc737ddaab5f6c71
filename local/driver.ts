import { randomUUID } from 'node:crypto';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';

/** The four steps, in the order Secrets Manager invokes them. */
export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

/** A rotation function: the handler a Lambda entry exports. */
export type RotationFunction = (event: unknown) => Promise<unknown>;

/** One invocation of one step. */
export interface StepRecord {
  readonly attempt: number;
  readonly step: (typeof ROTATION_STEPS)[number];
  readonly durationMs: number;
  readonly ok: boolean;
  readonly errorName?: string;
}

/** The outcome of one rotation. */
export interface RotationRecord {
  readonly secretArn: string;
  readonly token: string;
  readonly succeeded: boolean;
  readonly attempts: number;
  readonly steps: readonly StepRecord[];
  readonly durationMs: number;
}

/** The outcome of a configuration test (`RotateImmediately=false`). */
export interface ConfigurationTestRecord {
  readonly secretArn: string;
  /** The temporary version's id. */
  readonly token: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly errorName?: string;
}

/** Options of one rotation. */
export interface RotateOptions {
  /** Whole-rotation attempts with the same token, as the service retries. @default 3 */
  readonly maxAttempts?: number;
  /** Called after every step, for progress displays. */
  readonly onStep?: (record: StepRecord) => void;
}

class NotFound extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResourceNotFoundException';
  }
}

/**
 * Does locally what Secrets Manager does for a rotation: stages a new token as AWSPENDING with no value,
 * invokes the rotation function in-process with the four steps in order, and retries the whole rotation with
 * the same token after a failure, a bounded number of times.
 *
 * moto cannot run Lambdas here, and its RotateSecret stages AWSPENDING on a copy of the current value
 * (AWS stages a version with no value). So the driver keeps the service's part itself: `client` is a
 * Secrets Manager client for the function whose responses show the token staged AWSPENDING without a value
 * until the function puts one, and show rotation enabled for the secrets the driver rotates. Values and
 * labels themselves live in moto. See local/MOTO-DIFFERENCES.md.
 */
export class RotationDriver {
  /** The client to build the rotation function with. */
  readonly client: SecretsManagerClient;
  readonly #plain: SecretsManagerClient;
  readonly #enabled = new Set<string>();
  /** secret ARN → the token staged AWSPENDING that has no value yet. */
  readonly #staged = new Map<string, string>();

  constructor(config: SecretsManagerClientConfig) {
    this.#plain = new SecretsManagerClient(config);
    this.client = new SecretsManagerClient(config);
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as Record<string, unknown>;
        const arn = await this.#arnOf(String(input.SecretId ?? ''));
        const staged = arn ? this.#staged.get(arn) : undefined;
        if (context.commandName === 'GetSecretValueCommand' && staged && input.VersionId === staged) {
          throw new NotFound(
            `Secrets Manager can't find the specified secret value for VersionId: ${staged}`,
          );
        }
        const result = await next(args);
        const output = result.output as unknown as Record<string, unknown>;
        if (context.commandName === 'DescribeSecretCommand' && arn) {
          if (this.#enabled.has(arn)) output.RotationEnabled = true;
          if (staged) {
            const stages = { ...(output.VersionIdsToStages as Record<string, string[]>) };
            for (const [id, labels] of Object.entries(stages))
              stages[id] = labels.filter((l) => l !== 'AWSPENDING');
            stages[staged] = ['AWSPENDING'];
            output.VersionIdsToStages = stages;
          }
        }
        if (context.commandName === 'PutSecretValueCommand' && arn && input.ClientRequestToken === staged) {
          this.#staged.delete(arn); // the version now exists in moto, with its value and AWSPENDING
        }
        return result;
      },
      { step: 'initialize', name: 'rotationDriverServiceState' },
    );
  }

  /** Marks a secret as having rotation enabled, as RotateSecret with a rotation function does. */
  async enableRotation(secretId: string): Promise<string> {
    const arn = await this.#arnOf(secretId);
    if (!arn) throw new NotFound(`No secret ${secretId}`);
    this.#enabled.add(arn);
    return arn;
  }

  /**
   * What `RotateSecret` does before the first invocation: stages a new token as AWSPENDING on a version with
   * no value (as the function's client sees it) and enables rotation. Returns the token. `rotate` does this
   * itself; tests that invoke the steps one by one start here.
   */
  async startRotation(
    secretId: string,
    token: string = randomUUID(),
  ): Promise<{ secretArn: string; token: string }> {
    const secretArn = await this.enableRotation(secretId);
    this.#staged.set(secretArn, token);
    return { secretArn, token };
  }

  /** Rotates a secret once through `fn`, as Secrets Manager would. */
  async rotate(secretId: string, fn: RotationFunction, options: RotateOptions = {}): Promise<RotationRecord> {
    const { secretArn, token } = await this.startRotation(secretId);
    const steps: StepRecord[] = [];
    const started = Date.now();
    const maxAttempts = options.maxAttempts ?? 3;
    let attempt = 0;
    let succeeded = false;
    while (!succeeded && attempt < maxAttempts) {
      attempt++;
      succeeded = true;
      for (const step of ROTATION_STEPS) {
        const stepStarted = Date.now();
        try {
          await fn({ SecretId: secretArn, ClientRequestToken: token, Step: step });
          const record = { attempt, step, durationMs: Date.now() - stepStarted, ok: true };
          steps.push(record);
          options.onStep?.(record);
        } catch (error) {
          const record = {
            attempt,
            step,
            durationMs: Date.now() - stepStarted,
            ok: false,
            errorName: error instanceof Error ? error.name : typeof error,
          };
          steps.push(record);
          options.onStep?.(record);
          succeeded = false;
          break;
        }
      }
    }
    this.#staged.delete(secretArn);
    return { secretArn, token, succeeded, attempts: attempt, steps, durationMs: Date.now() - started };
  }

  /**
   * Does what `RotateSecret` with `RotateImmediately=false` does: stages a temporary AWSPENDING, invokes only
   * testSecret, then removes the temporary version's label. The temporary version comes from moto's own
   * RotateSecret (a copy of AWSCURRENT; AWS documents only that it is temporary), whose Lambda emulation
   * then fails to find the rotation function, which changes nothing more. Nothing else writes to the secret,
   * except the moto-only removal of an AWSPENDING left on AWSCURRENT by the last rotation (moto refuses to
   * start a rotation from that finished state; see `clearFinishedPendingForMoto`).
   */
  async testConfiguration(secretId: string, fn: RotationFunction): Promise<ConfigurationTestRecord> {
    const secretArn = await this.enableRotation(secretId);
    const token = randomUUID();
    await clearFinishedPendingForMoto(this.#plain, secretArn);
    await this.#plain
      .send(
        new RotateSecretCommand({
          SecretId: secretArn,
          ClientRequestToken: token,
          RotationLambdaARN: 'arn:aws:lambda:us-east-1:000000000000:function:configuration-test',
          RotationRules: { AutomaticallyAfterDays: 30 },
          RotateImmediately: false,
        }),
      )
      .catch(() => undefined); // moto cannot run the function: we invoke it ourselves below
    const staged = await this.#plain.send(
      new GetSecretValueCommand({ SecretId: secretArn, VersionId: token, VersionStage: 'AWSPENDING' }),
    );
    if (staged.VersionId !== token) throw new Error(`moto did not stage AWSPENDING on ${token}`);
    const current = await this.#plain.send(
      new GetSecretValueCommand({ SecretId: secretArn, VersionStage: 'AWSCURRENT' }),
    );
    if (staged.SecretString !== current.SecretString) {
      // moto copies the value of the last version put as AWSCURRENT, stale once UpdateSecretVersionStage has
      // moved the label (local/MOTO-DIFFERENCES.md): make the temporary version the copy of AWSCURRENT it is
      // meant to be. moto lets a PutSecretValue replace the value of a version staged AWSPENDING.
      await this.#plain.send(
        new PutSecretValueCommand({
          SecretId: secretArn,
          ClientRequestToken: token,
          SecretString: current.SecretString,
          VersionStages: ['AWSPENDING'],
        }),
      );
    }
    const started = Date.now();
    let errorName: string | undefined;
    try {
      await fn({ SecretId: secretArn, ClientRequestToken: token, Step: 'testSecret' });
    } catch (error) {
      errorName = error instanceof Error ? error.name : typeof error;
    }
    const durationMs = Date.now() - started;
    await this.#plain.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretArn,
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: token,
      }),
    );
    return { secretArn, token, ok: errorName === undefined, durationMs, ...(errorName ? { errorName } : {}) };
  }

  async #arnOf(secretId: string): Promise<string | undefined> {
    if (!secretId) return undefined;
    if (secretId.startsWith('arn:')) return secretId;
    try {
      return (await this.#plain.send(new DescribeSecretCommand({ SecretId: secretId }))).ARN;
    } catch {
      return undefined;
    }
  }
}

/**
 * moto-only workaround (local/MOTO-DIFFERENCES.md): moto 5.2's RotateSecret refuses ("Previous rotation
 * request is still in progress") when AWSPENDING sits on the AWSCURRENT version, which is exactly the state
 * AWS documents as a finished rotation (and the state finishSecret leaves). AWS accepts it and moves
 * AWSPENDING to the new version; here the label is removed first so moto does the same. Never done against
 * AWS: the CLI's RotateSecret calls talk to the service as it is.
 */
export async function clearFinishedPendingForMoto(
  client: SecretsManagerClient,
  secretId: string,
): Promise<void> {
  const described = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
  for (const [versionId, labels] of Object.entries(described.VersionIdsToStages ?? {})) {
    if (labels.includes('AWSPENDING') && labels.includes('AWSCURRENT')) {
      await client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: secretId,
          VersionStage: 'AWSPENDING',
          RemoveFromVersionId: versionId,
        }),
      );
    }
  }
}
