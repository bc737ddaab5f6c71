import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { RotationConfig } from './config';
import { EventDetailType, MetricName, RotationStep, Stage } from './constants';
import {
  CurrentVersionMissingError,
  ForeignPendingVersionError,
  RotationError,
  RotationNotEnabledError,
  RotationStepError,
  VersionNotFoundError,
  VersionNotPendingError,
} from './errors';
import { parseRotationEvent } from './event';
import { RotationEventPublisher } from './events';
import { createRotationLogger, createRotationMetrics, RedactionScope } from './observability';
import { VersionReadMemo } from './read-memo';
import { Redactor } from './redactor';
import { pendingInProgress, type SecretDescription, SecretsStore, versionWithStage } from './secrets-store';
import { countThrottles, ThrottleCount, withThrottleCount } from './throttles';
import type {
  OutsideWriteResolution,
  PasswordOptions,
  RotationContext,
  RotationEvent,
  RotationEventDetail,
  RotationStrategy,
  SecretVersion,
} from './types';

/** What a rotation handler is built from. Entries build these once, at module scope. */
export interface RotationHandlerDependencies {
  readonly strategy: RotationStrategy;
  readonly secretsManager: SecretsManagerClient;
  /** Needed only when `config.eventBusName` is set. */
  readonly eventBridge?: EventBridgeClient;
  readonly config: RotationConfig;
  /** Defaults to a Powertools logger that redacts every secret value the invocation has seen. */
  readonly logger?: Logger;
  /** Defaults to Powertools metrics with the strategy's kind and name as dimensions. */
  readonly metrics?: Metrics;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

/** A Lambda handler for Secrets Manager rotation events. */
export type RotationHandler = (event: unknown, context?: unknown) => Promise<void>;

/** Outcome of the preconditions: run the step, or the token is already AWSCURRENT. */
type Precondition = 'run' | 'already-current' | 'reconciled';

/**
 * Builds the Lambda handler of a rotation function from a strategy. The protocol (preconditions, staging
 * labels, idempotency, events, metrics, errors) lives here once; the strategy only knows its kind of secret.
 */
export function createRotationHandler(deps: RotationHandlerDependencies): RotationHandler {
  const { strategy, config } = deps;
  const scope = new RedactionScope();
  const logger = deps.logger ?? createRotationLogger(scope);
  const metrics = deps.metrics ?? createRotationMetrics(strategy.kind, strategy.name);
  // Throttled attempts are counted on these clients (the strategy's own are counted where they are built).
  const store = new SecretsStore(countThrottles(deps.secretsManager));
  const events = new RotationEventPublisher(
    deps.eventBridge ? countThrottles(deps.eventBridge) : undefined,
    config.eventBusName,
  );
  const now = deps.now ?? Date.now;
  if (config.eventBusName && !deps.eventBridge) {
    throw new RotationError('An EventBridge client is required when an event bus is configured');
  }

  return (rawEvent: unknown): Promise<void> => {
    const redactor = new Redactor();
    const throttles = new ThrottleCount();
    return scope.run(redactor, () =>
      withThrottleCount(throttles, () => invoke(rawEvent, redactor, throttles)),
    );
  };

  async function invoke(rawEvent: unknown, redactor: Redactor, throttles: ThrottleCount): Promise<void> {
    // Reads are remembered for this invocation only: never from one step, or one invocation, to the next.
    const reads = new VersionReadMemo(store);
    const started = now();
    const event = parseRotationEvent(rawEvent);
    logger.appendKeys({
      secretId: event.secretId,
      step: event.step,
      token: event.token,
      kind: strategy.kind,
      strategy: strategy.name,
    });
    logger.setCorrelationId(event.token);
    let secretArn = event.secretId;
    try {
      const description = await store.describe(event.secretId);
      secretArn = description.arn;
      logger.appendKeys({ secretArn });
      const precondition = checkPreconditions(description, event);
      const context = buildContext(secretArn, event, redactor, reads);
      if (precondition === 'already-current' && event.step !== RotationStep.FINISH) {
        logger.info('Version is already AWSCURRENT; nothing to do');
      } else if (precondition === 'reconciled') {
        logger.info('finishSecret already reconciled an outside write with this rotation; nothing to do');
      } else {
        await runStep(context, description, event, precondition, started, reads);
      }
      recordStepDuration(event.step, now() - started);
    } catch (error) {
      recordStepDuration(event.step, now() - started);
      throw await fail(error, secretArn, event, redactor);
    } finally {
      // Every step invocation, 0 included: attempts AWS throttled, also those the SDK then retried successfully.
      metrics.addMetric(MetricName.THROTTLED_REQUESTS, MetricUnit.Count, throttles.value);
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  }

  function checkPreconditions(description: SecretDescription, event: RotationEvent): Precondition {
    if (!description.rotationEnabled) throw new RotationNotEnabledError(description.arn);
    const stages = description.versionIdsToStages[event.token];
    if (stages === undefined) {
      // A finishSecret (a retry, or a racer) already reconciled an outside write: AWSCURRENT is the version it
      // derived from this token and the outside version, now AWSPREVIOUS.
      const current = versionWithStage(description, Stage.CURRENT);
      const previous = versionWithStage(description, Stage.PREVIOUS);
      if (
        event.step === RotationStep.FINISH &&
        current !== undefined &&
        previous !== undefined &&
        current === derivedVersionId(event.token, previous)
      ) {
        return 'reconciled';
      }
      // The token lost its labels: another version took AWSPENDING (an outside write) or it never existed.
      // AWSPENDING left on AWSCURRENT by the last finishSecret is no rotation: not a foreign one either.
      const pending = pendingInProgress(description.versionIdsToStages);
      if (pending !== undefined) throw new ForeignPendingVersionError(description.arn, event.token, pending);
      throw new VersionNotFoundError(description.arn, event.token);
    }
    if (stages.includes(Stage.CURRENT)) return 'already-current';
    if (!stages.includes(Stage.PENDING)) {
      const pending = pendingInProgress(description.versionIdsToStages);
      if (pending !== undefined) throw new ForeignPendingVersionError(description.arn, event.token, pending);
      throw new VersionNotPendingError(description.arn, event.token);
    }
    return 'run';
  }

  function buildContext(
    secretArn: string,
    event: RotationEvent,
    redactor: Redactor,
    reads: VersionReadMemo,
  ): RotationContext {
    const read = async (selector: { versionId?: string; stage?: string }, id = secretArn) => {
      const version = await reads.getVersion(id, selector);
      if (version) redactor.addSecretString(version.secretString);
      return version;
    };
    return {
      secretArn,
      token: event.token,
      step: event.step,
      logger,
      secrets: {
        current: async () => {
          const version = await read({ stage: Stage.CURRENT });
          if (!version) throw new CurrentVersionMissingError(secretArn);
          return version;
        },
        pending: () => read({ versionId: event.token, stage: Stage.PENDING }),
        previous: () => read({ stage: Stage.PREVIOUS }),
        other: async (secretId, stage = Stage.CURRENT) => {
          const version = await read({ stage }, secretId);
          if (!version) throw new CurrentVersionMissingError(secretId);
          return version;
        },
        deprecated: async (limit) => {
          let ids: string[];
          try {
            ids = await store.deprecatedVersionIds(secretArn, limit);
          } catch (error) {
            // Recovery is a bonus, not a precondition: without the permission, there is nothing to recover.
            logger.warn('Could not list the deprecated versions of the secret', {
              errorName: errorName(error),
            });
            return [];
          }
          const versions: SecretVersion[] = [];
          for (const versionId of ids) {
            const version = await read({ versionId });
            if (version) versions.push(version);
          }
          return versions;
        },
      },
      passwords: {
        generate: async (options: PasswordOptions = {}) => {
          const password = await store.randomPassword(
            options.length ?? config.passwordLength,
            uniqueCharacters(config.excludeCharacters + (options.excludeCharacters ?? '')),
            options.excludePunctuation ?? false,
          );
          redactor.add(password);
          return password;
        },
      },
      redact: (value) => redactor.add(value),
      publishFollowUp: (action, detail) =>
        events.publish(EventDetailType.FOLLOW_UP, { ...detail, ...baseDetail(secretArn), action }),
    };
  }

  async function runStep(
    context: RotationContext,
    description: SecretDescription,
    event: RotationEvent,
    precondition: Precondition,
    started: number,
    reads: VersionReadMemo,
  ): Promise<void> {
    switch (event.step) {
      case RotationStep.CREATE:
        return createSecret(context, description, event, reads);
      case RotationStep.SET:
        // Every strategy's setSecret reads AWSCURRENT: ask for it while AWSPENDING is read. The read memo hands
        // the strategy this same read; a failed one is not remembered, so the strategy sees its own error.
        context.secrets.current().catch(() => {});
        return strategy.set(context, await requirePending(context));
      case RotationStep.TEST:
        return strategy.test(context, await requirePending(context));
      case RotationStep.FINISH:
        return finishSecret(
          context,
          description,
          precondition === 'already-current',
          started,
          reads,
          event.rotationToken,
        );
    }
  }

  async function createSecret(
    context: RotationContext,
    description: SecretDescription,
    event: RotationEvent,
    reads: VersionReadMemo,
  ): Promise<void> {
    // The current value must exist and be readable even when the pending one is already there.
    // Both are read in any case: in parallel, one round trip instead of two. A missing AWSCURRENT is reported
    // first, whichever read fails first.
    const pendingRead = context.secrets.pending();
    pendingRead.catch(() => {});
    const current = await context.secrets.current();
    if (await pendingRead) {
      logger.info('AWSPENDING already has a value for this token; createSecret has nothing to do');
      return;
    }
    const secretString = await strategy.createPending(context, current);
    invocationRedactor().addSecretString(secretString);
    reads.forget();
    const created = await store.putPending(description.arn, event.token, secretString, event.rotationToken);
    if (!created) {
      // A concurrent createSecret with the same token put its own value first: keep theirs.
      logger.info('A concurrent createSecret already put the pending value; keeping it');
      return;
    }
    logger.info('Created the pending version');
    await publishBestEffort(EventDetailType.STARTED, {
      ...baseDetail(description.arn),
      versionId: event.token,
      previousVersionId: current.versionId,
    });
  }

  async function finishSecret(
    context: RotationContext,
    description: SecretDescription,
    alreadyCurrent: boolean,
    started: number,
    reads: VersionReadMemo,
    rotationToken: string | undefined,
  ): Promise<void> {
    const secretArn = description.arn;
    const token = context.token;
    let previousVersionId: string | undefined;
    let current: SecretVersion | undefined;
    let replay = alreadyCurrent;
    if (alreadyCurrent) {
      previousVersionId = versionWithStage(description, Stage.PREVIOUS);
      current = await reads.getVersion(secretArn, { versionId: token });
      if (current) invocationRedactor().addSecretString(current.secretString);
      logger.info('Version is already AWSCURRENT; completing follow-up work only');
    } else {
      // Never make a version without a value current, whatever invoked this step.
      current = await requirePending(context);
      const currentVersionId = versionWithStage(description, Stage.CURRENT);
      if (currentVersionId === undefined) throw new CurrentVersionMissingError(secretArn);
      const { resolution, outside } = await reconcile(context, current);
      if (resolution.action !== 'move' && outside) {
        return finishAfterOutsideWrite(
          context,
          description,
          current,
          outside,
          resolution,
          started,
          reads,
          rotationToken,
        );
      }
      try {
        reads.forget();
        await store.updateStage(secretArn, Stage.CURRENT, { moveTo: token, removeFrom: currentVersionId });
        logger.info('Moved AWSCURRENT to the new version', { previousVersionId: currentVersionId });
      } catch (error) {
        // A concurrent finishSecret may have moved the label first; then there is nothing left to move.
        const latest = await store.describe(secretArn);
        if (!latest.versionIdsToStages[token]?.includes(Stage.CURRENT)) throw error;
        replay = true;
        logger.info('A concurrent finishSecret already moved AWSCURRENT');
      }
      previousVersionId = currentVersionId;
    }
    // AWSPENDING stays on the version that is now AWSCURRENT: one write fewer against the account's write
    // quota. The RotateSecret API reference allows a rotation to end with AWSPENDING attached to the same
    // version as AWSCURRENT (or to no version); only AWSPENDING on a version that is NOT AWSCURRENT means a
    // rotation still in progress (pendingInProgress). AWS's own rotation templates only move AWSCURRENT too.
    // The next RotateSecret moves AWSPENDING to its new token. A replay or a concurrent finishSecret with the
    // same token finds the token AWSCURRENT and has nothing to move either.
    if (strategy.afterFinish) {
      if (!current) throw new CurrentVersionMissingError(secretArn);
      const previous = previousVersionId
        ? await reads.getVersion(secretArn, { versionId: previousVersionId })
        : undefined;
      if (previous) invocationRedactor().addSecretString(previous.secretString);
      await strategy.afterFinish(context, {
        current,
        ...(previous ? { previous } : {}),
        alreadyCurrent,
      });
    }
    const rotationStarted = current?.createdDate?.getTime();
    // A failed publish fails the step on purpose: the service retries finishSecret, which publishes again.
    await events.publish(EventDetailType.ROTATED, {
      ...baseDetail(secretArn),
      versionId: token,
      ...(previousVersionId ? { previousVersionId } : {}),
      ...(rotationStarted !== undefined ? { durationMs: Math.max(0, now() - rotationStarted) } : {}),
      finishDurationMs: now() - started,
      // When AWSCURRENT moved, to the millisecond: the consumer tracker measures update latency from it.
      finishedAt: now(),
      replay,
    });
    metrics.addMetric(MetricName.SUCCEEDED, MetricUnit.Count, 1);
  }

  /** What the strategy makes of AWSCURRENT as it is now; `move` unless the strategy says otherwise. */
  async function reconcile(
    context: RotationContext,
    pending: SecretVersion,
  ): Promise<{ resolution: OutsideWriteResolution; outside?: SecretVersion }> {
    if (!strategy.reconcileOutsideWrite) return { resolution: { action: 'move' } };
    const current = await context.secrets.current();
    return {
      resolution: await strategy.reconcileOutsideWrite(context, { current, pending }),
      outside: current,
    };
  }

  /**
   * finishSecret after an outside write during the rotation (finding 13): AWSCURRENT is the outside version,
   * or the reconciled one this function put; the token's version is left without a label (a later rotation
   * still finds its credentials among the deprecated versions). Says loudly what it did, as a follow-up event.
   */
  async function finishAfterOutsideWrite(
    context: RotationContext,
    description: SecretDescription,
    pending: SecretVersion,
    outside: SecretVersion,
    resolution: Exclude<OutsideWriteResolution, { action: 'move' }>,
    started: number,
    reads: VersionReadMemo,
    rotationToken: string | undefined,
  ): Promise<void> {
    const secretArn = description.arn;
    let currentVersionId = outside.versionId;
    if (resolution.action === 'replace') {
      currentVersionId = derivedVersionId(context.token, outside.versionId);
      invocationRedactor().addSecretString(resolution.secretString);
      reads.forget();
      if (!(await store.putCurrent(secretArn, currentVersionId, resolution.secretString, rotationToken))) {
        throw new RotationError(
          `Version ${currentVersionId} of secret ${secretArn} already exists with another value; it was to hold ` +
            `the reconciliation of version ${outside.versionId} with rotation ${context.token}. Nothing was moved.`,
        );
      }
      logger.warn(
        'AWSCURRENT was written from outside during the rotation; put it again with the new credentials',
        {
          outsideVersionId: outside.versionId,
          versionId: currentVersionId,
          keptFields: resolution.keptFields,
        },
      );
    } else {
      logger.info('AWSCURRENT already holds the reconciled value; clearing AWSPENDING only');
    }
    reads.forget();
    try {
      await store.updateStage(secretArn, Stage.PENDING, { removeFrom: context.token });
    } catch (error) {
      const after = await store.describe(secretArn);
      if (after.versionIdsToStages[context.token]?.includes(Stage.PENDING)) throw error;
    }
    if (resolution.action === 'replace') {
      await context.publishFollowUp('outside-write-reconciled', {
        versionId: currentVersionId,
        outsideVersionId: outside.versionId,
        rotationVersionId: context.token,
        keptFields: resolution.keptFields,
        message:
          'A value was written to the secret during the rotation, after the credentials had been changed. ' +
          'AWSCURRENT now holds that value with the new credentials; check that it is what you meant.',
      });
    }
    const rotationStarted = pending.createdDate?.getTime();
    await events.publish(EventDetailType.ROTATED, {
      ...baseDetail(secretArn),
      versionId: currentVersionId,
      ...(resolution.action === 'replace' ? { previousVersionId: outside.versionId } : {}),
      ...(rotationStarted !== undefined ? { durationMs: Math.max(0, now() - rotationStarted) } : {}),
      finishDurationMs: now() - started,
      finishedAt: now(),
      replay: resolution.action === 'keep-current',
    });
    metrics.addMetric(MetricName.SUCCEEDED, MetricUnit.Count, 1);
  }

  async function requirePending(context: RotationContext): Promise<SecretVersion> {
    const pending = await context.secrets.pending();
    if (!pending) throw new VersionNotPendingError(context.secretArn, context.token);
    return pending;
  }

  function baseDetail(secretArn: string): RotationEventDetail {
    return { secretArn, kind: strategy.kind, strategy: strategy.name };
  }

  function recordStepDuration(step: string, durationMs: number): void {
    const single = metrics.singleMetric();
    single.addDimension('Step', step);
    single.addMetric(MetricName.STEP_DURATION, MetricUnit.Milliseconds, durationMs);
  }

  async function publishBestEffort(detailType: EventDetailType, detail: RotationEventDetail): Promise<void> {
    try {
      await events.publish(detailType, detail);
    } catch (error) {
      logger.warn('Could not publish rotation event', { detailType, errorName: errorName(error) });
    }
  }

  async function fail(
    error: unknown,
    secretArn: string,
    event: RotationEvent,
    redactor: Redactor,
  ): Promise<Error> {
    const name = errorName(error);
    const rawMessage = error instanceof Error ? error.message : String(error);
    const message = redactor.redact(rawMessage);
    metrics.addMetric(MetricName.FAILED, MetricUnit.Count, 1);
    logger.error('Rotation step failed', { errorName: name, errorMessage: message });
    await publishBestEffort(EventDetailType.FAILED, {
      ...baseDetail(secretArn),
      step: event.step,
      versionId: event.token,
      errorName: name,
    });
    if (error instanceof RotationError && message === rawMessage) {
      // Ours, and its message is clean; whatever it wraps may not be (a driver's text can quote a value).
      if (error.cause !== undefined) {
        Object.defineProperty(error, 'cause', {
          value: redactor.scrubError(error.cause),
          enumerable: false,
        });
      }
      return error;
    }
    return new RotationStepError(
      secretArn,
      event.step,
      event.token,
      name,
      `${event.step} failed for secret ${secretArn} (version ${event.token}): ${name}: ${message}`,
      { cause: redactor.scrubError(error) },
    );
  }

  // The redactor lives in the logger's scope for the invocation under way.
  function invocationRedactor(): Redactor {
    if (!scope.current) throw new RotationError('No invocation in progress');
    return scope.current;
  }
}

/**
 * A version id (UUID-shaped, as ClientRequestToken requires) derived from the rotation's token and the
 * outside version it reconciles: a retry after a crash puts the same version again, never a second one.
 */
function derivedVersionId(token: string, outsideVersionId: string): string {
  const hex = createHash('sha256').update(`reconcile:${token}:${outsideVersionId}`).digest('hex');
  const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function errorName(error: unknown): string {
  if (error instanceof Error) return error.name;
  return typeof error;
}

function uniqueCharacters(characters: string): string {
  return [...new Set(characters)].join('');
}
