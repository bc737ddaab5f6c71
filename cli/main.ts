import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Environment } from '../functions/rotation/config';
import { Args, type CommandSpec, commandHelp, PROGRAM, parseCommandLine, programHelp } from './args';
import {
  type ConnectionOptions,
  clientConfig,
  cloudWatchLogReader,
  describeTarget,
  type FunctionInfoReader,
  type LogReader,
  lambdaFunctionInfoReader,
} from './aws';
import {
  approveSpec,
  denySpec,
  requestApprovalSpec,
  runApprove,
  runDeny,
  runRequestApproval,
} from './commands/approve';
import { auditSpec, runAudit } from './commands/audit';
import { consumersSpec, runConsumers } from './commands/consumers';
import { historySpec, runHistory } from './commands/history';
import { rollbackSpec, runRollback } from './commands/rollback';
import { rotateSpec, runRotate } from './commands/rotate';
import { runStatus, statusSpec } from './commands/status';
import type { CommandContext, TextSink } from './context';
import { CliError, describeAwsError, ExitCode, UsageError } from './errors';
import { colourEnabled, palette } from './format';
import { LOCAL_FUNCTIONS, type LocalFunctionFactory } from './local-functions';

/** A command: its spec (options, help) and what it does. */
interface Command {
  readonly spec: CommandSpec;
  readonly run: (args: Args, context: CommandContext) => Promise<ExitCode>;
}

/** The commands, in the order help lists them. */
export const COMMANDS: readonly Command[] = [
  { spec: rotateSpec, run: runRotate },
  { spec: statusSpec, run: runStatus },
  { spec: historySpec, run: runHistory },
  { spec: rollbackSpec, run: runRollback },
  { spec: consumersSpec, run: runConsumers },
  { spec: auditSpec, run: runAudit },
  { spec: requestApprovalSpec, run: runRequestApproval },
  { spec: approveSpec, run: runApprove },
  { spec: denySpec, run: runDeny },
];

/** What `main` runs with; every field defaults to the process's own. Tests pass buffers, clocks and fakes. */
export interface MainDependencies {
  readonly stdout?: TextSink;
  readonly stderr?: TextSink;
  readonly env?: Environment;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  /** `null`: no Lambda reader. Default: `lambda:GetFunctionConfiguration` through the SDK. */
  readonly functions?: FunctionInfoReader | null;
  /** `null`: no logs reader. Default: `logs:FilterLogEvents` through the SDK. */
  readonly logs?: LogReader | null;
  readonly localFunctions?: Readonly<Record<string, LocalFunctionFactory>>;
  readonly interactive?: boolean;
  readonly confirm?: (question: string) => Promise<boolean>;
}

/**
 * Runs the CLI with `argv` (without node and the script) and returns the exit code: 0 success, 1 failure,
 * 2 wrong command line. Never throws; every error becomes one line on stderr naming the secret and the cause.
 */
export async function main(argv: readonly string[], deps: MainDependencies = {}): Promise<ExitCode> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  const env = deps.env ?? process.env;
  let command: string | undefined;
  let client: SecretsManagerClient | undefined;
  try {
    const parsed = parseCommandLine(
      argv,
      COMMANDS.map((c) => c.spec),
    );
    if (parsed.command === undefined) {
      if (parsed.version) {
        stdout.write(`${version()}\n`);
        return ExitCode.OK;
      }
      stdout.write(programHelp(COMMANDS.map((c) => c.spec)));
      if (parsed.help) return ExitCode.OK;
      return ExitCode.USAGE;
    }
    command = parsed.command;
    const args = new Args(parsed);
    const selected = COMMANDS.find((c) => c.spec.name === command) as Command;
    if (args.flag('help')) {
      stdout.write(commandHelp(selected.spec));
      return ExitCode.OK;
    }
    const connection: ConnectionOptions = {
      ...(args.string('endpoint-url') ? { endpoint: args.string('endpoint-url') as string } : {}),
      ...(args.string('region') ? { region: args.string('region') as string } : {}),
      ...(args.string('profile') ? { profile: args.string('profile') as string } : {}),
    };
    if (connection.endpoint && !/^https?:\/\/[^/\s]+/.test(connection.endpoint)) {
      throw new UsageError(`--endpoint-url must be an http(s) URL, got '${connection.endpoint}'`, command);
    }
    const config = clientConfig(connection);
    client = new SecretsManagerClient(config);
    const functions = deps.functions === undefined ? lambdaFunctionInfoReader(config) : deps.functions;
    const logs = deps.logs === undefined ? cloudWatchLogReader(config) : deps.logs;
    const interactive = deps.interactive ?? (process.stdin.isTTY === true && stdout.isTTY === true);
    const context: CommandContext = {
      secretsManager: client,
      clientConfig: config,
      target: describeTarget(connection, env),
      ...(functions ? { functions } : {}),
      ...(logs ? { logs } : {}),
      localFunctions: deps.localFunctions ?? LOCAL_FUNCTIONS,
      stdout,
      stderr,
      json: args.flag('json'),
      palette: palette(colourEnabled(stdout.isTTY, env, args.flag('no-color'))),
      interactive,
      confirm: deps.confirm ?? askOnTerminal,
      env,
      now: deps.now ?? (() => new Date()),
      sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    };
    return await selected.run(args, context);
  } catch (error) {
    return report(error, command, stderr);
  } finally {
    client?.destroy();
  }
}

function report(error: unknown, command: string | undefined, stderr: TextSink): ExitCode {
  const cliError = error instanceof CliError ? error : describeAwsError(error, undefined);
  stderr.write(`error: ${cliError.message}\n`);
  if (cliError instanceof UsageError) {
    const about = cliError.command ?? command;
    stderr.write(`Run '${PROGRAM}${about ? ` ${about}` : ''} --help' for usage.\n`);
  }
  return cliError.exitCode;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return `${PROGRAM} ${pkg.version ?? 'unknown'}`;
  } catch {
    return `${PROGRAM} unknown`;
  }
}

async function askOnTerminal(question: string): Promise<boolean> {
  const terminal = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await new Promise<string>((resolve) => terminal.question(question, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    terminal.close();
  }
}
