import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { LogEvent, LogReader } from '../../../cli/aws';
import type { RotateJson } from '../../../cli/commands/rotate';
import type { LocalFunctionFactory } from '../../../cli/local-functions';
import { ConfigurationError } from '../../../functions/rotation/errors';
import { awsError, described, FUNCTION_ARN, run, V1, V2 } from './harness';

const sm = mockClient(SecretsManagerClient);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

beforeEach(() => sm.reset());

/**
 * A secret rotated on AWS: `script` gives, for each DescribeSecret after RotateSecret, the labels of the
 * rotation's token; `valueAfter` is the poll from which the token's AWSPENDING version has a value.
 */
function givenAwsRotation(options: { script: Array<string[] | undefined>; valueAfter?: number }) {
  let token = '';
  let polls = 0;
  sm.on(RotateSecretCommand).callsFake((input: { ClientRequestToken: string }) => {
    token = input.ClientRequestToken;
    return { VersionId: token };
  });
  sm.on(DescribeSecretCommand).callsFake(() => {
    if (!token)
      return described(
        'orders',
        { [V1]: ['AWSCURRENT'] },
        { RotationEnabled: true, RotationLambdaARN: FUNCTION_ARN },
      );
    const labels = options.script[Math.min(polls, options.script.length - 1)];
    polls++;
    const stages: Record<string, string[]> = {
      [V1]: labels?.includes('AWSCURRENT') ? ['AWSPREVIOUS'] : ['AWSCURRENT'],
    };
    if (labels) stages[token] = labels;
    return described('orders', stages, { RotationEnabled: true, RotationLambdaARN: FUNCTION_ARN });
  });
  sm.on(GetSecretValueCommand).callsFake(() => {
    if (options.valueAfter !== undefined && polls > options.valueAfter)
      return { VersionId: token, SecretString: '{"password":"x"}' };
    throw awsError(
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret value for VersionId",
    );
  });
  return { token: () => token, polls: () => polls };
}

/** A logs reader answering with our function's lines for the token, revealed one poll at a time. */
function logsOf(lines: (token: string) => Array<Record<string, unknown>>, rotation: { token: () => string }) {
  const calls: Array<{ group: string; pattern: string }> = [];
  let revealed = 0;
  const reader: LogReader = {
    async filter(group, pattern) {
      calls.push({ group, pattern });
      revealed++;
      return lines(rotation.token())
        .slice(0, revealed)
        .map((line, i): LogEvent => ({ eventId: String(i), timestamp: i, message: JSON.stringify(line) }));
    },
  };
  return { reader, calls };
}

