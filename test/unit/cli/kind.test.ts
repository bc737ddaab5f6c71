import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { fromValueShape, parseStrategyFlag, resolveKind } from '../../../cli/kind';
import { isStepFailure, parseRotationLogLine } from '../../../cli/rotation-log';
import type { SecretState } from '../../../cli/secrets';
import { awsError, FUNCTION_ARN } from './harness';

const sm = mockClient(SecretsManagerClient);
const client = new SecretsManagerClient({});

beforeEach(() => sm.reset());

function state(tags: Record<string, string> = {}, rotationFunctionArn?: string): SecretState {
  return {
    arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-AbCdEf',
    name: 'orders',
    rotationEnabled: true,
    tags,
    stages: {},
    ...(rotationFunctionArn ? { rotationFunctionArn } : {}),
  };
}

describe('the kind and strategy of a secret', () => {
  it('parses --strategy as a strategy, a kind, or kind/strategy', () => {
    expect(parseStrategyFlag('alternating-users')).toEqual({
      kind: 'database',
      strategy: 'alternating-users',
    });
    expect(parseStrategyFlag('jwt')).toEqual({ kind: 'jwt' });
    expect(parseStrategyFlag('api-key/http')).toEqual({ kind: 'api-key', strategy: 'http' });
    expect(() => parseStrategyFlag('ldap/bind')).toThrow('--strategy must be one of');
  });

  it('consults the flag, then the tags, then the function, then the value, stopping at the first complete answer', async () => {
    const functions = {
      describe: jest.fn(async () => ({ environment: { ROTATION_STRATEGY: 'rds-master' } })),
    };
    const tagged = await resolveKind(state({ 'secret-rotation:strategy': 'single-user' }, FUNCTION_ARN), {
      functions,
      secretsManager: client,
    });
    expect(tagged).toMatchObject({ kind: 'database', strategy: 'single-user', kindSource: 'tags' });
    expect(functions.describe).not.toHaveBeenCalled();

    const flagged = await resolveKind(state({ 'secret-rotation:strategy': 'single-user' }), { flag: 'jwt' });
    expect(flagged).toMatchObject({ kind: 'jwt', kindSource: '--strategy' });
    expect(flagged.strategy).toBeUndefined();

    const fromFunction = await resolveKind(state({}, FUNCTION_ARN), { functions, secretsManager: client });
    expect(fromFunction).toMatchObject({
      strategy: 'rds-master',
      kindSource: 'rotation function environment',
    });
    expect(sm.calls()).toHaveLength(0);
  });

  it('takes a missing strategy from a later source that agrees on the kind', async () => {
    sm.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({
        engine: 'mysql',
        host: 'h',
        username: 'u',
        password: 'p',
        masterarn: 'arn:m',
      }),
    });
    const kind = await resolveKind(state({ 'secret-rotation:kind': 'database' }), { secretsManager: client });
    expect(kind).toMatchObject({
      kind: 'database',
      strategy: 'alternating-users',
      kindSource: 'tags',
      strategySource: 'secret value shape',
    });
    expect(sm).toHaveReceivedCommandWith(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' });
  });

  it('records why a source could not be consulted, without any value', async () => {
    sm.on(GetSecretValueCommand).rejects(awsError('AccessDeniedException', 'not allowed'));
    const functions = { describe: async () => Promise.reject(awsError('AccessDeniedException', 'no')) };
    const kind = await resolveKind(state({}, FUNCTION_ARN), { functions, secretsManager: client });
    expect(kind.kind).toBeUndefined();
    expect(kind.notes).toEqual([
      "could not read the rotation function's configuration (AccessDeniedException)",
      'could not read the current value to infer its kind (AccessDeniedException)',
    ]);
  });

  it('reads a database shape, and nothing from a value that is not JSON', () => {
    const db = { engine: 'postgres', host: 'h', username: 'u', password: 'p' };
    expect(fromValueShape(JSON.stringify(db))).toEqual({
      kind: 'database',
      alternatives: ['single-user', 'rds-master'],
    });
    expect(fromValueShape(JSON.stringify({ ...db, masterarn: 'arn:m' }))).toEqual({
      kind: 'database',
      strategy: 'alternating-users',
    });
    expect(fromValueShape('s3cr3t-not-json')).toEqual({});
    expect(fromValueShape(JSON.stringify({ username: 'u', password: 'p' }))).toEqual({});
  });
});

describe("the rotation function's log lines", () => {
  const token = '3f0b8c1e-1111-4111-8111-111111111111';

  it('reads a Powertools line, as written or wrapped by Lambda', () => {
    const line = {
      level: 'ERROR',
      message: 'Rotation step failed',
      step: 'setSecret',
      correlation_id: token,
      errorName: 'E',
      errorMessage: 'm',
    };
    const direct = parseRotationLogLine(JSON.stringify(line));
    expect(direct).toEqual({
      step: 'setSecret',
      token,
      level: 'ERROR',
      message: 'Rotation step failed',
      errorName: 'E',
      errorMessage: 'm',
    });
    expect(isStepFailure(direct ?? {})).toBe(true);
    expect(parseRotationLogLine(`2026-06-01T12:00:00Z\tabc\tINFO\t${JSON.stringify(line)}`)).toEqual(direct);
    expect(parseRotationLogLine(JSON.stringify({ level: 'INFO', message: JSON.stringify(line) }))).toEqual(
      direct,
    );
  });

  it('normalises snake_case steps and ignores lines that are not ours', () => {
    expect(parseRotationLogLine(JSON.stringify({ step: 'finish_secret', token }))?.step).toBe('finishSecret');
    expect(parseRotationLogLine('START RequestId: abc Version: $LATEST')).toBeUndefined();
    expect(parseRotationLogLine(JSON.stringify({ level: 'INFO', message: 'cold start' }))).toBeUndefined();
    expect(isStepFailure({ step: 'setSecret', level: 'INFO', message: 'Password changed' })).toBe(false);
  });
});
