import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DEFAULT_METRICS_NAMESPACE } from './constants';
import type { Redactor } from './redactor';

/** Holds the redactor of the invocation under way, so the module-scoped logger can scrub every line. */
export class RedactionScope {
  current: Redactor | undefined;
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
