import { EVENT_SOURCE, EventDetailType } from '../rotation/constants';

/** Source and detail-types of the audit events the CLI and the approval function publish. */
export const AUDIT_SOURCE = 'secret-rotation.operations';

/** Detail-types of the operators' audit events (who did what, with which reason). */
export const AuditDetailType = {
  APPROVAL_REQUESTED: 'Secret Rotation Approval Requested',
  APPROVED: 'Secret Rotation Approved',
  DENIED: 'Secret Rotation Denied',
  EXPIRED: 'Secret Rotation Approval Expired',
  BYPASSED: 'Secret Rotation Approval Bypassed',
  ROLLED_BACK: 'Secret Rolled Back',
  FLEET_ROTATION: 'Secret Fleet Rotation Started',
} as const;
export type AuditDetailType = (typeof AuditDetailType)[keyof typeof AuditDetailType];

/** What one audit record says happened. */
export const AuditAction = {
  ROTATION_STARTED: 'rotation-started',
  ROTATED: 'rotated',
  ROTATION_FAILED: 'rotation-failed',
  FOLLOW_UP: 'follow-up',
  /** Secrets Manager's own, CloudTrail-based events. */
  SERVICE_ROTATION_STARTED: 'service:rotation-started',
  SERVICE_ROTATION_SUCCEEDED: 'service:rotation-succeeded',
  SERVICE_ROTATION_FAILED: 'service:rotation-failed',
  SERVICE_ROTATION_ABANDONED: 'service:rotation-abandoned',
  /** A Secrets Manager API call recorded by CloudTrail (RotateSecret, UpdateSecretVersionStage, ...). */
  API_CALL: 'api-call',
  APPROVAL_REQUESTED: 'approval-requested',
  APPROVED: 'approved',
  DENIED: 'denied',
  EXPIRED: 'approval-expired',
  BYPASSED: 'approval-bypassed',
  ROLLED_BACK: 'rolled-back',
  FLEET_ROTATION: 'fleet-rotation',
} as const;
export type AuditAction = (typeof AuditAction)[keyof typeof AuditAction];

/** One entry of the audit trail: metadata only, never a value. */
export interface AuditRecord {
  readonly time: Date;
  /** The secret as the event names it: an ARN, or a name (CloudTrail keeps what the caller passed). */
  readonly secret: string;
  readonly action: AuditAction;
  /** Who or what: an IAM principal ARN, `secretsmanager.amazonaws.com`, or the function. */
  readonly actor: string;
  readonly versionId?: string;
  readonly step?: string;
  /** The error class of a failure, the API call's name, the follow-up action. */
  readonly detail?: string;
  /** An operator's reason (approval, denial, bypass, rollback). */
  readonly reason?: string;
  /** The approval request an approval, a denial or a rotation belongs to. */
  readonly requestId?: string;
  /** The event's id, to drop duplicates (EventBridge delivers at least once). */
  readonly id?: string;
}

const OUR_ACTIONS: Readonly<Record<string, AuditAction>> = {
  [EventDetailType.STARTED]: AuditAction.ROTATION_STARTED,
  [EventDetailType.ROTATED]: AuditAction.ROTATED,
  [EventDetailType.FAILED]: AuditAction.ROTATION_FAILED,
  [EventDetailType.FOLLOW_UP]: AuditAction.FOLLOW_UP,
};

const OPERATOR_ACTIONS: Readonly<Record<string, AuditAction>> = {
  [AuditDetailType.APPROVAL_REQUESTED]: AuditAction.APPROVAL_REQUESTED,
  [AuditDetailType.APPROVED]: AuditAction.APPROVED,
  [AuditDetailType.DENIED]: AuditAction.DENIED,
  [AuditDetailType.EXPIRED]: AuditAction.EXPIRED,
  [AuditDetailType.BYPASSED]: AuditAction.BYPASSED,
  [AuditDetailType.ROLLED_BACK]: AuditAction.ROLLED_BACK,
  [AuditDetailType.FLEET_ROTATION]: AuditAction.FLEET_ROTATION,
};

const SERVICE_ACTIONS: Readonly<Record<string, AuditAction>> = {
  RotationStarted: AuditAction.SERVICE_ROTATION_STARTED,
  RotationSucceeded: AuditAction.SERVICE_ROTATION_SUCCEEDED,
  RotationFailed: AuditAction.SERVICE_ROTATION_FAILED,
  RotationAbandoned: AuditAction.SERVICE_ROTATION_ABANDONED,
};

