import * as path from 'node:path';
import { ArnFormat, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { RotationEvents } from './rotation-events';
import { FUNCTIONS_DIR, RotationFunction } from './rotation-function';
import { type RotationScheduleOptions, resolveSchedule, scheduleRotation } from './schedule';

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

/** Props of a database secret rotation. */
export interface DatabaseSecretRotationProps {
  /** The secret to rotate (an existing one, or a new `rds.DatabaseSecret`), in the JSON shape RDS uses. */
  readonly secret: secretsmanager.ISecret;
  /** How to rotate it. */
  readonly strategy: DatabaseRotationStrategy;
  /** The master secret: required for alternating users. @default - none */
  readonly masterSecret?: secretsmanager.ISecret;
  /** For rds-master: the instance or cluster. @default - none */
  readonly rdsMaster?: RdsMasterTarget;
  /** The VPC of the database (not needed for rds-master). @default - no VPC */
  readonly vpc?: ec2.IVpc;
  /** Subnets for the function. @default - private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * The database, to open its port to the function (and only that port).
   * @default - no security group rule is added
   */
  readonly target?: ec2.IConnectable;
  /** The database port. @default 5432 */
  readonly port?: number;
  /** When to rotate. @default every 30 days, rotating immediately */
  readonly schedule?: RotationScheduleOptions;
  /** The rotation events bus: the function publishes to it. @default - no events */
  readonly events?: RotationEvents;
  /**
   * Create interface endpoints in `vpc` for Secrets Manager (and RDS, EventBridge where used), for subnets
   * without NAT.
   * @default false
   */
  readonly createVpcEndpoints?: boolean;
  /** Extra environment variables of the function (e.g. `PASSWORD_LENGTH`). @default - none */
  readonly environment?: Record<string, string>;
}

/**
 * Rotates a database secret with our function: the schedule, the function with least privilege (its own
 * secret, the master secret, the one RDS resource, the bus), and the database port opened to it alone.
 */
export class DatabaseSecretRotation extends Construct implements ec2.IConnectable {
  readonly rotationFunction: lambda.IFunction;
  readonly rotationSchedule: secretsmanager.RotationSchedule;
  readonly connections: ec2.Connections;
  readonly strategy: DatabaseRotationStrategy;

  constructor(scope: Construct, id: string, props: DatabaseSecretRotationProps) {
    super(scope, id);
    validate(props);
    this.strategy = props.strategy;
    const schedule = resolveSchedule(props.schedule);
    const rdsMaster = props.strategy === DatabaseRotationStrategy.RDS_MASTER;
    const fn = new RotationFunction(this, 'Rotation', {
      entry: path.join(FUNCTIONS_DIR, 'database', 'handler.ts'),
      // rds-master's testSecret waits for RDS to apply the change (RDS_MASTER_WAIT_SECONDS, 600 s).
      timeout: rdsMaster ? Duration.minutes(14) : Duration.seconds(60),
      environment: {
        ROTATION_KIND: 'database',
        ROTATION_STRATEGY: props.strategy,
        ...(props.events ? { EVENT_BUS_NAME: props.events.eventBus.eventBusArn } : {}),
        ...props.environment,
      },
      ...(props.vpc && !rdsMaster ? { vpc: props.vpc } : {}),
      ...(props.vpcSubnets && !rdsMaster ? { vpcSubnets: props.vpcSubnets } : {}),
    });
    this.rotationFunction = fn.function;
    // Without a VPC (rds-master) there is nothing to connect: an empty set of connections.
    this.connections = fn.function.isBoundToVpc ? fn.function.connections : new ec2.Connections();

    this.rotationSchedule = scheduleRotation(props.secret, fn.function, schedule);
    props.masterSecret?.grantRead(fn.function);
    props.events?.eventBus.grantPutEventsTo(fn.function);

    if (props.rdsMaster) {
      const stack = Stack.of(this);
      const cluster = props.rdsMaster.type === 'cluster';
      fn.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: cluster
            ? ['rds:ModifyDBCluster', 'rds:DescribeDBClusters']
            : ['rds:ModifyDBInstance', 'rds:DescribeDBInstances'],
          resources: [
            stack.formatArn({
              service: 'rds',
              resource: cluster ? 'cluster' : 'db',
              resourceName: props.rdsMaster.identifier,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      );
    }
    if (props.target && !rdsMaster) {
      const port = props.port ?? 5432;
      props.target.connections.allowFrom(fn.function, ec2.Port.tcp(port), 'Secret rotation function');
    }
    if (props.createVpcEndpoints && props.vpc) {
      const subnets = props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
      const services = [
        ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
        ...(props.events ? [ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE] : []),
      ];
      for (const [i, service] of services.entries()) {
        const endpoint = props.vpc.addInterfaceEndpoint(`RotationEndpoint${i}`, { service, subnets });
        endpoint.connections.allowDefaultPortFrom(fn.function);
        Validations.of(endpoint).acknowledge({
          id: 'AwsSolutions::AwsSolutions-EC23',
          reason:
            "The endpoint's security group admits HTTPS from the VPC's own CIDR only (an intrinsic cdk-nag cannot read)",
        });
      }
    }
  }
}

function validate(props: DatabaseSecretRotationProps): void {
  if (props.strategy === DatabaseRotationStrategy.ALTERNATING_USERS && !props.masterSecret) {
    throw new Error(
      "DatabaseSecretRotationProps.masterSecret is required for the 'alternating-users' strategy",
    );
  }
  if (props.strategy === DatabaseRotationStrategy.RDS_MASTER && !props.rdsMaster) {
    throw new Error("DatabaseSecretRotationProps.rdsMaster is required for the 'rds-master' strategy");
  }
  if (props.strategy !== DatabaseRotationStrategy.RDS_MASTER && props.rdsMaster) {
    throw new Error(
      `DatabaseSecretRotationProps.rdsMaster is only for the 'rds-master' strategy, not '${props.strategy}'`,
    );
  }
  if (!Object.values(DatabaseRotationStrategy).includes(props.strategy)) {
    throw new Error(
      `DatabaseSecretRotationProps.strategy must be one of ${Object.values(DatabaseRotationStrategy).join(', ')}, got '${props.strategy}'`,
    );
  }
  if (props.port !== undefined && !Token.isUnresolved(props.port) && (props.port < 1 || props.port > 65535)) {
    throw new Error(`DatabaseSecretRotationProps.port must be from 1 to 65535, got ${props.port}`);
  }
  if (props.target && !props.vpc && props.strategy !== DatabaseRotationStrategy.RDS_MASTER) {
    throw new Error(
      'DatabaseSecretRotationProps.vpc is required with `target`: the function must run in the database VPC',
    );
  }
}
