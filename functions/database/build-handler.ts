import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  ConfigurationError,
  createRotationHandler,
  createRotationMetrics,
  type Environment,
  type RotationContext,
  type RotationHandler,
  type RotationStrategy,
  type SecretVersion,
} from '../rotation';
import { type DatabaseConfig, DatabaseStrategyName, loadDatabaseConfig } from './config';
import type { DatabaseEngine, EngineSettings } from './engines/engine';
import { LazyEngine } from './engines/lazy';
import { type EngineFamily, parseDatabaseSecret } from './secret';
import { AlternatingUsersStrategy } from './strategies/alternating-users';
import type { DatabaseStrategyDependencies } from './strategies/common';
import type { ConsumerCounter, CountRecorder } from './strategies/previous-user';
import type { RdsMasterOptions } from './strategies/rds-master';
import { SingleUserStrategy } from './strategies/single-user';

/** What the database rotation handler is built from; tests and the local mode pass their own clients. */
export interface DatabaseHandlerDependencies {
  readonly secretsManager: SecretsManagerClient;
  readonly eventBridge?: EventBridgeClient;
  /** For the rds-master strategy. @default - built on first use */
  readonly rds?: RDSClient;
  /** Defaults to `process.env`. */
  readonly env?: Environment;
  /** Overrides the engines (tests). */
  readonly engineFor?: (family: EngineFamily, settings: EngineSettings) => DatabaseEngine;
  /** Sleeps between retries; injectable so tests do not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Milliseconds since the epoch, for the bounded waits; injectable with `sleep` so tests do not wait. */
  readonly now?: () => number;
  /** Receives the live-session and live-consumer counts. @default - EMF metrics (Kind, Strategy dimensions) */
  readonly recordCount?: CountRecorder;
  /** Counts consumers still on a version. @default - none */
  readonly consumers?: ConsumerCounter;
  /** Overrides retry delays (tests). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

/**
 * What one Lambda bundle of the database function contains. Each entry (handler.ts, postgres-handler.ts,
 * mysql-handler.ts) names only the modules it ships, so esbuild never inlines a driver or SDK the entry does
 * not list: the per-engine bundles leave out the other engine's driver and the RDS SDK.
 */
export interface DatabaseBundle {
  /** The entry, as the construct and the package name it, e.g. `database/postgres-handler`. */
  readonly name: string;
  /** Loads an engine's driver; called on the first connection. A family without a loader is refused. */
  readonly engines: { readonly [F in EngineFamily]?: (settings: EngineSettings) => Promise<DatabaseEngine> };
  /** Builds the rds-master strategy. @default - none: the strategy is refused at cold start */
  readonly rdsMaster?: (options: RdsMasterOptions) => RotationStrategy;
}

/** Builds the database rotation handler of `bundle`: the strategy comes from `ROTATION_STRATEGY`. */
export function buildDatabaseHandler(
  deps: DatabaseHandlerDependencies,
  bundle: DatabaseBundle,
): RotationHandler {
  const config = loadDatabaseConfig(deps.env ?? process.env);
  return createRotationHandler({
    strategy: buildDatabaseStrategy(config, deps, bundle),
    secretsManager: deps.secretsManager,
    ...(deps.eventBridge ? { eventBridge: deps.eventBridge } : {}),
    config,
  });
}

/** The strategy the configuration names, limited to the engines of `bundle`. */
export function buildDatabaseStrategy(
  config: DatabaseConfig,
  deps: DatabaseHandlerDependencies,
  bundle: DatabaseBundle,
): RotationStrategy {
  const settings: EngineSettings = {
    connectTimeoutMs: config.connectTimeoutMs,
    ...(config.caPem ? { caPem: config.caPem } : {}),
  };
  const engines = new Map<EngineFamily, DatabaseEngine>();
  const engineFor = (family: EngineFamily): DatabaseEngine => {
    let engine = engines.get(family);
    if (!engine) {
      const load = bundle.engines[family];
      if (!load) throw new ConfigurationError(notInBundle(bundle, `engine family '${family}'`));
      engine = deps.engineFor?.(family, settings) ?? new LazyEngine(family, () => load(settings));
      engines.set(family, engine);
    }
    return engine;
  };
  const strategyDeps: DatabaseStrategyDependencies = {
    engineFor,
    connectAttempts: config.connectAttempts,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.baseDelayMs !== undefined ? { baseDelayMs: deps.baseDelayMs } : {}),
    ...(deps.maxDelayMs !== undefined ? { maxDelayMs: deps.maxDelayMs } : {}),
  };
  switch (config.strategy) {
    case DatabaseStrategyName.SINGLE_USER:
      return guardEngines(new SingleUserStrategy(strategyDeps), bundle);
    case DatabaseStrategyName.ALTERNATING_USERS:
      return guardEngines(
        new AlternatingUsersStrategy(strategyDeps, {
          policy: config.previousUserSessions,
          recordCount: deps.recordCount ?? emfCountRecorder(config.strategy),
          ...(deps.consumers ? { consumers: deps.consumers } : {}),
        }),
        bundle,
      );
    case DatabaseStrategyName.RDS_MASTER:
      if (!bundle.rdsMaster) {
        throw new ConfigurationError(
          `ROTATION_STRATEGY is 'rds-master', but the bundle ${bundle.name} does not contain it; ` +
            'deploy the generic entry database/handler (DatabaseSecretRotation does so for rds-master)',
        );
      }
      return bundle.rdsMaster({
        ...strategyDeps,
        ...(deps.rds ? { rds: deps.rds } : {}),
        waitSeconds: config.rdsWaitSeconds,
        verifyLogin: config.rdsVerifyLogin,
        ...(deps.now ? { now: deps.now } : {}),
      });
  }
}

