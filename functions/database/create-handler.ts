import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  createRotationHandler,
  createRotationMetrics,
  type Environment,
  type RotationHandler,
  type RotationStrategy,
} from '../rotation';
import { type DatabaseConfig, DatabaseStrategyName, loadDatabaseConfig } from './config';
import type { DatabaseEngine, EngineSettings } from './engines/engine';
import { LazyEngine } from './engines/lazy';
import type { EngineFamily } from './secret';
import { AlternatingUsersStrategy } from './strategies/alternating-users';
import type { DatabaseStrategyDependencies } from './strategies/common';
import type { ConsumerCounter, CountRecorder } from './strategies/previous-user';
import { RdsMasterStrategy } from './strategies/rds-master';
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

/** Builds the database rotation handler: the strategy comes from `ROTATION_STRATEGY`. */
export function createDatabaseHandler(deps: DatabaseHandlerDependencies): RotationHandler {
  const config = loadDatabaseConfig(deps.env ?? process.env);
  return createRotationHandler({
    strategy: createDatabaseStrategy(config, deps),
    secretsManager: deps.secretsManager,
    ...(deps.eventBridge ? { eventBridge: deps.eventBridge } : {}),
    config,
  });
}

/** The strategy the configuration names. */
export function createDatabaseStrategy(
  config: DatabaseConfig,
  deps: DatabaseHandlerDependencies,
): RotationStrategy {
  const settings: EngineSettings = {
    connectTimeoutMs: config.connectTimeoutMs,
    ...(config.caPem ? { caPem: config.caPem } : {}),
  };
  const engines = new Map<EngineFamily, DatabaseEngine>();
  const engineFor = (family: EngineFamily): DatabaseEngine => {
    let engine = engines.get(family);
    if (!engine) {
      engine =
        deps.engineFor?.(family, settings) ??
        new LazyEngine(family, async () =>
          family === 'postgres'
            ? new (await import('./engines/postgres')).PostgresEngine(settings)
            : new (await import('./engines/mysql')).MySqlEngine(settings),
        );
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
      return new SingleUserStrategy(strategyDeps);
    case DatabaseStrategyName.ALTERNATING_USERS:
      return new AlternatingUsersStrategy(strategyDeps, {
        policy: config.previousUserSessions,
        recordCount: deps.recordCount ?? emfCountRecorder(config.strategy),
        ...(deps.consumers ? { consumers: deps.consumers } : {}),
      });
    case DatabaseStrategyName.RDS_MASTER:
      return new RdsMasterStrategy({
        ...strategyDeps,
        ...(deps.rds ? { rds: deps.rds } : {}),
        waitSeconds: config.rdsWaitSeconds,
        verifyLogin: config.rdsVerifyLogin,
        ...(deps.now ? { now: deps.now } : {}),
      });
  }
}

/** Each count as its own EMF document, flushed at once (the rotation core's metrics flush per invocation). */
function emfCountRecorder(strategy: string): CountRecorder {
  const metrics = createRotationMetrics('database', strategy);
  return (metric, count) => metrics.singleMetric().addMetric(metric, MetricUnit.Count, count);
}
