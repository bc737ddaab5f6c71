import { existsSync } from 'node:fs';
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
 * Where the installed package keeps its pre-bundled functions: `npm run build` bundles every
 * `functions/<name>/<x>handler.ts` with `ROTATION_BUNDLING` into `<dir>/<name>/<x>handler/index.js`, next to
 * the compiled constructs (`lib/assets`). In the repository, running from source, the directory does not
 * exist and `NodejsFunction` bundles the sources at synth, as before.
 */
export const PREBUNDLED_DIR = path.join(__dirname, 'assets');

/** The pre-bundled asset of `entry` when running from the installed package; `undefined` from source. */
function prebundledAsset(entry: string): string | undefined {
  if (!existsSync(PREBUNDLED_DIR)) return undefined;
  const relative = path.relative(FUNCTIONS_DIR, path.resolve(entry));
  const asset = path.join(PREBUNDLED_DIR, relative.replace(/\.ts$/, ''));
  if (!relative.startsWith('..') && !path.isAbsolute(relative) && existsSync(path.join(asset, 'index.js'))) {
    return asset;
  }
  if (existsSync(entry)) return undefined;
  throw new Error(
    `RotationFunctionProps.entry: ${entry} is neither one of the package's pre-bundled functions nor a file`,
  );
}

/**
 * How every function is bundled: one minified CommonJS file with a source map, the AWS SDK inside it (so the
 * versions the tests ran with are the versions deployed), `pg-native` left out (the pure JavaScript driver is
 * used). The map carries positions and names but not the sources' text (`sourcesContent: false`): a stack
 * trace needs only file, line and column, and the map is a third of the size. `bench:bundles` and
 * `bench:rotation` build with the same settings.
 */
export const ROTATION_BUNDLING = {
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  target: 'node24',
  externalModules: ['pg-native'],
} as const;

/**
 * `NODE_OPTIONS` of every function: none. `--enable-source-maps` would make Node parse the bundle's source
 * map at every cold start (measured by `bench:rotation`); instead each entry maps the stack of an error that
 * leaves the handler with the shipped map, on demand (functions/rotation/source-maps.ts). Setting
 * `NODE_OPTIONS=--enable-source-maps` on a function still works, for debugging, and then Node maps every stack.
 * `bench:rotation` runs the bundles with this value.
 */
export const ROTATION_NODE_OPTIONS: string = '';

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
 * esbuild bundle with a source map applied on demand (bundled locally, no Docker), JSON logs with a retention. Functions that
 * talk to databases ship the RDS CAs in their bundle (functions/database/engines/trust.ts).
 */
export class RotationFunction extends Construct {
  /** The function: pre-bundled code from the package, or a `NodejsFunction` built from source. */
  readonly function: lambda.Function;
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
    const common = {
      role,
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
        ...(ROTATION_NODE_OPTIONS ? { NODE_OPTIONS: ROTATION_NODE_OPTIONS } : {}),
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? 'secret-rotation',
        ...props.environment,
      },
    };
    const asset = prebundledAsset(props.entry);
    this.function = asset
      ? new lambda.Function(this, 'Function', {
          ...common,
          code: lambda.Code.fromAsset(asset),
          handler: 'index.handler',
        })
      : new NodejsFunction(this, 'Function', {
          ...common,
          entry: props.entry,
          handler: 'handler',
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
