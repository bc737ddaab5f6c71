import type { Logger } from '@aws-lambda-powertools/logger';
import type { DatabaseSession, LiveSessions } from '../../../functions/database/engines/engine';
import {
  checkPreviousUser,
  PREVIOUS_USER_SESSIONS_METRIC,
  PREVIOUS_VERSION_CONSUMERS_METRIC,
  PreviousUserInUseError,
  summarise,
} from '../../../functions/database/strategies/previous-user';
import type { RotationContext } from '../../../functions/rotation';

function contextWith(followUps: Array<[string, Record<string, unknown>]>): RotationContext {
  const logger = { info: () => {}, warn: () => {}, error: () => {} } as unknown as Logger;
  return {
    secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app-abc123',
    token: 'token-2',
    step: 'setSecret',
    logger,
    secrets: {} as RotationContext['secrets'],
    passwords: {} as RotationContext['passwords'],
    redact: () => {},
    publishFollowUp: async (action, detail) => {
      followUps.push([action, detail]);
    },
  };
}

const sessionWith = (found: LiveSessions) =>
  ({ liveSessions: async () => found }) as unknown as DatabaseSession;

describe('checkPreviousUser', () => {
  it('groups sessions by client host without the port, IPv6 included, most sessions first', () => {
    // WHEN
    const clients = summarise({
      complete: true,
      sessions: [
        { clientAddress: '10.0.0.5:51544', applicationName: 'api' },
        { clientAddress: '[fd00::7]:3306' },
        { clientAddress: '10.0.0.5:51545', applicationName: 'api' },
        { clientAddress: 'fd00::8' },
      ],
    });
    // THEN
    expect(clients).toEqual([
      { address: '10.0.0.5', applicationName: 'api', sessions: 2 },
      { address: 'fd00::7', applicationName: 'unknown', sessions: 1 },
      { address: 'fd00::8', applicationName: 'unknown', sessions: 1 },
    ]);
  });

  it('refuses under the refuse policy when the server may hide sessions (MySQL without PROCESS), even at zero', async () => {
    // GIVEN
    const followUps: Array<[string, Record<string, unknown>]> = [];
    // WHEN
    const check = checkPreviousUser(
      contextWith(followUps),
      sessionWith({ complete: false, sessions: [] }),
      'app',
      'v1',
      { policy: 'refuse' },
    );
    // THEN
    await expect(check).rejects.toBeInstanceOf(PreviousUserInUseError);
    await expect(check).rejects.toThrow(/PROCESS privilege/);
    expect(followUps[0]?.[1]).toMatchObject({ complete: false, liveSessions: 0 });
  });

  it('reports the live consumers the tracker sees on the previous version, and goes on when the tracker fails', async () => {
    // GIVEN
    const counts: Array<[string, number]> = [];
    const followUps: Array<[string, Record<string, unknown>]> = [];
    const session = sessionWith({ complete: true, sessions: [] });
    // WHEN
    const seen = await checkPreviousUser(contextWith(followUps), session, 'app', 'v1', {
      policy: 'report',
      recordCount: (metric, count) => counts.push([metric, count]),
      consumers: { liveConsumersOn: async (_arn, versionId) => (versionId === 'v1' ? 4 : 0) },
    });
    const blind = await checkPreviousUser(contextWith(followUps), session, 'app', 'v1', {
      policy: 'report',
      consumers: {
        liveConsumersOn: async () => {
          throw new Error('ResourceNotFoundException');
        },
      },
    });
    // THEN
    expect(seen).toMatchObject({ liveConsumers: 4, previousVersionId: 'v1' });
    expect(counts).toEqual([
      [PREVIOUS_USER_SESSIONS_METRIC, 0],
      [PREVIOUS_VERSION_CONSUMERS_METRIC, 4],
    ]);
    expect(blind.liveConsumers).toBeUndefined();
    expect(followUps.map(([, detail]) => detail.liveConsumers)).toEqual([4, undefined]);
  });
});
