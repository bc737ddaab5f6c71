import * as path from 'node:path';
import { ArnFormat, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, type IConstruct, type IDependable } from 'constructs';
import type { RotationEvents } from './rotation-events';
import { FUNCTIONS_DIR, RotationFunction } from './rotation-function';
import {
  grantRotation,
  grantSecretRead,
  type RotationScheduleOptions,
  resolveSchedule,
  scheduleRotation,
} from './schedule';
import { tagAuditBus } from './secret-tags';

/** How the database secret is rotated. */
export const DatabaseRotationStrategy = {
  /** The user changes its own password. */
  SINGLE_USER: 'single-user',
  /** Two users take turns; needs a master secret. */
  ALTERNATING_USERS: 'alternating-users',
  /** The master password, changed through the RDS API; no network access to the database needed. */
  RDS_MASTER: 'rds-master',
} as const;
export type DatabaseRotationStrategy =
  (typeof DatabaseRotationStrategy)[keyof typeof DatabaseRotationStrategy];

/** The RDS instance or cluster whose master password the rds-master strategy changes. */
export interface RdsMasterTarget {
  /** `instance` or `cluster`. */
  readonly type: 'instance' | 'cluster';
  /** The instance or cluster identifier. */
  readonly identifier: string;
}

/**
 * A database the rotation works out its network path from: an `rds.DatabaseInstance`, `DatabaseCluster` or
 * `ServerlessCluster` (or an imported one, with `vpc` given). Its connections carry the engine's own port.
 */
export type RotatedDatabase = rds.IDatabaseInstance | rds.IDatabaseCluster | rds.IServerlessCluster;

/** Props of a database secret rotation. */
export interface DatabaseSecretRotationProps {
  /**
   * The database. From it come the VPC and subnets of the function, the security group rule on the engine's
   * own port, the master secret (alternating users), the instance or cluster (rds-master) and, for
   * single-user and rds-master, the secret to rotate (its generated master secret). Its engine, when CDK knows
   * it, picks the function's bundle: PostgreSQL only, or MySQL/MariaDB only (docs/database.md).
   * @default - none: give `secret`, `vpc` and `target` (with `port` unless the target has a default port)
   */
  readonly database?: RotatedDatabase;
  /**
   * The secret to rotate (an existing one, or a new `rds.DatabaseSecret`), in the JSON shape RDS uses.
   * @default - the database's own secret (required for alternating users: the application user's secret)
   */
  readonly secret?: secretsmanager.ISecret;
  /** How to rotate it. */
  readonly strategy: DatabaseRotationStrategy;
  /** The master secret: required for alternating users. @default - the database's own secret */
  readonly masterSecret?: secretsmanager.ISecret;
  /** For rds-master: the instance or cluster. @default - the database's identifier */
  readonly rdsMaster?: RdsMasterTarget;
  /**
   * The VPC of the database; required except for rds-master (which changes the password through the RDS API
   * and runs outside any VPC): without it the function could not reach the database and would time out.
   * @default - the database's VPC
   */
  readonly vpc?: ec2.IVpc;
  /** Subnets for the function (and the endpoints it creates). @default - the database's subnets, else the VPC's default selection */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * The database, to open its port to the function (and only that port).
   * @default - the database; no rule without one
   */
  readonly target?: ec2.IConnectable;
  /**
   * The database port the rule opens.
   * @default - the default port of `target`'s connections (an RDS database's is its engine's port); required
   * when the target has none
   */
  readonly port?: number;
  /** When to rotate. @default every 30 days, rotating immediately */
  readonly schedule?: RotationScheduleOptions;
  /**
   * Create the rotation schedule. Set to false to schedule with `secret.addRotationSchedule(id, {
   * rotationLambda: rotation.rotationLambda, ... })` instead: the function's permissions (the invoke
   * permission scoped to the account and the secret, the secret's actions, its KMS key) are granted here
   * either way, and `rotationLambda` is a view of the function on which `addRotationSchedule` grants nothing
   * more (it would otherwise add an invoke permission scoped to nothing).
   * @default true
   */
  readonly createSchedule?: boolean;
  /** The rotation events bus: the function publishes to it. @default - no events */
  readonly events?: RotationEvents;
  /**
   * Create the interface endpoints the function needs in `vpc`, for subnets without NAT: Secrets Manager,
   * and EventBridge with `events`. They go in the function's subnets, are shared by every rotation of this
   * stack in the same VPC, and have private DNS: a VPC that already has such an endpoint (its private DNS
   * name is taken) must give it as `vpcEndpoints` instead. rds-master needs none (it runs outside the VPC).
   * @default false
   */
  readonly createVpcEndpoints?: boolean;
  /**
   * Interface endpoints that exist already (for Secrets Manager, EventBridge): their security groups admit
   * HTTPS from the function.
   * @default - none
   */
  readonly vpcEndpoints?: readonly ec2.IInterfaceVpcEndpoint[];
  /** Extra environment variables of the function (e.g. `PASSWORD_LENGTH`). @default - none */
  readonly environment?: Record<string, string>;
}

