import type { ConsumerCounter } from '../../consumer-tracker/store';
import { type RotationContext, RotationError } from '../../rotation';
import type { DatabaseSession, LiveSessions } from '../engines/engine';

/** What the alternating-users rotation does when the user it is about to change still has live sessions. */
export const PreviousUserSessionsPolicy = {
  /** Count them, log, publish the count in an event and a metric, and go on. */
  REPORT: 'report',
  /** Count and publish them, then refuse to change the password while there is at least one (or the count is incomplete). */
  REFUSE: 'refuse',
} as const;
export type PreviousUserSessionsPolicy =
  (typeof PreviousUserSessionsPolicy)[keyof typeof PreviousUserSessionsPolicy];

/** The follow-up event action that carries the count (detail-type `Secret Rotation Follow-up`). */
export const PREVIOUS_USER_CHECKED_ACTION = 'previous-user-checked';

/** Metric (EMF, count) of live database sessions of the user whose password the rotation changes. */
export const PREVIOUS_USER_SESSIONS_METRIC = 'PreviousUserLiveSessions';

/** Metric (EMF, count) of tracked consumers that still report the version whose user the rotation changes. */
export const PREVIOUS_VERSION_CONSUMERS_METRIC = 'PreviousVersionLiveConsumers';

/** At most this many distinct clients are listed in the event and the log line; the count is always whole. */
const MAX_LISTED_CLIENTS = 20;

/** Reads how many live consumers report a version (the consumer tracker's table). */
export type { ConsumerCounter };

/** Receives the counts as metrics; the database handler publishes them as EMF. */
export type CountRecorder = (metric: string, count: number) => void;

/** How the check is configured and where it reports. */
export interface PreviousUserCheckOptions {
  readonly policy: PreviousUserSessionsPolicy;
  readonly recordCount?: CountRecorder;
  readonly consumers?: ConsumerCounter;
}

/** One client of the user, with the number of its sessions. */
export interface ClientSummary {
  readonly address: string;
  readonly applicationName: string;
  readonly sessions: number;
}

/** What the check found, as published (never a value: user names, addresses and counts only). */
export interface PreviousUserReport {
  readonly username: string;
  readonly liveSessions: number;
  readonly complete: boolean;
  readonly clients: readonly ClientSummary[];
  /** The version whose user is changed, when AWSPREVIOUS holds that user. */
  readonly previousVersionId?: string;
  /** Live consumers the tracker sees on `previousVersionId`, when a tracker is configured. */
  readonly liveConsumers?: number;
}

/** The rotation refused to change the password of a user that still has live sessions. */
export class PreviousUserInUseError extends RotationError {
  constructor(
    readonly secretArn: string,
    readonly username: string,
    readonly liveSessions: number,
    readonly complete: boolean,
  ) {
    super(
      complete
        ? `Secret ${secretArn}: user '${username}' (the previous version's user) has ${liveSessions} live ` +
            'database session(s); refusing to change its password (PREVIOUS_USER_SESSIONS=refuse)'
        : `Secret ${secretArn}: cannot see every session of user '${username}' (the master user lacks the ` +
            'PROCESS privilege); refusing to change its password (PREVIOUS_USER_SESSIONS=refuse)',
    );
    this.name = 'PreviousUserInUseError';
  }
}

/**
 * Before the alternating-users setSecret changes the password of the user that the previous version holds:
 * counts that user's live sessions at the database (consumers that do not use our library show up only here)
 * and, with a tracker, the live consumers still reporting that version; logs, publishes a follow-up event and
 * metrics with the counts; refuses under the `refuse` policy. Reads only, so it is safe to run again.
 */
export async function checkPreviousUser(
  context: RotationContext,
  session: DatabaseSession,
  username: string,
  previousVersionId: string | undefined,
  options: PreviousUserCheckOptions,
): Promise<PreviousUserReport> {
  const found = await session.liveSessions(username);
  const liveConsumers =
    previousVersionId !== undefined && options.consumers
      ? await countConsumers(context, options.consumers, previousVersionId)
      : undefined;
  const report: PreviousUserReport = {
    username,
    liveSessions: found.sessions.length,
    complete: found.complete,
    clients: summarise(found),
    ...(previousVersionId !== undefined ? { previousVersionId } : {}),
    ...(liveConsumers !== undefined ? { liveConsumers } : {}),
  };
  const level = report.liveSessions > 0 || !report.complete || (liveConsumers ?? 0) > 0 ? 'warn' : 'info';
  context.logger[level]('Counted the live sessions of the user whose password changes', { ...report });
  options.recordCount?.(PREVIOUS_USER_SESSIONS_METRIC, report.liveSessions);
  if (liveConsumers !== undefined) options.recordCount?.(PREVIOUS_VERSION_CONSUMERS_METRIC, liveConsumers);
  try {
    await context.publishFollowUp(PREVIOUS_USER_CHECKED_ACTION, {
      ...report,
      versionId: context.token,
      policy: options.policy,
    });
  } catch (error) {
    context.logger.warn('Could not publish the live-session count', {
      errorName: error instanceof Error ? error.name : typeof error,
    });
  }
  if (options.policy === PreviousUserSessionsPolicy.REFUSE && (report.liveSessions > 0 || !report.complete)) {
    throw new PreviousUserInUseError(context.secretArn, username, report.liveSessions, report.complete);
  }
  return report;
}

async function countConsumers(
  context: RotationContext,
  consumers: ConsumerCounter,
  versionId: string,
): Promise<number | undefined> {
  try {
    return await consumers.liveConsumersOn(context.secretArn, versionId);
  } catch (error) {
    // The tracker informs; it never stops a rotation by being unreachable.
    context.logger.warn('Could not read the consumer tracker', {
      errorName: error instanceof Error ? error.name : typeof error,
    });
    return undefined;
  }
}

/** Sessions grouped by client (the address without its port) and application, most sessions first. */
export function summarise(found: LiveSessions): ClientSummary[] {
  const groups = new Map<string, ClientSummary>();
  for (const session of found.sessions) {
    const address = hostOf(session.clientAddress) ?? 'unknown';
    const applicationName = session.applicationName ?? 'unknown';
    const key = `${address}\u0000${applicationName}`;
    const group = groups.get(key);
    groups.set(key, { address, applicationName, sessions: (group?.sessions ?? 0) + 1 });
  }
  return [...groups.values()]
    .sort((a, b) => b.sessions - a.sessions || a.address.localeCompare(b.address))
    .slice(0, MAX_LISTED_CLIENTS);
}

/** MySQL reports `host:port` (and `[v6]:port`); the port changes with every connection, so it is dropped. */
function hostOf(address: string | undefined): string | undefined {
  if (address === undefined || address === '') return undefined;
  const bracketed = /^\[(.+)\]:\d+$/.exec(address);
  if (bracketed) return bracketed[1];
  const parts = address.split(':');
  return parts.length === 2 && /^\d+$/.test(parts[1] ?? '') ? parts[0] : address;
}
