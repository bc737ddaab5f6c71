import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DEFAULT_METRICS_NAMESPACE } from './constants';
import type { Redactor } from './redactor';

/**
 * Holds the redactor of the invocation under way, so the module-scoped logger can scrub every line. The
 * redactor follows the invocation's asynchronous context, not a module-level slot: invocations that overlap
 * in one process (the local mode, a test, a handler called twice without awaiting) each keep their own.
 */
export class RedactionScope {
  readonly #storage = new AsyncLocalStorage<Redactor>();

  /** The redactor of the invocation this code runs in, if any. */
  get current(): Redactor | undefined {
    return this.#storage.getStore();
  }

  /** Runs `fn` with `redactor` as the current one, for `fn` and everything it awaits or schedules. */
  run<T>(redactor: Redactor, fn: () => Promise<T>): Promise<T> {
    return this.#storage.run(redactor, fn);
  }
}

/**
 * A Powertools logger (JSON lines; level from `POWERTOOLS_LOG_LEVEL`, service from `POWERTOOLS_SERVICE_NAME`)
 * whose every string passes through the invocation's redactor.
 */
export function createRotationLogger(scope: RedactionScope, serviceName = 'secret-rotation'): Logger {
  return new Logger({
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? serviceName,
    jsonReplacerFn: (_key: string, value: unknown) =>
      typeof value === 'string' && scope.current ? scope.current.redact(value) : value,
  });
}

/**
 * Powertools metrics in EMF, namespace `SecretRotation` unless `POWERTOOLS_METRICS_NAMESPACE` says otherwise.
 * Dimensions are the kind and strategy of rotation, never the secret: a fleet of secrets shares one series.
 */
export function createRotationMetrics(
  kind: string,
  strategy: string,
  serviceName = 'secret-rotation',
): Metrics {
  return new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_METRICS_NAMESPACE,
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? serviceName,
    defaultDimensions: { Kind: kind, Strategy: strategy },
  });
}