describe('rotate on AWS', () => {
  it('starts RotateSecret with a new token and follows it to AWSCURRENT through the labels and the logs', async () => {
    // GIVEN a rotation that the function carries through its steps
    const rotation = givenAwsRotation({
      script: [['AWSPENDING'], ['AWSPENDING'], ['AWSPENDING'], ['AWSPENDING'], ['AWSCURRENT']],
      valueAfter: 1,
    });
    const logs = logsOf(
      (token) => [
        { level: 'INFO', message: 'Created the pending version', step: 'createSecret', token },
        { level: 'INFO', message: 'Password changed', step: 'setSecret', correlation_id: token },
        { level: 'INFO', message: 'Login works', step: 'testSecret', token },
        { level: 'INFO', message: 'Moved AWSCURRENT to the new version', step: 'finishSecret', token },
      ],
      rotation,
    );
    // WHEN
    const out = await run(['rotate', 'orders'], { logs: logs.reader });
    // THEN
    expect(out.code).toBe(0);
    const input = sm.commandCalls(RotateSecretCommand)[0]?.args[0].input;
    expect(input?.ClientRequestToken).toMatch(UUID);
    expect(input).toMatchObject({ SecretId: described('orders', {}).ARN, RotateImmediately: true });
    const steps = out.stdout
      .split('\n')
      .filter((l) => /^ +\+\d/.test(l))
      .map((l) => l.trim().split(/\s+/).slice(2, 4).join(' '));
    expect(steps).toEqual(['createSecret ok', 'setSecret ok', 'testSecret ok', 'finishSecret ok']);
    expect(out.stdout).toContain(`AWSCURRENT is now version ${rotation.token()} (was ${V1}).`);
    expect(logs.calls[0]).toEqual({ group: '/aws/lambda/orders-rotation', pattern: `"${rotation.token()}"` });
  });

  it("with --verbose prints this rotation's log lines, and not another rotation's", async () => {
    const rotation = givenAwsRotation({ script: [['AWSPENDING'], ['AWSPENDING'], ['AWSCURRENT']] });
    const logs = logsOf(
      (token) => [
        { level: 'INFO', message: 'Created the pending version', step: 'createSecret', token },
        {
          level: 'INFO',
          message: 'Another rotation',
          step: 'setSecret',
          token: '00000000-0000-4000-8000-000000000000',
        },
      ],
      rotation,
    );
    const out = await run(['rotate', 'orders', '--verbose'], { logs: logs.reader });
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('    log INFO createSecret: Created the pending version\n');
    expect(out.stdout).not.toContain('Another rotation');
  });

  it("reads the function's log group from its LoggingConfig when the function can be read", async () => {
    const rotation = givenAwsRotation({ script: [['AWSPENDING'], ['AWSCURRENT']] });
    const logs = logsOf(() => [], rotation);
    const functions = { describe: async () => ({ environment: {}, logGroup: 'OrdersRotationLogs1234' }) };
    const out = await run(['rotate', 'orders'], { logs: logs.reader, functions });
    expect(out.code).toBe(0);
    expect(logs.calls[0]?.group).toBe('OrdersRotationLogs1234');
  });

  it('fails at once, exit 1, on the function\'s "Rotation step failed" line, naming the step and the error', async () => {
    const rotation = givenAwsRotation({ script: [['AWSPENDING']], valueAfter: 0 });
    const logs = logsOf(
      (token) => [
        { level: 'INFO', message: 'Created the pending version', step: 'createSecret', token },
        {
          level: 'ERROR',
          message: 'Rotation step failed',
          step: 'setSecret',
          token,
          errorName: 'RotationStepError',
          errorMessage: 'setSecret failed: password authentication failed for user "app"',
        },
      ],
      rotation,
    );
    const out = await run(['rotate', 'orders', '--json'], { logs: logs.reader });
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      `error: secret orders: rotation failed at setSecret (version ${rotation.token()}): RotationStepError: setSecret failed: password authentication failed for user "app"; Secrets Manager may retry it with the same version, see \`secret-rotation history\`\n`,
    );
    const result = JSON.parse(out.stdout) as RotateJson;
    expect(result).toMatchObject({
      mode: 'aws',
      outcome: 'failed',
      succeeded: false,
      rotationFunction: FUNCTION_ARN,
    });
    expect(result.steps.map((s) => [s.step, s.status])).toEqual([
      ['createSecret', 'done'],
      ['setSecret', 'failed'],
      ['testSecret', 'not-started'],
      ['finishSecret', 'not-started'],
    ]);
    expect(result.error).toEqual({
      step: 'setSecret',
      name: 'RotationStepError',
      message: 'setSecret failed: password authentication failed for user "app"',
    });
  });

  it('times out with a clear message when AWSCURRENT does not move within --timeout', async () => {
    const rotation = givenAwsRotation({ script: [['AWSPENDING']], valueAfter: 0 });
    const out = await run(['rotate', 'orders', '--timeout', '10s', '--interval', '2s']);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      `error: secret orders: rotation did not finish within 10.0 s (version ${rotation.token()}); last seen: createSecret done. It may still complete: check \`secret-rotation history orders\` and the function's logs\n`,
    );
    expect(rotation.polls()).toBe(6);
    expect(out.stdout).toContain(
      "note: step-by-step progress and failures need the function's logs, which are not consulted",
    );
  });

  it('reports a rotation abandoned when the new version loses AWSPENDING without becoming current', async () => {
    givenAwsRotation({ script: [['AWSPENDING'], []] });
    const out = await run(['rotate', 'orders', '--json']);
    expect(out.code).toBe(1);
    expect(JSON.parse(out.stdout)).toMatchObject({ outcome: 'abandoned', succeeded: false });
    expect(out.stderr).toContain('rotation abandoned');
  });

  it('refuses to start while a previous rotation left AWSPENDING on another version, and says how to clear it', async () => {
    sm.on(DescribeSecretCommand).resolves(
      described(
        'orders',
        { [V1]: ['AWSCURRENT'], [V2]: ['AWSPENDING'] },
        { RotationLambdaARN: FUNCTION_ARN },
      ),
    );
    const out = await run(['rotate', 'orders']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(
      `secret orders: a previous rotation is not complete: AWSPENDING is on version ${V2}`,
    );
    expect(out.stderr).toContain(
      `(aws secretsmanager update-secret-version-stage --secret-id orders --version-stage AWSPENDING --remove-from-version-id ${V2})`,
    );
    expect(sm.commandCalls(RotateSecretCommand)).toHaveLength(0);
  });

  it('refuses a secret without a rotation function and points at --local-function', async () => {
    sm.on(DescribeSecretCommand).resolves(described('orders', { [V1]: ['AWSCURRENT'] }));
    const out = await run(['rotate', 'orders']);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      "error: secret orders: no rotation function is configured (RotationLambdaARN); configure rotation, or run this project's function in-process with --local-function <kind>\n",
    );
  });

  it('names the secret when it does not exist', async () => {
    sm.on(DescribeSecretCommand).rejects(
      awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret."),
    );
    const out = await run(['rotate', 'nope', '--region', 'eu-west-1']);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      "error: secret nope: not found (region eu-west-1): Secrets Manager can't find the specified secret.\n",
    );
  });
});