/**
 * The entry of the function: the bundle of the database's engine when it is known at synth (it ships that
 * engine's driver only, and parses a third to a half less at cold start), the generic one (both drivers and
 * the RDS SDK) for rds-master and when the engine is unknown (an imported database, a given secret). A
 * secret whose engine is not the bundle's is refused before anything changes.
 */
function databaseEntry(props: Pick<DatabaseSecretRotationProps, 'database' | 'strategy'>): string {
  if (props.strategy === DatabaseRotationStrategy.RDS_MASTER) return 'handler.ts';
  const engine = props.database && 'engine' in props.database ? props.database.engine : undefined;
  // engineFamily is what RDS Proxy uses: POSTGRESQL for postgres and aurora-postgresql, MYSQL for mysql,
  // mariadb and aurora-mysql (and none for the engines we do not rotate)
  switch (engine?.engineFamily) {
    case 'POSTGRESQL':
      return 'postgres-handler.ts';
    case 'MYSQL':
      return 'mysql-handler.ts';
    default:
      return 'handler.ts';
  }
}

/** What the props resolve to once the database has filled in what it knows. */
interface Resolved {
  readonly secret: secretsmanager.ISecret;
  readonly masterSecret?: secretsmanager.ISecret;
  readonly rdsMaster?: RdsMasterTarget;
  readonly vpc?: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly target?: ec2.IConnectable;
}

/**
 * Rotates a database secret with our function: the schedule, the function with least privilege (its own
 * secret, the master secret, their KMS keys through Secrets Manager, the one RDS resource, the bus), and the
 * database port opened to it alone. The common case is one call:
 * `new DatabaseSecretRotation(this, 'Rotation', { database, strategy: 'single-user' })`.
 */
