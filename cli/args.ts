import { parseArgs } from 'node:util';
import { UsageError } from './errors';

/** One option of a command. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** May be given more than once (string options only). */
  readonly multiple?: boolean;
  /** Placeholder of the value in help, e.g. `<duration>`. */
  readonly value?: string;
  readonly description: string;
  /** Shown in help. */
  readonly default?: string;
}

/** A positional argument of a command. */
export interface PositionalSpec {
  readonly name: string;
  readonly required: boolean;
  /** Takes every remaining positional. */
  readonly variadic?: boolean;
}

/** What a command accepts, and its help. */
export interface CommandSpec {
  readonly name: string;
  /** One line, for the list of commands. */
  readonly summary: string;
  /** Paragraphs after the usage line. */
  readonly description: string;
  readonly positionals: readonly PositionalSpec[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly examples: readonly string[];
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  'endpoint-url': {
    type: 'string',
    value: '<url>',
    description: 'Send AWS requests to this endpoint (moto, LocalStack); AWS_ENDPOINT_URL works too',
  },
  region: { type: 'string', value: '<region>', description: 'AWS region (default: the standard chain)' },
  profile: { type: 'string', value: '<name>', description: 'Profile of the shared AWS config files' },
  json: { type: 'boolean', description: 'Print one JSON document for scripts instead of text' },
  'no-color': { type: 'boolean', description: 'No colours (they are off anyway when not on a terminal)' },
  help: { type: 'boolean', short: 'h', description: 'Show help' },
};

/** The name of the executable, in usage lines. */
export const PROGRAM = 'secret-rotation';

/** A parsed command line. */
export interface ParsedCommandLine {
  readonly command: string;
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
}

/** Typed access to parsed values. */
export class Args {
  constructor(readonly parsed: ParsedCommandLine) {}

  get command(): string {
    return this.parsed.command;
  }

  get positionals(): readonly string[] {
    return this.parsed.positionals;
  }

  string(name: string): string | undefined {
    const value = this.parsed.values[name];
    if (Array.isArray(value)) return value[value.length - 1];
    return typeof value === 'string' ? value : undefined;
  }

  strings(name: string): string[] {
    const value = this.parsed.values[name];
    if (Array.isArray(value)) return value;
    return typeof value === 'string' ? [value] : [];
  }

  flag(name: string): boolean {
    return this.parsed.values[name] === true;
  }
}

type ParseArgsOptions = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

function toParseArgs(specs: Readonly<Record<string, OptionSpec>>): ParseArgsOptions {
  const options: NonNullable<ParseArgsOptions> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
    };
  }
  return options;
}

/**
 * Parses `argv` (without node and the script): the first positional is the command, options may come
 * before or after it. Returns `undefined` for the command when there is none (top-level help).
 * @throws UsageError for an unknown command or option, a missing value, or wrong positionals.
 */
export function parseCommandLine(
  argv: readonly string[],
  commands: readonly CommandSpec[],
): ParsedCommandLine | { readonly command: undefined; readonly help: boolean; readonly version: boolean } {
  const all: Record<string, OptionSpec> = {
    ...GLOBAL_OPTIONS,
    version: { type: 'boolean', description: '' },
  };
  for (const command of commands) Object.assign(all, command.options);
  const loose = parseArgs({
    args: [...argv],
    options: toParseArgs(all),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const first = loose.tokens?.find((t) => t.kind === 'positional');
  const name = first?.kind === 'positional' ? first.value : undefined;
  if (name === undefined || name === 'help') {
    // `help <command>` is the command's help.
    const topic = name === 'help' ? loose.positionals[1] : undefined;
    if (topic !== undefined) return parseCommandLine([topic, '--help'], commands);
    return {
      command: undefined,
      help: loose.values.help === true || name === 'help',
      version: loose.values.version === true,
    };
  }
  const spec = commands.find((c) => c.name === name);
  if (!spec) {
    throw new UsageError(`unknown command '${name}'; commands: ${commands.map((c) => c.name).join(', ')}`);
  }
  const rest = [...argv];
  rest.splice(first?.kind === 'positional' ? first.index : 0, 1);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: toParseArgs({ ...GLOBAL_OPTIONS, ...spec.options }),
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError(friendlyParseError(error, spec.name), spec.name, { cause: error });
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.help !== true) checkPositionals(spec, parsed.positionals);
  return { command: spec.name, positionals: parsed.positionals, values };
}

function checkPositionals(spec: CommandSpec, positionals: readonly string[]): void {
  const required = spec.positionals.filter((p) => p.required);
  if (positionals.length < required.length) {
    const missing = required[positionals.length];
    throw new UsageError(`${spec.name}: missing <${missing?.name ?? 'argument'}>`, spec.name);
  }
  const variadic = spec.positionals.some((p) => p.variadic);
  if (!variadic && positionals.length > spec.positionals.length) {
    const extra = positionals.slice(spec.positionals.length).join(' ');
    throw new UsageError(`${spec.name}: unexpected argument '${extra}'`, spec.name);
  }
}

function friendlyParseError(error: unknown, command: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `${command}: unknown option '${unknown[1]}'`;
  const missingValue = /Option '([^']+)' argument missing/.exec(message);
  if (missingValue) return `${command}: option '${optionName(missingValue[1])}' needs a value`;
  const noValue = /Option '([^']+)' does not take an argument/.exec(message);
  if (noValue) return `${command}: option '${optionName(noValue[1])}' takes no value`;
  return `${command}: ${message.split('\n')[0]}`;
}

/** `--region` from parseArgs's `-r, --region <value>`. */
function optionName(text: string | undefined): string {
  return (text ?? '').replace(/^-\w, /, '').replace(/ <value>$/, '');
}

/** Help of one command. */
export function commandHelp(spec: CommandSpec): string {
  const args = spec.positionals
    .map((p) => {
      const inner = `<${p.name}>${p.variadic ? '...' : ''}`;
      return p.required ? inner : `[${inner}]`;
    })
    .join(' ');
  const lines = [
    `Usage: ${PROGRAM} ${spec.name}${args ? ` ${args}` : ''} [options]`,
    '',
    spec.description,
    '',
  ];
  if (Object.keys(spec.options).length > 0) {
    lines.push('Options:', ...optionLines(spec.options), '');
  }
  lines.push('Global options:', ...optionLines(GLOBAL_OPTIONS), '');
  if (spec.examples.length > 0) lines.push('Examples:', ...spec.examples.map((e) => `  ${e}`), '');
  return lines.join('\n');
}

/** Help of the tool: its commands and global options. */
export function programHelp(commands: readonly CommandSpec[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Operate secret rotation on AWS Secrets Manager: start and follow rotations, list their state, read a',
    "secret's versions, roll back. Talks to AWS through the standard credential chain and region, or to any",
    'endpoint (--endpoint-url, AWS_ENDPOINT_URL). Never prints a secret value.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    `Run '${PROGRAM} <command> --help' for a command's options, '${PROGRAM} --version' for the version.`,
    'Exit codes: 0 success, 1 failure (named on stderr), 2 wrong command line.',
    '',
  ].join('\n');
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const label = (name: string, spec: OptionSpec) =>
    `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`;
  const entries = Object.entries(options);
  const width = Math.max(...entries.map(([name, spec]) => label(name, spec).length));
  return entries.map(
    ([name, spec]) =>
      `  ${label(name, spec).padEnd(width)}  ${spec.description}${spec.default ? ` (default: ${spec.default})` : ''}${spec.multiple ? ' (repeatable)' : ''}`,
  );
}