describe('rotate with --local-function', () => {
  const ARN = described('orders', {}).ARN as string;

  beforeEach(() => {
    sm.on(DescribeSecretCommand).resolves(described('orders', { [V1]: ['AWSCURRENT'] }));
  });

  /** A local function that fails the given steps on the given calls. */
  function localFunction(failOn: Array<{ step: string; call: number }> = []) {
    const events: Array<{ Step: string; ClientRequestToken: string; SecretId: string }> = [];
    const envs: unknown[] = [];
    const factory: LocalFunctionFactory = async (context) => {
      envs.push(context.env);
      return async (event) => {
        const e = event as { Step: string; ClientRequestToken: string; SecretId: string };
        events.push(e);
        const call = events.filter((x) => x.Step === e.Step).length;
        if (failOn.some((f) => f.step === e.Step && f.call === call)) {
          throw new Error(`${e.Step} failed: database refused the login`);
        }
      };
    };
    return { factory, events, envs };
  }

  it('runs the four steps in-process with one token and prints each', async () => {
    const fn = localFunction();
    const out = await run(['rotate', 'orders', '--local-function', 'database'], {
      localFunctions: { database: fn.factory },
      env: { ROTATION_STRATEGY: 'single-user' },
    });
    expect(out.code).toBe(0);
    expect(fn.events.map((e) => e.Step)).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    expect(new Set(fn.events.map((e) => e.ClientRequestToken)).size).toBe(1);
    expect(fn.events[0]?.SecretId).toBe(ARN);
    expect(fn.envs).toEqual([{ ROTATION_STRATEGY: 'single-user' }]);
    expect(out.stdout).toContain(
      'function: local database handler, run in-process (the CLI plays Secrets Manager)',
    );
    expect(out.stdout).toMatch(/createSecret {2}ok\s+\d+ ms\n.*setSecret {5}ok/);
    expect(sm.commandCalls(RotateSecretCommand)).toHaveLength(0);
  });

  it('exits 1 on a failed step with the error, and retries the whole rotation with the same token under --attempts', async () => {
    const once = localFunction([{ step: 'setSecret', call: 1 }]);
    const failed = await run(['rotate', 'orders', '--local-function', 'database', '--json'], {
      localFunctions: { database: once.factory },
    });
    expect(failed.code).toBe(1);
    const result = JSON.parse(failed.stdout) as RotateJson;
    expect(result).toMatchObject({ mode: 'local', rotationFunction: 'local:database', outcome: 'failed' });
    expect(result.error).toEqual({
      step: 'setSecret',
      name: 'Error',
      message: 'setSecret failed: database refused the login',
    });
    expect(failed.stderr).toMatch(
      /^error: secret orders: rotation failed at setSecret \(version [0-9a-f-]{36}\): Error: setSecret failed: database refused the login\n$/,
    );

    const retried = localFunction([{ step: 'setSecret', call: 1 }]);
    const ok = await run(['rotate', 'orders', '--local-function', 'database', '--attempts', '2', '--json'], {
      localFunctions: { database: retried.factory },
    });
    expect(ok.code).toBe(0);
    const steps = (JSON.parse(ok.stdout) as RotateJson).steps.map(
      (s) => `${s.attempt}:${s.step}:${s.status}`,
    );
    expect(steps).toEqual([
      '1:createSecret:done',
      '1:setSecret:failed',
      '1:testSecret:not-started',
      '1:finishSecret:not-started',
      '2:createSecret:done',
      '2:setSecret:done',
      '2:testSecret:done',
      '2:finishSecret:done',
    ]);
    expect(new Set(retried.events.map((e) => e.ClientRequestToken)).size).toBe(1);
  });

  it('gives up after --timeout when a step hangs', async () => {
    const hanging: LocalFunctionFactory = async () => () => new Promise(() => {});
    const out = await run(['rotate', 'orders', '--local-function', 'database', '--timeout', '50ms'], {
      localFunctions: { database: hanging },
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(
      /rotation did not finish within 50 ms \(version .+\); last seen: createSecret running/,
    );
  });

  it("reports the function's invalid configuration as a usage error", async () => {
    const misconfigured: LocalFunctionFactory = async () => {
      throw new ConfigurationError(
        'Environment variable ROTATION_STRATEGY is required: one of single-user, alternating-users, rds-master',
      );
    };
    const out = await run(['rotate', 'orders', '--local-function', 'database'], {
      localFunctions: { database: misconfigured },
    });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(
      "error: the database function's configuration is invalid: Environment variable ROTATION_STRATEGY is required",
    );
  });

  it('rejects an unknown local function, --attempts without it, and --verbose with --json as usage errors', async () => {
    const unknown = await run(['rotate', 'orders', '--local-function', 'ldap'], {
      localFunctions: { database: localFunction().factory },
    });
    expect(unknown.stderr).toContain("--local-function must be one of database, got 'ldap'");
    const attempts = await run(['rotate', 'orders', '--attempts', '3']);
    expect(attempts.stderr).toContain('--attempts applies to --local-function only');
    const verbose = await run(['rotate', 'orders', '--local-function', 'database', '--verbose', '--json']);
    expect(verbose.stderr).toContain('--verbose prints the function');
    for (const out of [unknown, attempts, verbose]) expect(out.code).toBe(2);
    expect(sm.calls()).toHaveLength(0);
  });
});
