import { Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { escapeIdentifier, escapeLiteral } from 'pg';
import {
  ApiKeyRotation,
  ConsumerTracker,
  DatabaseRotationStrategy,
  DatabaseSecretRotation,
  grantSecretRead,
  JwtSigningKeyRotation,
  RotationAlarms,
  RotationApproval,
  RotationAudit,
  RotationEvents,
} from '../constructs';
import { ConsumerBroadcast } from '../constructs/consumer-broadcast';

/**
 * The SQL that prepares an alternating-users pair before the first rotation, in one statement (the Data API
 * runs one per call), idempotently, run with the master secret: the application user and its alternate
 * `<user>_clone`, both without a password, CONNECT on the database, the clone a member of the user, and the
 * clone's pair record for the secret (a comment on the role, as the rotation function itself writes it when
 * it creates a clone; docs/security.md, "Database rotation"). The rotation refuses a first rotation whose
 * AWSCURRENT does not log in unless the database holds that record, so that whoever can write the secret
 * cannot turn the master credentials against another account; the record written here by the deployment,
 * with the master's own privileges, is what lets the first rotation give the clone its password. Identifiers
 * and literals are quoted by pg's own functions; `secretArn` may be a CDK token (resolved at deploy).
 */
export function alternatingPairBootstrapSql(props: {
  readonly secretArn: string;
  readonly username: string;
  readonly database: string;
}): string {
  const clone = `${props.username}_clone`;
  const record = JSON.stringify({
    secretRotationPair: { secretArn: props.secretArn, base: props.username, clone },
  });
  const [user, alternate] = [escapeIdentifier(props.username), escapeIdentifier(clone)];
  return (
    'DO $bootstrap$ BEGIN ' +
    `IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = ${escapeLiteral(props.username)}) THEN ` +
    `CREATE ROLE ${user} LOGIN; END IF; ` +
    `IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = ${escapeLiteral(clone)}) THEN ` +
    `CREATE ROLE ${alternate} LOGIN INHERIT; END IF; ` +
    `GRANT CONNECT ON DATABASE ${escapeIdentifier(props.database)} TO ${user}; ` +
    `GRANT ${user} TO ${alternate}; ` +
    `COMMENT ON ROLE ${alternate} IS ${escapeLiteral(record)}; ` +
    'END $bootstrap$'
  );
}

/** cdk-nag findings on aws-cdk-lib's own custom resource provider, with their reasons. */
function acknowledgeCustomResourceProvider(stack: Stack): void {
  // The singleton provider's construct id is 'AWS' and its UUID without dashes.
  const provider = stack.node.tryFindChild(
    `AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`,
  );
  if (!provider) throw new Error('The AwsCustomResource provider was not found in the stack');
  Validations.of(provider).acknowledge(
    {
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        "aws-cdk-lib's AwsCustomResource provider, run once at deploy to create the application user; its role is not configurable",
    },
    {
      id: 'AwsSolutions::AwsSolutions-L1',
      reason: 'aws-cdk-lib chooses the runtime of its AwsCustomResource provider',
    },
  );
}

/**
 * The example application `cdk.json` runs: a VPC, an Aurora PostgreSQL cluster whose application user is
 * rotated by alternating users and its master password through the RDS API, a JWT signing key with its
 * JWKS behind CloudFront, the API key callers present to the orders API, the rotation events bus with a broadcast to every replica of the orders service, and the alarms and
 * dashboard.
 */
export class ExampleStack extends Stack {
  readonly rotation: DatabaseSecretRotation;
  readonly events: RotationEvents;
  readonly alarms: RotationAlarms;
  /** The rotation broadcast the orders service's replicas subscribe to. */
  readonly consumerBroadcast: ConsumerBroadcast;
  /** The orders service's task role: reads its secrets, may run the broadcast subscriber. */
  readonly ordersServiceRole: iam.Role;
  readonly jwt: JwtSigningKeyRotation;
  readonly apiKey: ApiKeyRotation;
  readonly consumerTracker: ConsumerTracker;
  /** The master password's rotation waits for a person's approval (four-eyes). */
  readonly masterApproval: RotationApproval;
  /** Every rotation, approval, rollback and fleet rotation, with who did it, in one log group. */
  readonly audit: RotationAudit;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_YEAR }),
          ),
        },
      },
    });
    const key = new kms.Key(this, 'DataKey', {
      enableKeyRotation: true,
      description: 'Orders database and secrets',
    });
    const cluster = new rds.DatabaseCluster(this, 'Orders', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_4 }),
      credentials: rds.Credentials.fromGeneratedSecret('orders_admin', { encryptionKey: key }),
      writer: rds.ClusterInstance.serverlessV2('Writer'),
      serverlessV2MinCapacity: 0.5,
      serverlessV2MaxCapacity: 2,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      storageEncrypted: true,
      storageEncryptionKey: key,
      iamAuthentication: true,
      deletionProtection: true,
      port: 5433,
      cloudwatchLogsExports: ['postgresql'],
      defaultDatabaseName: 'orders',
      removalPolicy: RemovalPolicy.SNAPSHOT,
      // The application user is created through the Data API at deploy (below): no network path needed.
      enableDataApi: true,
    });
    const appSecret = new rds.DatabaseSecret(this, 'OrdersAppSecret', {
      username: 'orders_app',
      dbname: 'orders',
      masterSecret: cluster.secret,
      encryptionKey: key,
    }).attach(cluster);

    this.events = new RotationEvents(this, 'RotationEvents', { eventBusName: 'secret-rotation' });
    // The VPC, its subnets, the engine's port (5433) and the master secret come from the cluster.
    this.rotation = new DatabaseSecretRotation(this, 'OrdersAppRotation', {
      database: cluster,
      secret: appSecret,
      strategy: DatabaseRotationStrategy.ALTERNATING_USERS,
      schedule: { every: Duration.days(30), window: Duration.hours(4) },
      events: this.events,
      createVpcEndpoints: true,
    });

    // The alternating-users pair must exist before the first (immediate) rotation: the application user and
    // its clone, created here through the Data API with the master secret, idempotently and without a
    // password, with the clone's pair record (the first rotation gives the clone its password, the next one
    // gives orders_app its own).
    const appUser = new cr.AwsCustomResource(this, 'OrdersAppUser', {
      resourceType: 'Custom::OrdersAppUser',
      onCreate: {
        service: 'RDSDataService',
        action: 'executeStatement',
        parameters: {
          resourceArn: cluster.clusterArn,
          secretArn: cluster.secret!.secretArn,
          database: 'orders',
          sql: alternatingPairBootstrapSql({
            secretArn: appSecret.secretFullArn ?? appSecret.secretArn,
            username: 'orders_app',
            database: 'orders',
          }),
        },
        physicalResourceId: cr.PhysicalResourceId.of('orders_app'),
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['rds-data:ExecuteStatement'], resources: [cluster.clusterArn] }),
      ]),
      installLatestAwsSdk: false,
    });
    grantSecretRead(appUser, cluster.secret!, this);
    appUser.node.addDependency(cluster);
    this.rotation.rotationSchedule?.node.addDependency(appUser);
    acknowledgeCustomResourceProvider(this);

    // The cluster's master password rotates too, through the RDS API: no network path needed.
    const masterRotation = new DatabaseSecretRotation(this, 'OrdersMasterRotation', {
      database: cluster,
      strategy: DatabaseRotationStrategy.RDS_MASTER,
      schedule: { cron: 'cron(0 3 ? * SUN *)', window: Duration.hours(3) },
      events: this.events,
    });

    this.alarms = new RotationAlarms(this, 'RotationAlarms', { overdueMargin: Duration.hours(6) });
    this.alarms.watch({
      secret: appSecret,
      rotationFunction: this.rotation.rotationFunction,
      kind: 'database',
      strategy: DatabaseRotationStrategy.ALTERNATING_USERS,
    });
    this.alarms.watch({
      secret: cluster.secret!,
      rotationFunction: masterRotation.rotationFunction,
      kind: 'database',
      strategy: DatabaseRotationStrategy.RDS_MASTER,
    });

    // The orders API signs its access tokens with a rotated key; verifiers read the JWKS through CloudFront.
    this.jwt = new JwtSigningKeyRotation(this, 'OrdersApiJwt', {
      algorithm: 'ES256',
      maxTokenLifetime: Duration.minutes(15),
      verifierCacheLifetime: Duration.minutes(10),
      distribution: { cacheTtl: Duration.minutes(1) },
      schedule: { every: Duration.days(7), window: Duration.hours(4) },
      events: this.events,
    });
    this.alarms.watch({
      secret: this.jwt.secret,
      rotationFunction: this.jwt.rotationFunction,
      kind: this.jwt.kind,
      strategy: this.jwt.strategy,
    });

    // The key callers present to the orders API: self-issued, verified by the orders service itself
    // (ApiKeyVerifier accepts the current and, through the grace period, the previous key).
    const ordersApiKey = new secretsmanager.Secret(this, 'OrdersApiKey', {
      description: 'The key callers present to the orders API',
      encryptionKey: key,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ provider: 'self-issued' }),
        generateStringKey: 'apiKey',
        excludePunctuation: true,
        passwordLength: 40,
      },
    });
    this.apiKey = new ApiKeyRotation(this, 'OrdersApiKeyRotation', {
      secret: ordersApiKey,
      provider: { type: 'self-issued' },
      gracePeriod: Duration.hours(24),
      schedule: { every: Duration.days(30), window: Duration.hours(4) },
      events: this.events,
    });
    // Every replica of the orders service learns of each rotation of its database user and its API key: a
    // queue per replica, created and removed by the client library under the broadcast's prefix.
    this.consumerBroadcast = new ConsumerBroadcast(this, 'OrdersServiceBroadcast', {
      events: this.events,
      secrets: [appSecret, ordersApiKey],
      queueNamePrefix: 'orders-service-rotation-',
    });
    this.ordersServiceRole = new iam.Role(this, 'OrdersServiceTaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'The orders service: reads its secrets and follows their rotations',
    });
    this.consumerBroadcast.grantConsume(this.ordersServiceRole);
    appSecret.grantRead(this.ordersServiceRole);
    ordersApiKey.grantRead(this.ordersServiceRole);
    this.alarms.watch({
      secret: ordersApiKey,
      rotationFunction: this.apiKey.rotationFunction,
      kind: 'api-key',
      strategy: 'self-issued',
    });
    // Which consumers use which version (docs/consumer-tracking.md): the lagging-consumer alarm, the update
    // latency widgets, and the API key sweeps report who still uses a superseded key.
    this.consumerTracker = new ConsumerTracker(this, 'ConsumerTracker', {
      eventBus: this.events.eventBus,
      topic: this.alarms.topic,
      dashboard: this.alarms.dashboard,
    });
    this.consumerTracker.informRotation(this.apiKey.rotationFunction);

    // The cluster's master password is the critical secret: its Sunday rotation waits for an approver other
    // than the requester (docs/operations.md, "Human approval").
    this.masterApproval = new RotationApproval(this, 'OrdersMasterApproval', {
      secret: cluster.secret!,
      schedule: events.Schedule.cron({ minute: '0', hour: '3', weekDay: 'SUN' }),
      eventBus: this.events.eventBus,
      alarmTopic: this.alarms.topic,
      dashboard: this.alarms.dashboard,
    });
    // The audit trail of the bus, with an archive to replay it, on the rotation dashboard.
    this.audit = new RotationAudit(this, 'Audit', {
      eventBus: this.events.eventBus,
      archiveRetention: Duration.days(400),
      dashboard: this.alarms.dashboard,
    });
  }
}
