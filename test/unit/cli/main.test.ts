import {
  DescribeSecretCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

import { mockClient } from 'aws-sdk-client-mock';
import { clientConfig, describeTarget, functionNameOf } from '../../../cli/aws';
import { describeAwsError } from '../../../cli/errors';
import { colourEnabled, formatSpan, table } from '../../../cli/format';
import { described, run, V1 } from './harness';

const sm = mockClient(SecretsManagerClient);

beforeEach(() => sm.reset());

describe('the command line', () => {
  it('prints the list of commands for --help and exits 0', async () => {
    const out = await run(['--help']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^Usage: secret-rotation <command> \[options\]/);
    for (const command of ['rotate', 'status', 'history', 'rollback'])
      expect(out.stdout).toContain(`\n  ${command}  `);
  });

  it('prints the help and exits 2 when no command is given', async () => {
    const out = await run([]);
    expect(out.code).toBe(2);
    expect(out.stdout).toContain('Commands:');
  });

  it("prints a command's help for `<command> --help` and for `help <command>`", async () => {
    const flag = await run(['rollback', '--help']);
    const word = await run(['help', 'rollback']);
    expect(flag.code).toBe(0);
    expect(flag.stdout).toMatch(/^Usage: secret-rotation rollback <secret> \[options\]/);
    expect(flag.stdout).toContain('  -y, --yes');
    expect(word.stdout).toBe(flag.stdout);
    expect(sm.calls()).toHaveLength(0);
  });

  it('accepts global options before the command', async () => {
    sm.on(ListSecretsCommand).resolves({ SecretList: [] });
    const out = await run(['--region', 'eu-west-1', '--json', 'status']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ secrets: [] });
  });

  it.each([
    [
      ['frobnicate'],
      "error: unknown command 'frobnicate'; commands: rotate, status, history, rollback, consumers, audit, request-approval, approve, deny\nRun 'secret-rotation --help' for usage.\n",
    ],
    [['history'], "error: history: missing <secret>\nRun 'secret-rotation history --help' for usage.\n"],
    [
      ['history', 'a', 'b'],
      "error: history: unexpected argument 'b'\nRun 'secret-rotation history --help' for usage.\n",
    ],
    [
      ['history', 'a', '--colour'],
      "error: history: unknown option '--colour'\nRun 'secret-rotation history --help' for usage.\n",
    ],
    [
      ['history', 'a', '--region'],
      "error: history: option '--region' needs a value\nRun 'secret-rotation history --help' for usage.\n",
    ],
    [
      ['status', '--endpoint-url', 'localhost:4566'],
      "error: --endpoint-url must be an http(s) URL, got 'localhost:4566'\nRun 'secret-rotation status --help' for usage.\n",
    ],
  ])('rejects %j with exit code 2 and one line pointing at --help', async (argv, stderr) => {
    const out = await run(argv);
    expect(out.code).toBe(2);
    expect(out.stderr).toBe(stderr);
    expect(sm.calls()).toHaveLength(0);
  });

  it('prints its version', async () => {
    const out = await run(['--version']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^secret-rotation \d+\.\d+\.\d+\n$/);
  });

  it('colours only on a terminal, and never with NO_COLOR or --no-color', async () => {
    sm.on(DescribeSecretCommand).resolves(described('orders', { [V1]: ['AWSCURRENT'] }));
    sm.on(ListSecretVersionIdsCommand).resolves({
      Versions: [{ VersionId: V1, VersionStages: ['AWSCURRENT'] }],
    });
    const plain = await run(['history', 'orders', '--region', 'x']);
    const tty = await run(['history', 'orders'], { tty: true });
    const noColorEnv = await run(['history', 'orders'], { tty: true, env: { NO_COLOR: '1' } });
    const noColorFlag = await run(['history', 'orders', '--no-color'], { tty: true });
    for (const out of [plain, tty, noColorEnv, noColorFlag]) expect(out.code).toBe(0);
    expect(plain.stdout).not.toContain('\u001b[');
    expect(tty.stdout).toContain('\u001b[1morders\u001b[22m');
    expect(noColorEnv.stdout).not.toContain('\u001b[');
    expect(noColorFlag.stdout).not.toContain('\u001b[');
    expect(colourEnabled(true, { TERM: 'dumb' }, false)).toBe(false);
  });
});

describe('AWS configuration and errors', () => {
  it('passes only what was given to the SDK, so the standard chain and AWS_ENDPOINT_URL resolve the rest', () => {
    expect(clientConfig({})).toEqual({});
    expect(clientConfig({ endpoint: 'http://127.0.0.1:5000', region: 'eu-west-1', profile: 'ops' })).toEqual({
      endpoint: 'http://127.0.0.1:5000',
      region: 'eu-west-1',
      profile: 'ops',
    });
    expect(
      describeTarget({}, { AWS_ENDPOINT_URL: 'http://moto:5000', AWS_DEFAULT_REGION: 'us-east-2' }),
    ).toEqual({
      endpoint: 'http://moto:5000',
      region: 'us-east-2',
    });
  });

  it('turns SDK failures into one line naming the secret and the cause', () => {
    const credentials = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(describeAwsError(credentials, 'orders').message).toBe(
      'no AWS credentials found: configure the standard chain (AWS_PROFILE or --profile, environment variables, SSO, an instance role)',
    );
    expect(describeAwsError(new Error('Region is missing'), 'orders').message).toBe(
      'no AWS region: pass --region or set AWS_REGION',
    );
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5000'), { code: 'ECONNREFUSED' });
    expect(describeAwsError(refused, 'orders', { endpoint: 'http://127.0.0.1:5000' }).message).toBe(
      'secret orders: cannot reach http://127.0.0.1:5000: connect ECONNREFUSED 127.0.0.1:5000',
    );
    expect(describeAwsError(new TypeError('first line\n  at stack'), undefined).message).toBe(
      'TypeError: first line',
    );
  });

  it('reads the function name from a Lambda ARN, with or without a qualifier', () => {
    expect(functionNameOf('arn:aws:lambda:eu-west-1:123456789012:function:rotate-db')).toBe('rotate-db');
    expect(functionNameOf('arn:aws:lambda:eu-west-1:123456789012:function:rotate-db:live')).toBe('rotate-db');
  });
});

describe('text output', () => {
  it('aligns columns two spaces apart, right-aligning numbers, with trailing spaces trimmed', () => {
    const text = table(
      [
        { name: 'a', n: 5 },
        { name: 'longer', n: 123 },
      ],
      [
        { header: 'name', value: (r) => r.name },
        { header: 'n', value: (r) => String(r.n), right: true },
        { header: 'last', value: () => '' },
      ],
    );
    expect(text).toBe(['name      n  last', '------  ---  ----', 'a         5', 'longer  123'].join('\n'));
  });

  it('shows spans coarsely', () => {
    expect(
      [45_000, 12 * 60_000, 3 * 3_600_000 + 60_000, 2 * 86_400_000 + 4 * 3_600_000, 41 * 86_400_000].map(
        formatSpan,
      ),
    ).toEqual(['45s', '12m', '3h 1m', '2d 4h', '41d']);
  });
});
