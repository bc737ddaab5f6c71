import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Environment } from '../functions/rotation/config';
import type { AwsClientConfig, FunctionInfoReader, LogReader } from './aws';
import type { Target } from './errors';
import type { Palette } from './format';
import type { LocalFunctionFactory } from './local-functions';

/** Somewhere to write text: `process.stdout`, `process.stderr`, or a test's buffer. */
export interface TextSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** What a command runs with. Built by `main` from the global options; tests build their own. */
export interface CommandContext {
  /** Secrets Manager, against AWS or `--endpoint-url`. */
  readonly secretsManager: SecretsManagerClient;
  /** The configuration the client was built with, for the other clients a command builds. */
  readonly clientConfig: AwsClientConfig;
  /** Where requests go, for error messages. */
  readonly target: Target;
  /** Rotation functions' configuration (`lambda:GetFunctionConfiguration`); `undefined` when not consulted. */
  readonly functions?: FunctionInfoReader;
  /** Rotation functions' logs (`logs:FilterLogEvents`); `undefined` when not consulted. */
  readonly logs?: LogReader;
  readonly localFunctions: Readonly<Record<string, LocalFunctionFactory>>;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** `--json`: one JSON document on stdout, nothing else there. */
  readonly json: boolean;
  readonly palette: Palette;
  /** Whether a person can answer a question (stdin and stdout are terminals). */
  readonly interactive: boolean;
  /** Asks a yes/no question on the terminal. */
  readonly confirm: (question: string) => Promise<boolean>;
  readonly env: Environment;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
}

/** Writes a line to stdout. */
export function println(context: Pick<CommandContext, 'stdout'>, line = ''): void {
  context.stdout.write(`${line}\n`);
}