function notInBundle(bundle: DatabaseBundle, what: string): string {
  const families = Object.keys(bundle.engines).join(', ');
  return (
    `${what} is not in the bundle ${bundle.name}, which rotates ${families} only; nothing was changed. ` +
    'Deploy the generic entry database/handler, or the entry of this engine'
  );
}

/**
 * Refuses, before any step changes anything, a secret whose engine the bundle does not contain: the check
 * runs on the version the step starts from (AWSCURRENT for createSecret, AWSPENDING for the others). A value
 * that does not parse is left to the strategy, which names the invalid field.
 */
function guardEngines(strategy: RotationStrategy, bundle: DatabaseBundle): RotationStrategy {
  if (bundle.engines.postgres && bundle.engines.mysql) return strategy;
  const check = (context: RotationContext, version: SecretVersion, stage: string): void => {
    let engine: string;
    let family: EngineFamily;
    try {
      ({ engine, family } = parseDatabaseSecret(context.secretArn, stage, version.secretString));
    } catch {
      return;
    }
    if (!bundle.engines[family]) {
      throw new ConfigurationError(
        notInBundle(bundle, `Secret ${context.secretArn}: its engine '${engine}' (family ${family})`),
      );
    }
  };
  const reconcile = strategy.reconcileOutsideWrite?.bind(strategy);
  return {
    kind: strategy.kind,
    name: strategy.name,
    createPending: (context, current) => {
      check(context, current, 'AWSCURRENT');
      return strategy.createPending(context, current);
    },
    set: (context, pending) => {
      check(context, pending, 'AWSPENDING');
      return strategy.set(context, pending);
    },
    test: (context, pending) => {
      check(context, pending, 'AWSPENDING');
      return strategy.test(context, pending);
    },
    ...(strategy.afterFinish ? { afterFinish: strategy.afterFinish.bind(strategy) } : {}),
    ...(reconcile
      ? {
          reconcileOutsideWrite: (context, versions) => {
            check(context, versions.pending, 'AWSPENDING');
            return reconcile(context, versions);
          },
        }
      : {}),
  };
}

/** Each count as its own EMF document, flushed at once (the rotation core's metrics flush per invocation). */
function emfCountRecorder(strategy: string): CountRecorder {
  const metrics = createRotationMetrics('database', strategy);
  return (metric, count) => metrics.singleMetric().addMetric(metric, MetricUnit.Count, count);
}
