import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import {
  ApiKeyRotation,
  ConsumerTracker,
  DatabaseRotationStrategy,
  DatabaseSecretRotation,
  JwtSigningKeyRotation,
  RotationAlarms,
  RotationEvents,
} from '../constructs';
import { ConsumerBroadcast } from '../constructs/consumer-broadcast';

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
    });
    const appSecret = new rds.DatabaseSecret(this, 'OrdersAppSecret', {
      username: 'orders_app',
      dbname: 'orders',
      masterSecret: cluster.secret,
      encryptionKey: key,
    }).attach(cluster);

    this.events = new RotationEvents(this, 'RotationEvents', { eventBusName: 'secret-rotation' });
    this.rotation = new DatabaseSecretRotation(this, 'OrdersAppRotation', {
      secret: appSecret,
      strategy: DatabaseRotationStrategy.ALTERNATING_USERS,
      masterSecret: cluster.secret!,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      target: cluster,
      port: 5433,
      schedule: { every: Duration.days(30), window: Duration.hours(4) },
      events: this.events,
      createVpcEndpoints: true,
    });

    // The cluster's master password rotates too, through the RDS API: no network path needed.
    const masterRotation = new DatabaseSecretRotation(this, 'OrdersMasterRotation', {
      secret: cluster.secret!,
      strategy: DatabaseRotationStrategy.RDS_MASTER,
      rdsMaster: { type: 'cluster', identifier: cluster.clusterIdentifier },
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
  }
}