/** The Secrets Manager API calls the audit trail keeps (CloudTrail management events). */
export const AUDITED_API_CALLS = [
  'RotateSecret',
  'CancelRotateSecret',
  'UpdateSecretVersionStage',
  'PutSecretValue',
  'UpdateSecret',
] as const;

type Json = Record<string, unknown>;
const str = (value: unknown): string | undefined => (typeof value === 'string' && value ? value : undefined);
const obj = (value: unknown): Json => (typeof value === 'object' && value !== null ? (value as Json) : {});

/**
 * Reads one audit log line: an EventBridge event as the audit rule delivers it to the log group. Knows three
 * shapes: our functions' events (source `secret-rotation`), the operators' events (`secret-rotation.operations`),
 * and Secrets Manager's CloudTrail events (`aws.secretsmanager`: `AWS Service Event via CloudTrail` with
 * `detail.additionalEventData.SecretId`, `AWS API Call via CloudTrail` with `detail.userIdentity`). Returns
 * `undefined` for anything else.
 */
export function parseAuditEvent(message: string): AuditRecord | undefined {
  let event: Json;
  try {
    event = obj(JSON.parse(message));
  } catch {
    return undefined;
  }
  const detailType = str(event['detail-type']) ?? '';
  const source = str(event.source);
  const detail = obj(event.detail);
  const time = new Date(str(event.time) ?? Number.NaN);
  if (Number.isNaN(time.getTime())) return undefined;
  const resources = Array.isArray(event.resources) ? event.resources : [];
  const id = str(event.id);
  const common = { time, ...(id ? { id } : {}) };
  if (source === EVENT_SOURCE && OUR_ACTIONS[detailType]) {
    const secret = str(detail.secretArn) ?? str(resources[0]);
    if (!secret) return undefined;
    const errorName = str(detail.errorName) ?? str(detail.errorClass);
    const followUp = str(detail.action);
    return {
      ...common,
      secret,
      action: OUR_ACTIONS[detailType] as AuditAction,
      actor: str(detail.functionName) ? `function ${str(detail.functionName)}` : 'rotation function',
      ...(str(detail.versionId) ? { versionId: str(detail.versionId) as string } : {}),
      ...(str(detail.step) ? { step: str(detail.step) as string } : {}),
      ...(errorName ? { detail: errorName } : followUp ? { detail: followUp } : {}),
    };
  }
  if (source === AUDIT_SOURCE && OPERATOR_ACTIONS[detailType]) {
    const secret = str(detail.secretArn) ?? str(resources[0]);
    if (!secret) return undefined;
    return {
      ...common,
      secret,
      action: OPERATOR_ACTIONS[detailType] as AuditAction,
      actor: str(detail.actor) ?? 'unknown',
      ...(str(detail.versionId) ? { versionId: str(detail.versionId) as string } : {}),
      ...(str(detail.reason) ? { reason: str(detail.reason) as string } : {}),
      ...(str(detail.requestId) ? { requestId: str(detail.requestId) as string } : {}),
      ...(str(detail.note) ? { detail: str(detail.note) as string } : {}),
    };
  }
  if (source === 'aws.secretsmanager') {
    const eventName = str(detail.eventName) ?? '';
    const identity = obj(detail.userIdentity);
    const actor =
      str(identity.arn) ??
      str(identity.invokedBy) ??
      str(obj(identity).principalId) ??
      'secretsmanager.amazonaws.com';
    if (detailType === 'AWS Service Event via CloudTrail' && SERVICE_ACTIONS[eventName]) {
      const secret = str(obj(detail.additionalEventData).SecretId) ?? str(resources[0]);
      if (!secret) return undefined;
      return { ...common, secret, action: SERVICE_ACTIONS[eventName] as AuditAction, actor };
    }
    if (
      detailType === 'AWS API Call via CloudTrail' &&
      (AUDITED_API_CALLS as readonly string[]).includes(eventName)
    ) {
      const request = obj(detail.requestParameters);
      const secret = str(request.secretId) ?? str(resources[0]);
      if (!secret) return undefined;
      const versionId = str(request.clientRequestToken) ?? str(request.moveToVersionId);
      const failed = str(detail.errorCode);
      return {
        ...common,
        secret,
        action: AuditAction.API_CALL,
        actor,
        detail: `${eventName}${str(request.versionStage) ? ` ${str(request.versionStage)}` : ''}${failed ? ` (${failed})` : ''}`,
        ...(versionId ? { versionId } : {}),
      };
    }
  }
  return undefined;
}