export class DatabaseSecretRotation extends Construct implements ec2.IConnectable {
  readonly rotationFunction: lambda.IFunction;
  /** The schedule; undefined with `createSchedule: false`. */
  readonly rotationSchedule?: secretsmanager.CfnRotationSchedule;
  /**
   * The function as `secret.addRotationSchedule({ rotationLambda })` takes it: an imported view, so that CDK
   * adds no unscoped invoke permission of its own.
   */
  readonly rotationLambda: lambda.IFunction;
  readonly connections: ec2.Connections;
  readonly strategy: DatabaseRotationStrategy;
  /** The secret rotated (given, or the database's). */
  readonly secret: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: DatabaseSecretRotationProps) {
    super(scope, id);
    const resolved = resolve(props);
    this.strategy = props.strategy;
    this.secret = resolved.secret;
    const schedule = resolveSchedule(props.schedule);
    const rdsMaster = props.strategy === DatabaseRotationStrategy.RDS_MASTER;
    const inVpc = !rdsMaster && resolved.vpc !== undefined;
    const fn = new RotationFunction(this, 'Rotation', {
      entry: path.join(FUNCTIONS_DIR, 'database', databaseEntry(props)),
      // rds-master's testSecret waits for RDS to apply the change (RDS_MASTER_WAIT_SECONDS, 600 s).
      timeout: rdsMaster ? Duration.minutes(14) : Duration.seconds(60),
      environment: {
        ROTATION_KIND: 'database',
        ROTATION_STRATEGY: props.strategy,
        ...(props.events ? { EVENT_BUS_NAME: props.events.eventBus.eventBusArn } : {}),
        ...props.environment,
      },
      ...(inVpc ? { vpc: resolved.vpc } : {}),
      ...(inVpc && resolved.vpcSubnets ? { vpcSubnets: resolved.vpcSubnets } : {}),
    });
    this.rotationFunction = fn.function;
    // Without a VPC (rds-master) there is nothing to connect: an empty set of connections.
    this.connections = fn.function.isBoundToVpc ? fn.function.connections : new ec2.Connections();

    if (resolved.masterSecret) grantSecretRead(fn.function, resolved.masterSecret, this);
    props.events?.eventBus.grantPutEventsTo(fn.function);
    // The CLI's rollback and fleet rotation record on the same bus (secret-rotation:event-bus)
    if (props.events) tagAuditBus(this.secret, props.events.eventBus);

    if (resolved.rdsMaster) {
      const stack = Stack.of(this);
      const cluster = resolved.rdsMaster.type === 'cluster';
      fn.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: cluster
            ? ['rds:ModifyDBCluster', 'rds:DescribeDBClusters']
            : ['rds:ModifyDBInstance', 'rds:DescribeDBInstances'],
          resources: [
            stack.formatArn({
              service: 'rds',
              resource: cluster ? 'cluster' : 'db',
              resourceName: resolved.rdsMaster.identifier,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      );
    }
    const dependsOn: IDependable[] = [];
    if (resolved.target && !rdsMaster) {
      const port =
        props.port !== undefined ? ec2.Port.tcp(props.port) : resolved.target.connections.defaultPort;
      if (!port) {
        throw new Error(
          "DatabaseSecretRotationProps.port is required: the target has no default port (an RDS database has its engine's)",
        );
      }
      // The rule lives with the rotation (not in the database's stack, which would make a cycle).
      const rule = port.toRuleJson() as { ipProtocol: string; fromPort?: number; toPort?: number };
      for (const [i, group] of resolved.target.connections.securityGroups.entries()) {
        for (const [j, source] of fn.function.connections.securityGroups.entries()) {
          new ec2.CfnSecurityGroupIngress(this, `DatabaseIngress${i}${j === 0 ? '' : `-${j}`}`, {
            ...rule,
            groupId: group.securityGroupId,
            sourceSecurityGroupId: source.securityGroupId,
            description: 'Secret rotation function',
          });
        }
      }
    }
    // The first rotation runs at deploy: it needs the database up.
    const database = props.database ?? resolved.target;
    if (database && isDependable(database)) dependsOn.push(database);
    if (inVpc && resolved.vpc) {
      for (const endpoint of props.vpcEndpoints ?? []) {
        endpoint.connections.allowDefaultPortFrom(fn.function, 'Secret rotation function');
        if (isDependable(endpoint)) dependsOn.push(endpoint);
      }
      if (props.createVpcEndpoints) {
        const services = [
          ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
          ...(props.events ? [ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE] : []),
        ];
        const shared = RotationVpcEndpoints.of(this, resolved.vpc, resolved.vpcSubnets);
        for (const service of services) {
          const endpoint = shared.endpoint(service);
          endpoint.connections.allowDefaultPortFrom(fn.function, 'Secret rotation function');
          dependsOn.push(endpoint);
        }
      }
    }
    this.rotationLambda = lambda.Function.fromFunctionAttributes(this, 'RotationLambda', {
      functionArn: fn.function.functionArn,
      sameEnvironment: true,
      skipPermissions: true,
    });
    const grants = { listVersions: props.strategy === DatabaseRotationStrategy.SINGLE_USER };
    if (props.createSchedule ?? true) {
      this.rotationSchedule = scheduleRotation(this, resolved.secret, fn.function, schedule, {
        dependsOn,
        ...grants,
      });
    } else {
      grantRotation(this, resolved.secret, fn.function, grants);
    }
  }
}

/**
 * The interface endpoints of one VPC that the rotations of one stack share: one endpoint a service, whatever
 * the number of rotations (a second endpoint with private DNS for the same service would fail to deploy).
 */
export class RotationVpcEndpoints extends Construct {
  /** The shared endpoints of `vpc` in the stack of `scope`, created on first use. */
  static of(
    scope: IConstruct,
    vpc: ec2.IVpc,
    subnets: ec2.SubnetSelection | undefined,
  ): RotationVpcEndpoints {
    const stack = Stack.of(scope);
    const id = `RotationVpcEndpoints${vpc.node.addr}`;
    const existing = stack.node.tryFindChild(id) as RotationVpcEndpoints | undefined;
    return existing ?? new RotationVpcEndpoints(stack, id, vpc, subnets);
  }

  readonly #vpc: ec2.IVpc;
  readonly #subnets: ec2.SubnetSelection | undefined;
  readonly #endpoints = new Map<string, { endpoint: ec2.InterfaceVpcEndpoint; shortName: string }>();

  private constructor(scope: Construct, id: string, vpc: ec2.IVpc, subnets: ec2.SubnetSelection | undefined) {
    super(scope, id);
    this.#vpc = vpc;
    this.#subnets = subnets;
    this.node.addValidation({ validate: () => this.#conflicts() });
  }

  /** The endpoint of `service`, in the subnets of the first rotation that asked (the function's subnets). */
  endpoint(service: ec2.InterfaceVpcEndpointAwsService): ec2.InterfaceVpcEndpoint {
    const existing = this.#endpoints.get(service.name);
    if (existing) return existing.endpoint;
    const id = service.shortName.replace(/[^A-Za-z0-9]/g, '');
    const endpoint = new ec2.InterfaceVpcEndpoint(this, id, {
      vpc: this.#vpc,
      service,
      ...(this.#subnets ? { subnets: this.#subnets } : {}),
      privateDnsEnabled: true,
    });
    Validations.of(endpoint).acknowledge({
      id: 'AwsSolutions::AwsSolutions-EC23',
      reason:
        "The endpoint's security group admits HTTPS from the VPC's own CIDR only (an intrinsic cdk-nag cannot read)",
    });
    this.#endpoints.set(service.name, { endpoint, shortName: service.shortName });
    return endpoint;
  }

  /** Another endpoint of the same service with private DNS in the same VPC anywhere in the app fails to deploy. */
  #conflicts(): string[] {
    const ours = [...this.#endpoints.entries()];
    const all = this.node.root.node
      .findAll()
      .filter((c): c is ec2.InterfaceVpcEndpoint => c instanceof ec2.InterfaceVpcEndpoint);
    const errors: string[] = [];
    for (const [name, { endpoint, shortName }] of ours) {
      for (const other of all) {
        if (other === endpoint) continue;
        const cfn = other.node.defaultChild as ec2.CfnVPCEndpoint;
        const mine = endpoint.node.defaultChild as ec2.CfnVPCEndpoint;
        if (cfn.vpcId === mine.vpcId && cfn.serviceName === name && cfn.privateDnsEnabled !== false) {
          errors.push(
            `${other.node.path} is another ${shortName} endpoint with private DNS in the same VPC: only one can deploy. ` +
              'Give it to the rotations as vpcEndpoints instead of createVpcEndpoints.',
          );
        }
      }
    }
    return errors;
  }
}

function isDependable(x: unknown): x is IDependable & IConstruct {
  return typeof x === 'object' && x !== null && 'node' in x;
}

/** The database's own fields, read from the construct (some are not on the public interface). */
function fromDatabase(database: RotatedDatabase | undefined): {
  vpc?: ec2.IVpc;
  vpcSubnets?: ec2.SubnetSelection;
  secret?: secretsmanager.ISecret;
  rdsMaster?: RdsMasterTarget;
} {
  if (!database) return {};
  const fields = database as unknown as {
    vpc?: ec2.IVpc;
    vpcPlacement?: ec2.SubnetSelection;
    vpcSubnets?: ec2.SubnetSelection;
    secret?: secretsmanager.ISecret;
  };
  const vpcSubnets = fields.vpcPlacement ?? fields.vpcSubnets;
  const rdsMaster: RdsMasterTarget =
    'instanceIdentifier' in database
      ? { type: 'instance', identifier: database.instanceIdentifier }
      : { type: 'cluster', identifier: database.clusterIdentifier };
  return {
    ...(fields.vpc ? { vpc: fields.vpc } : {}),
    ...(vpcSubnets ? { vpcSubnets } : {}),
    ...(fields.secret ? { secret: fields.secret } : {}),
    rdsMaster,
  };
}

function resolve(props: DatabaseSecretRotationProps): Resolved {
  const p = 'DatabaseSecretRotationProps';
  if (!Object.values(DatabaseRotationStrategy).includes(props.strategy)) {
    throw new Error(
      `${p}.strategy must be one of ${Object.values(DatabaseRotationStrategy).join(', ')}, got '${props.strategy}'`,
    );
  }
  const db = fromDatabase(props.database);
  const alternating = props.strategy === DatabaseRotationStrategy.ALTERNATING_USERS;
  const rdsMaster = props.strategy === DatabaseRotationStrategy.RDS_MASTER;
  if (alternating && !props.secret) {
    throw new Error(
      `${p}.secret is required for the 'alternating-users' strategy: the application user's secret (the database's own secret is its master secret)`,
    );
  }
  const secret = props.secret ?? db.secret;
  if (!secret) {
    throw new Error(
      `${p}.secret is required: ${props.database ? 'the database has no secret' : 'no database is given'}`,
    );
  }
  const masterSecret = props.masterSecret ?? (alternating ? db.secret : undefined);
  if (alternating && !masterSecret) {
    throw new Error(`${p}.masterSecret is required for the 'alternating-users' strategy`);
  }
  if (!rdsMaster && props.rdsMaster) {
    throw new Error(`${p}.rdsMaster is only for the 'rds-master' strategy, not '${props.strategy}'`);
  }
  const rdsTarget = rdsMaster ? (props.rdsMaster ?? (props.database ? db.rdsMaster : undefined)) : undefined;
  if (rdsMaster && !rdsTarget) {
    throw new Error(`${p}.rdsMaster is required for the 'rds-master' strategy (or give database)`);
  }
  if (props.port !== undefined && !Token.isUnresolved(props.port) && (props.port < 1 || props.port > 65535)) {
    throw new Error(`${p}.port must be from 1 to 65535, got ${props.port}`);
  }
  const vpc = props.vpc ?? db.vpc;
  if (!rdsMaster && !vpc) {
    throw new Error(
      `${p}.vpc is required for the '${props.strategy}' strategy: the function must run in the database's VPC to reach it ` +
        '(give database, or vpc); only rds-master, which goes through the RDS API, runs without one',
    );
  }
  if (props.createVpcEndpoints && rdsMaster) {
    throw new Error(`${p}.createVpcEndpoints is not for rds-master: its function runs outside the VPC`);
  }
  const vpcSubnets = props.vpcSubnets ?? db.vpcSubnets;
  const target = props.target ?? props.database;
  return {
    secret,
    ...(masterSecret ? { masterSecret } : {}),
    ...(rdsTarget ? { rdsMaster: rdsTarget } : {}),
    ...(vpc ? { vpc } : {}),
    ...(vpcSubnets ? { vpcSubnets } : {}),
    ...(target ? { target } : {}),
  };
}
