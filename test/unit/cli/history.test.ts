import {
  DescribeSecretCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { HistoryJson } from '../../../cli/commands/history';
import { awsError, described, run, V1, V2, V3 } from './harness';

const sm = mockClient(SecretsManagerClient);

beforeEach(() => {
  sm.reset();
  sm.on(DescribeSecretCommand).resolves(
    described(
      'orders',
      { [V1]: [], [V2]: ['AWSPREVIOUS'], [V3]: ['AWSCURRENT'] },
      {
        RotationEnabled: true,
        LastRotatedDate: new Date('2026-05-20T08:00:00Z'),
      },
    ),
  );
  // Two pages, oldest first: the CLI sorts newest first.
  sm.on(ListSecretVersionIdsCommand, { NextToken: undefined }).resolves({
    Versions: [
      { VersionId: V1, VersionStages: [], CreatedDate: new Date('2026-04-20T08:00:00Z') },
      {
        VersionId: V2,
        VersionStages: ['AWSPREVIOUS'],
        CreatedDate: new Date('2026-04-20T08:00:00Z'),
        LastAccessedDate: new Date('2026-05-20T00:00:00Z'),
      },
    ],
    NextToken: 'next',
  });
  sm.on(ListSecretVersionIdsCommand, { NextToken: 'next' }).resolves({
    Versions: [
      {
        VersionId: V3,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: new Date('2026-05-20T08:00:00Z'),
        LastAccessedDate: new Date('2026-06-01T00:00:00Z'),
      },
    ],
  });
});

describe('history', () => {
  it('lists every version newest first, deprecated ones included, across pages', async () => {
    const out = await run(['history', 'orders']);
    expect(out.code).toBe(0);
    expect(sm).toHaveReceivedCommandWith(ListSecretVersionIdsCommand, { IncludeDeprecated: true });
    expect(sm.commandCalls(ListSecretVersionIdsCommand)).toHaveLength(2);
    expect(out.stdout.split('\n').slice(1)).toEqual([
      'rotation enabled; last rotated 2026-05-20 08:00 UTC',
      '',
      'version                               labels              created               last accessed',
      '------------------------------------  ------------------  --------------------  -------------',
      `${V3}  AWSCURRENT          2026-05-20 08:00 UTC  2026-06-01`,
      `${V2}  AWSPREVIOUS         2026-04-20 08:00 UTC  2026-05-20`,
      `${V1}  (none: deprecated)  2026-04-20 08:00 UTC  -`,
      '',
    ]);
  });

  it('prints the documented JSON', async () => {
    const out = await run(['history', 'orders', '--json']);
    expect(JSON.parse(out.stdout) as HistoryJson).toEqual({
      secret: 'orders',
      arn: described('orders', {}).ARN,
      rotationEnabled: true,
      lastRotated: '2026-05-20T08:00:00.000Z',
      versions: [
        {
          versionId: V3,
          stages: ['AWSCURRENT'],
          createdDate: '2026-05-20T08:00:00.000Z',
          lastAccessedDate: '2026-06-01T00:00:00.000Z',
        },
        {
          versionId: V2,
          stages: ['AWSPREVIOUS'],
          createdDate: '2026-04-20T08:00:00.000Z',
          lastAccessedDate: '2026-05-20T00:00:00.000Z',
        },
        { versionId: V1, stages: [], createdDate: '2026-04-20T08:00:00.000Z', lastAccessedDate: null },
      ],
    });
  });

  it('fails with one line naming the secret and the cause when access is denied', async () => {
    sm.on(DescribeSecretCommand).rejects(
      awsError(
        'AccessDeniedException',
        'User: arn:aws:iam::123456789012:user/ops is not authorized to perform: secretsmanager:DescribeSecret',
      ),
    );
    const out = await run(['history', 'orders']);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr).toBe(
      'error: secret orders: access denied: User: arn:aws:iam::123456789012:user/ops is not authorized to perform: secretsmanager:DescribeSecret\n',
    );
  });
});