/**
 * The secret's name from an ARN (`arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf`), or the
 * input when it is a name already.
 */
export function secretNameOf(secret: string): string {
  const at = secret.indexOf(':secret:');
  if (!secret.startsWith('arn:') || at < 0) return secret;
  return secret.slice(at + ':secret:'.length).replace(/-[A-Za-z0-9]{6}$/, '');
}

/** Whether two references (ARN, partial ARN, name) name the same secret. */
export function sameSecret(a: string, b: string): boolean {
  return a === b || secretNameOf(a) === secretNameOf(b);
}

/** Records about one secret, in time order, duplicates (same event id) dropped. */
export function recordsOf(records: readonly AuditRecord[], secret: string): AuditRecord[] {
  const seen = new Set<string>();
  return records
    .filter((r) => sameSecret(r.secret, secret))
    .filter((r) => {
      if (!r.id) return true;
      if (seen.has(r.id)) return false;
      seen.add(r.id);
      return true;
    })
    .sort((x, y) => x.time.getTime() - y.time.getTime());
}

/** The result of comparing Secrets Manager's own rotation events with our records. */
export interface CompletenessReport {
  /** Secrets Manager's RotationSucceeded/RotationFailed events, and our Secret Rotated/Rotation Failed records. */
  readonly serviceEvents: number;
  readonly ourRecords: number;
  /** Service events with no record of ours: a rotation our function did not record. */
  readonly missingOurs: readonly AuditRecord[];
  /** Records of ours with no service event: a record Secrets Manager cannot confirm. */
  readonly missingService: readonly AuditRecord[];
  /** Matched records over all of them, 1 when both lists are empty. */
  readonly completeness: number;
}

/**
 * The audit completeness check: every rotation Secrets Manager reports (CloudTrail-based RotationSucceeded,
 * RotationFailed) has our record for the same secret and outcome within `toleranceMs`, and the reverse.
 * Both sides are best effort and may be late or twice (AWS documents CloudTrail delivery within minutes), so
 * matching is by secret, outcome and time, and a duplicate matches as well as the first.
 */
export function checkCompleteness(
  records: readonly AuditRecord[],
  toleranceMs = 15 * 60_000,
  /** Only records in this window are checked; all of `records` may match them (late or early ones). */
  window?: { readonly from: Date; readonly to: Date },
): CompletenessReport {
  const inWindow = (r: AuditRecord) =>
    !window || (r.time.getTime() >= window.from.getTime() && r.time.getTime() <= window.to.getTime());
  const pairs: ReadonlyArray<readonly [AuditAction, AuditAction]> = [
    [AuditAction.SERVICE_ROTATION_SUCCEEDED, AuditAction.ROTATED],
    [AuditAction.SERVICE_ROTATION_FAILED, AuditAction.ROTATION_FAILED],
  ];
  const matches = (a: AuditRecord, action: AuditAction) =>
    records.some(
      (b) =>
        b.action === action &&
        sameSecret(a.secret, b.secret) &&
        Math.abs(a.time.getTime() - b.time.getTime()) <= toleranceMs,
    );
  const missingOurs: AuditRecord[] = [];
  const missingService: AuditRecord[] = [];
  let serviceEvents = 0;
  let ourRecords = 0;
  for (const [service, ours] of pairs) {
    for (const r of records.filter(inWindow)) {
      if (r.action === service) {
        serviceEvents++;
        if (!matches(r, ours)) missingOurs.push(r);
      } else if (r.action === ours) {
        ourRecords++;
        if (!matches(r, service)) missingService.push(r);
      }
    }
  }
  const total = serviceEvents + ourRecords;
  const missing = missingOurs.length + missingService.length;
  return {
    serviceEvents,
    ourRecords,
    missingOurs,
    missingService,
    completeness: total === 0 ? 1 : (total - missing) / total,
  };
}

/** The audit log group's name unless configured otherwise. */
export const DEFAULT_AUDIT_LOG_GROUP = '/secret-rotation/audit';
