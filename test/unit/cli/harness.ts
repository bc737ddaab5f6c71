import type { DescribeSecretResponse } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerServiceException } from '@aws-sdk/client-secrets-manager';
import { type MainDependencies, main } from '../../../cli/main';

/** What one run of the CLI printed, and its exit code. */
export interface Captured {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A clock that only moves when the CLI sleeps (or `advance` is called). */
export class FakeClock {
  #now: number;
  constructor(start = '2026-06-01T12:00:00Z') {
    this.#now = Date.parse(start);
  }
  readonly now = (): Date => new Date(this.#now);
  readonly sleep = async (ms: number): Promise<void> => {
    this.#now += ms;
  };
  advance(ms: number): void {
    this.#now += ms;
  }
}

/**
 * Runs the CLI in-process with buffers for stdout and stderr (not terminals unless `tty`), a fake clock, and
 * no Lambda or CloudWatch Logs reader unless given. Secrets Manager is whatever aws-sdk-client-mock stubs.
 */
export async function run(
  argv: readonly string[],
  deps: MainDependencies & { readonly tty?: boolean } = {},
): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const clock = new FakeClock();
  const code = await main(argv, {
    env: {},
    now: clock.now,
    sleep: clock.sleep,
    functions: null,
    logs: null,
    interactive: false,
    ...deps,
    stdout: { write: (text: string) => (stdout += text), isTTY: deps.tty === true },
    stderr: { write: (text: string) => (stderr += text), isTTY: false },
  });
  return { code, stdout, stderr };
}

/** An AWS service error, as the SDK throws it. */
export function awsError(name: string, message: string): SecretsManagerServiceException {
  return new SecretsManagerServiceException({ name, message, $fault: 'client', $metadata: {} });
}

export const ACCOUNT_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:';
export const FUNCTION_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:orders-rotation';

/** A `DescribeSecret` answer. */
export function described(
  name: string,
  stages: Record<string, string[]>,
  extra: Partial<DescribeSecretResponse> = {},
): DescribeSecretResponse {
  return { ARN: `${ACCOUNT_ARN}${name}-AbCdEf`, Name: name, VersionIdsToStages: stages, ...extra };
}

export const V1 = '11111111-1111-4111-8111-111111111111';
export const V2 = '22222222-2222-4222-8222-222222222222';
export const V3 = '33333333-3333-4333-8333-333333333333';
