import { Tags } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { IConstruct } from 'constructs';
import { ApprovalTag } from '../../functions/approval/approvals';

/**
 * The construct holding the AWS::SecretsManager::Secret of `secret`. A database's attached secret
 * (`cluster.secret`) is a SecretTargetAttachment, whose tags would land on no secret: it is created inside
 * the secret it wraps (SecretBase.attach), so that one is returned. An imported secret is returned as is
 * (tags on it change nothing: tag it where it is defined).
 */
export function secretResourceOf(secret: secretsmanager.ISecret): IConstruct {
  if (secret instanceof secretsmanager.SecretTargetAttachment) {
    const owner = secret.node.scope;
    if (owner instanceof secretsmanager.Secret) return owner;
  }
  return secret;
}

/**
 * Tags the secret with the bus the operators' audit events about it go to (`secret-rotation:event-bus`): the
 * CLI's `rollback` and fleet `rotate` publish there, and RotationAudit records what arrives on it.
 */
export function tagAuditBus(secret: secretsmanager.ISecret, bus: events.IEventBus): void {
  Tags.of(secretResourceOf(secret)).add(ApprovalTag.EVENT_BUS, bus.eventBusName);
}
