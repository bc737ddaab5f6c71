import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Target } from './errors';

/** Where AWS requests go, from the global options. Unset fields fall back to the SDK's standard chain. */
export interface ConnectionOptions {
  readonly endpoint?: string;
  readonly region?: string;
  readonly profile?: string;
}

/** Client configuration every AWS SDK v3 client accepts. */
export interface AwsClientConfig {
  readonly endpoint?: string;
  readonly region?: string;
  readonly profile?: string;
}

/**
 * Configuration for every AWS SDK client the CLI builds. Only what the user set is passed, so the unmodified
 * SDK resolves the rest (credentials chain, region, `AWS_ENDPOINT_URL`) exactly as the AWS CLI would.
 */
export function clientConfig(options: ConnectionOptions): AwsClientConfig {
  return {
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
  };
}

/** Where requests go, for error messages: the flags, else the variables the SDK reads. */
export function describeTarget(
  options: ConnectionOptions,
  env: Readonly<Record<string, string | undefined>>,
): Target {
  const endpoint = options.endpoint ?? env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? env.AWS_ENDPOINT_URL;
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  return { ...(endpoint ? { endpoint } : {}), ...(region ? { region } : {}) };
}

/** What the CLI needs of a rotation function's configuration. */
export interface FunctionInfo {
  /** Environment variables. Only `ROTATION_KIND` and `ROTATION_STRATEGY` are ever read; none is printed. */
  readonly environment: Readonly<Record<string, string>>;
  /** The function's log group when it is not the default `/aws/lambda/<name>` (Lambda's LoggingConfig). */
  readonly logGroup?: string;
}

/** Reads a Lambda function's configuration (`lambda:GetFunctionConfiguration`). */
export interface FunctionInfoReader {
  describe(functionArn: string): Promise<FunctionInfo>;
}

/** One CloudWatch Logs event. */
export interface LogEvent {
  readonly eventId: string;
  readonly timestamp: number;
  readonly message: string;
}

/** Reads a function's log events (`logs:FilterLogEvents`), every page. */
export interface LogReader {
  filter(logGroupName: string, filterPattern: string, startTime: number): Promise<LogEvent[]>;
}

/** A reader over `lambda:GetFunctionConfiguration`. */
export function lambdaFunctionInfoReader(config: AwsClientConfig): FunctionInfoReader {
  const client = new LambdaClient(config);
  return {
    async describe(functionArn) {
      const out = await client.send(new GetFunctionConfigurationCommand({ FunctionName: functionArn }));
      const logGroup = out.LoggingConfig?.LogGroup;
      return { environment: out.Environment?.Variables ?? {}, ...(logGroup ? { logGroup } : {}) };
    },
  };
}

/** A reader over `logs:FilterLogEvents`, every page. */
export function cloudWatchLogReader(config: AwsClientConfig): LogReader {
  const client = new CloudWatchLogsClient(config);
  return {
    async filter(logGroupName, filterPattern, startTime) {
      const events: LogEvent[] = [];
      let nextToken: string | undefined;
      do {
        const out = await client.send(
          new FilterLogEventsCommand({
            logGroupName,
            filterPattern,
            startTime,
            ...(nextToken ? { nextToken } : {}),
          }),
        );
        for (const e of out.events ?? []) {
          if (e.eventId && e.message !== undefined) {
            events.push({ eventId: e.eventId, timestamp: e.timestamp ?? 0, message: e.message });
          }
        }
        nextToken = out.nextToken;
      } while (nextToken);
      return events;
    },
  };
}

/** The function name of a Lambda ARN (`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`). */
export function functionNameOf(functionArn: string): string {
  const parts = functionArn.split(':');
  const index = parts.indexOf('function');
  return index >= 0 && parts[index + 1] ? (parts[index + 1] as string) : functionArn;
}
