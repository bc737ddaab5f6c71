import * as path from 'node:path';
import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Where the project's functions live. */
export const FUNCTIONS_DIR = path.join(__dirname, '..', '..', 'functions');

/**
 * How every function is bundled: one minified CommonJS file with a source map, the AWS SDK inside it (so the
 * versions the tests ran with are the versions deployed), `pg-native` left out (the pure JavaScript driver is
 * used). `bench:bundles` builds with the same settings.
 */
export const ROTATION_BUNDLING = {
  minify: true,
  sourceMap: true,
  target: 'node24',
  externalModules: ['pg-native'],
} as const;

/** Props of a rotation function. */
export interface RotationFunctionProps {
  /** Entry file, e.g. `functions/database/handler.ts`. */
  readonly entry: string;
  /** Environment variables of the function (validated by the function at cold start). */
  readonly environment?: Record<string, string>;
  /**
   * Time the work may take.
   * @default Duration.seconds(60)
   */
  readonly timeout?: Duration;
  /**
   * Memory.
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * How long to keep the logs.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /** VPC to run in (for databases the function must reach). @default - no VPC */
  readonly vpc?: ec2.IVpc;
  /** Subnets in `vpc`. @default - private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Security groups in `vpc`. @default - one is created */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /** Service name in logs and metrics. @default 'secret-rotation' */
  readonly serviceName?: string;
}

/**
 * A rotation Lambda as every construct here builds it: the current Node.js runtime on ARM64, a minified
 * esbuild bundle with source maps (bundled locally, no Docker), JSON logs with a retention. Functions that
 * talk to databases ship the RDS CAs in their bundle (functions/database/engines/trust.ts).
 */
export class RotationFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RotationFunctionProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.seconds(60);
    if (timeout.toSeconds() > 900)
      throw new Error(
        `RotationFunctionProps.timeout must be at most 15 minutes, got ${timeout.toHumanString()}`,
      );
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = executionRole(this, this.logGroup, props.vpc !== undefined);
    this.function = new NodejsFunction(this, 'Function', {
      role,
      entry: props.entry,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout,
      memorySize: props.memorySize ?? 256,
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup: this.logGroup,
      ...(props.vpc ? { vpc: props.vpc } : {}),
      ...(props.vpcSubnets ? { vpcSubnets: props.vpcSubnets } : {}),
      ...(props.securityGroups ? { securityGroups: props.securityGroups } : {}),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? 'secret-rotation',
        ...props.environment,
      },
      bundling: {
        ...ROTATION_BUNDLING,
        externalModules: [...ROTATION_BUNDLING.externalModules],
        format: OutputFormat.CJS,
        forceDockerBundling: false,
      },
    });
  }
}

/**
 * The function's role: its logs go to its own log group only (`AWSLambdaBasicExecutionRole` would grant
 * `logs:*` actions on every log group of the account), and in a VPC the network interface actions Lambda
 * needs (which IAM accepts on "*" only; the same as `AWSLambdaVPCAccessExecutionRole` without its `logs:*`).
 */
function executionRole(scope: Construct, logGroup: logs.ILogGroup, inVpc: boolean): iam.Role {
  const role = new iam.Role(scope, 'Role', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'Execution role of a secret rotation function',
  });
  // The log group is created by the construct, so the function never needs logs:CreateLogGroup.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn],
    }),
  );
  if (inVpc) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );
  }
  Validations.of(role).acknowledge({
    id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${Stack.of(scope).getLogicalId(logGroup.node.defaultChild as CfnElement)}.Arn>]`,
    reason: "The function's own log group: ':*' covers its log streams, which Lambda names at run time",
  });
  if (inVpc) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'Lambda manages the network interfaces of a function in a VPC; IAM accepts these ec2 actions on "*" only',
    });
  }
  return role;
}
