import type { RDSClient } from '@aws-sdk/client-rds';
import {
  countThrottles,
  InvalidSecretValueError,
  type RotationContext,
  RotationError,
  type RotationStrategy,
  SDK_RETRY_CONFIG,
  type SecretVersion,
  Stage,
} from '../../rotation';
import { withRetry } from '../retry';
import { type DatabaseSecret, withCredentials } from '../secret';
import {
  type DatabaseStrategyDependencies,
  loginAfterChange,
  parse,
  requireSameTarget,
  using,
} from './common';

/** Characters RDS does not accept in a master password. */
const RDS_MASTER_EXCLUDED = '/@" ';

/** RDS has not applied the new master password within the configured wait. */
export class RdsModificationPendingError extends RotationError {
  constructor(secretArn: string, resource: string, waitedSeconds: number) {
    super(
      `Secret ${secretArn}: RDS has not applied the new master password of ${resource} after ${waitedSeconds} s`,
    );
    this.name = 'RdsModificationPendingError';
  }
}

/** Settings of the RDS master strategy. */
export interface RdsMasterOptions extends DatabaseStrategyDependencies {
  /**
   * The RDS client. @default - one built on first use; the RDS SDK is loaded only then, so functions with
   * another strategy never pay for it at cold start
   */
  readonly rds?: RDSClient;
  /** How long testSecret waits for RDS to apply the change. */
  readonly waitSeconds: number;
  /** Whether to log in with the new password too (needs network access to the database). */
  readonly verifyLogin: boolean;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

/**
 * Rotates the master password through the RDS API, for databases the function cannot reach over the
 * network. Consumers of the master secret see a window between setSecret and finishSecret.
 */
export class RdsMasterStrategy implements RotationStrategy {
  readonly kind = 'database';
  readonly name = 'rds-master';

  #rds: Promise<{ client: RDSClient; sdk: typeof import('@aws-sdk/client-rds') }> | undefined;

  constructor(private readonly options: RdsMasterOptions) {}

  /** The RDS SDK and client, loaded once, on first use. */
  private rds() {
    this.#rds ??= import('@aws-sdk/client-rds').then((sdk) => ({
      sdk,
      client: countThrottles(this.options.rds ?? new sdk.RDSClient(SDK_RETRY_CONFIG)),
    }));
    return this.#rds;
  }

  async createPending(context: RotationContext, current: SecretVersion): Promise<string> {
    const secret = parse(context, current, Stage.CURRENT);
    resourceOf(context, secret);
    const password = await context.passwords.generate({ excludeCharacters: RDS_MASTER_EXCLUDED });
    return withCredentials(secret, secret.username, password);
  }

  async set(context: RotationContext, pendingVersion: SecretVersion): Promise<void> {
    const pending = parse(context, pendingVersion, Stage.PENDING);
    const current = parse(context, await context.secrets.current(), Stage.CURRENT);
    requireSameTarget(context, pending, current, Stage.CURRENT, ['username', 'host', 'port', 'family']);
    const resource = resourceOf(context, pending);
    if (resource.id !== resourceOf(context, current).id) {
      throw new InvalidSecretValueError(
        context.secretArn,
        Stage.PENDING,
        resource.field,
        'differs from AWSCURRENT',
      );
    }
    const { sdk, client } = await this.rds();
    const command =
      resource.field === 'dbClusterIdentifier'
        ? new sdk.ModifyDBClusterCommand({
            DBClusterIdentifier: resource.id,
            MasterUserPassword: pending.password,
            ApplyImmediately: true,
          })
        : new sdk.ModifyDBInstanceCommand({
            DBInstanceIdentifier: resource.id,
            MasterUserPassword: pending.password,
            ApplyImmediately: true,
          });
    // Setting the same password again is harmless, so a retried setSecret simply repeats the call.
    await withRetry(() => client.send(command as InstanceType<typeof sdk.ModifyDBInstanceCommand>), {
      attempts: this.options.connectAttempts,
      baseDelayMs: this.options.baseDelayMs ?? 1000,
      maxDelayMs: this.options.maxDelayMs ?? 10_000,
      ...(this.options.sleep ? { sleep: this.options.sleep } : {}),
      retryable: isTransientRdsError,
    });
    context.logger.info('Asked RDS to change the master password', { resource: resource.id });
  }

  async test(context: RotationContext, pendingVersion: SecretVersion): Promise<void> {
    const pending = parse(context, pendingVersion, Stage.PENDING);
    const resource = resourceOf(context, pending);
    const now = this.options.now ?? Date.now;
    const started = now();
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    let delay = this.options.baseDelayMs ?? 2000;
    while (!(await this.applied(resource))) {
      if (now() - started >= this.options.waitSeconds * 1000) {
        throw new RdsModificationPendingError(context.secretArn, resource.id, this.options.waitSeconds);
      }
      await sleep(Math.round(delay / 2 + (Math.random() * delay) / 2));
      delay = Math.min(delay * 2, this.options.maxDelayMs ?? 30_000);
    }
    if (this.options.verifyLogin) {
      await using(await loginAfterChange(this.options, context, pending, Stage.PENDING), (s) => s.check());
    }
  }

  private async applied(resource: { field: string; id: string }): Promise<boolean> {
    const { sdk, client } = await this.rds();
    if (resource.field === 'dbClusterIdentifier') {
      const out = await client.send(new sdk.DescribeDBClustersCommand({ DBClusterIdentifier: resource.id }));
      const cluster = out.DBClusters?.[0];
      return cluster?.Status === 'available' && !cluster.PendingModifiedValues?.MasterUserPassword;
    }
    const out = await client.send(new sdk.DescribeDBInstancesCommand({ DBInstanceIdentifier: resource.id }));
    const instance = out.DBInstances?.[0];
    return instance?.DBInstanceStatus === 'available' && !instance.PendingModifiedValues?.MasterUserPassword;
  }
}

function resourceOf(
  context: RotationContext,
  secret: DatabaseSecret,
): { field: 'dbClusterIdentifier' | 'dbInstanceIdentifier'; id: string } {
  if (secret.dbClusterIdentifier) return { field: 'dbClusterIdentifier', id: secret.dbClusterIdentifier };
  if (secret.dbInstanceIdentifier) return { field: 'dbInstanceIdentifier', id: secret.dbInstanceIdentifier };
  throw new InvalidSecretValueError(
    context.secretArn,
    Stage.CURRENT,
    'dbInstanceIdentifier',
    'is missing: the rds-master strategy needs dbInstanceIdentifier or dbClusterIdentifier',
  );
}

function isTransientRdsError(error: unknown): boolean {
  const name = (error as { name?: string })?.name ?? '';
  return /InvalidDBInstanceState|InvalidDBClusterState|Throttling|TooManyRequests|ServiceUnavailable/.test(
    name,
  );
}
