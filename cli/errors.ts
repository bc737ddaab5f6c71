/** Exit codes of the command-line tool. */
export const ExitCode = {
  OK: 0,
  /** The command ran and something failed: a rotation, a refused rollback, an AWS error. */
  FAILURE: 1,
  /** The command line was wrong: an unknown command or option, a missing argument, a bad value. */
  USAGE: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the CLI reports as one line and exit code 1. Messages name the secret and never hold a value. */
export class CliError extends Error {
  readonly exitCode: ExitCode = ExitCode.FAILURE;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** A wrong command line: reported with a pointer to `--help` and exit code 2. */
export class UsageError extends CliError {
  override readonly exitCode: ExitCode = ExitCode.USAGE;
  constructor(
    message: string,
    /** The command whose help to point at, when known. */
    readonly command?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/** Whether an error (an SDK error, or anything thrown) has the given name. */
export function isNamed(error: unknown, ...names: readonly string[]): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const name = (error as { name?: unknown }).name;
  return typeof name === 'string' && names.includes(name);
}

/** Where a command talks to, for error messages: "region us-east-1, endpoint http://127.0.0.1:4566". */
export interface Target {
  readonly region?: string;
  readonly endpoint?: string;
}

/**
 * Turns an AWS SDK error into a one-line `CliError` naming the secret (when there is one) and the cause.
 * AWS error messages never carry secret values; local rotation functions scrub theirs.
 */
export function describeAwsError(error: unknown, secret: string | undefined, target: Target = {}): CliError {
  if (error instanceof CliError) return error;
  const about = secret ? `secret ${secret}: ` : '';
  const where = [
    target.region ? `region ${target.region}` : '',
    target.endpoint ? `endpoint ${target.endpoint}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  if (isNamed(error, 'ResourceNotFoundException')) {
    return new CliError(`${about}not found${where ? ` (${where})` : ''}: ${firstLine(message)}`, {
      cause: error,
    });
  }
  if (isNamed(error, 'AccessDeniedException', 'AccessDenied', 'UnauthorizedOperation')) {
    return new CliError(`${about}access denied: ${firstLine(message)}`, { cause: error });
  }
  if (isNamed(error, 'CredentialsProviderError') || /Could not load credentials/i.test(message)) {
    return new CliError(
      'no AWS credentials found: configure the standard chain (AWS_PROFILE or --profile, environment variables, ' +
        'SSO, an instance role)',
      { cause: error },
    );
  }
  if (/Region is missing/i.test(message)) {
    return new CliError('no AWS region: pass --region or set AWS_REGION', { cause: error });
  }
  if (isNamed(error, 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException')) {
    return new CliError(`${about}AWS refused the credentials: ${firstLine(message)}`, { cause: error });
  }
  if (
    code === 'ECONNREFUSED' ||
    code === 'ENOTFOUND' ||
    code === 'ETIMEDOUT' ||
    /ECONNREFUSED/.test(message)
  ) {
    return new CliError(
      `${about}cannot reach ${target.endpoint ?? 'the AWS endpoint'}: ${firstLine(message)}`,
      {
        cause: error,
      },
    );
  }
  const name = error instanceof Error ? error.name : 'Error';
  return new CliError(`${about}${name}: ${firstLine(message)}`, { cause: error });
}

/** The first line of a message, so that every error stays one line. */
export function firstLine(message: string): string {
  const line = message.split('\n').find((l) => l.trim().length > 0) ?? message;
  return line.trim();
}
