import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { ApprovalTag } from '../functions/approval/approvals';
import { AUDIT_SOURCE, type AuditDetailType } from '../functions/audit/records';
import type { CommandContext } from './context';
import { CliError, describeAwsError } from './errors';

/** The environment variable naming the audit bus when neither `--event-bus` nor the secret's tag does. */
export const AUDIT_BUS_ENV = 'SECRET_ROTATION_EVENT_BUS';

/**
 * The bus an operator's audit event about a secret goes to: `--event-bus`, else the secret's
 * `secret-rotation:event-bus` tag (RotationApproval sets it), else `SECRET_ROTATION_EVENT_BUS`.
 */
export function auditBusOf(
  flag: string | undefined,
  tags: Readonly<Record<string, string>>,
  env: CommandContext['env'],
): string | undefined {
  return flag?.trim() || tags[ApprovalTag.EVENT_BUS] || env[AUDIT_BUS_ENV]?.trim() || undefined;
}

/** The caller's IAM identity (STS GetCallerIdentity), as approve records it. */
export async function callerArn(context: CommandContext, command: string): Promise<string> {
  let arn: string | undefined;
  try {
    arn = (await new STSClient(context.clientConfig).send(new GetCallerIdentityCommand({}))).Arn;
  } catch (error) {
    throw describeAwsError(error, undefined, context.target);
  }
  if (!arn)
    throw new CliError(`${command}: STS GetCallerIdentity returned no ARN; cannot record who you are`);
  return arn;
}

/** One operator audit event about one secret: metadata only, never a value. */
export interface OperatorEvent {
  readonly busName: string;
  readonly detailType: AuditDetailType;
  readonly secretArn: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
}

/** An event EventBridge did not take, and why. */
export interface UnpublishedEvent {
  readonly secretArn: string;
  readonly error: string;
}

/** PutEvents takes at most 10 entries a call. */
export const PUT_EVENTS_MAX_ENTRIES = 10;
/** ... and at most 256 KB of entries a call. */
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

/**
 * A PutEvents entry's size as EventBridge counts it ("Calculating PutEvents event entry size", EventBridge
 * User Guide): the UTF-8 bytes of Source, DetailType, Detail and each of Resources, and 14 for a Time.
 */
export function entrySize(entry: PutEventsRequestEntry): number {
  const bytes = (s: string | undefined) => (s ? Buffer.byteLength(s, 'utf8') : 0);
  return (
    (entry.Time ? 14 : 0) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((n, r) => n + bytes(r), 0)
  );
}

/** Entries split into PutEvents calls: at most 10 a call and under 256 KB together. */
export function batches<T extends PutEventsRequestEntry>(entries: readonly T[]): T[][] {
  const out: T[][] = [];
  let batch: T[] = [];
  let size = 0;
  for (const entry of entries) {
    const n = entrySize(entry);
    if (batch.length > 0 && (batch.length === PUT_EVENTS_MAX_ENTRIES || size + n > PUT_EVENTS_MAX_BYTES)) {
      out.push(batch);
      batch = [];
      size = 0;
    }
    batch.push(entry);
    size += n;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

/**
 * Publishes operators' audit events (source `secret-rotation.operations`), batched; returns those EventBridge
 * did not take (a rejected entry, a failed call), so that the caller reports them: never throws for them.
 */
export async function publishOperatorEvents(
  context: Pick<CommandContext, 'clientConfig'>,
  events: readonly OperatorEvent[],
  eventBridge: EventBridgeClient = new EventBridgeClient(context.clientConfig),
): Promise<UnpublishedEvent[]> {
  const entries = events.map((e) => ({
    EventBusName: e.busName,
    Source: AUDIT_SOURCE,
    DetailType: e.detailType,
    Resources: [e.secretArn],
    Detail: JSON.stringify({ secretArn: e.secretArn, ...e.detail }),
  }));
  const failed: UnpublishedEvent[] = [];
  for (const batch of batches(entries)) {
    try {
      const out = await eventBridge.send(new PutEventsCommand({ Entries: batch }));
      if ((out.FailedEntryCount ?? 0) === 0) continue;
      batch.forEach((entry, i) => {
        const result = out.Entries?.[i];
        if (!result || result.ErrorCode || !result.EventId) {
          failed.push({
            secretArn: entry.Resources[0] as string,
            error: `${result?.ErrorCode ?? 'rejected'}${result?.ErrorMessage ? `: ${result.ErrorMessage}` : ''}`,
          });
        }
      });
    } catch (error) {
      const message = (error as Error).message?.split('\n')[0] ?? String(error);
      for (const entry of batch) {
        failed.push({
          secretArn: entry.Resources[0] as string,
          error: `${(error as Error).name}: ${message}`,
        });
      }
    }
  }
  return failed;
}
