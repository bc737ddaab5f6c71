/**
 * The configuration each function validates at cold start, for the benchmarks that load the bundles in a
 * fresh process (`bench:bundles`, `bench:rotation`). No value is a secret, and nothing is contacted: the
 * handlers only read it. A function without an entry here is an error, not a silent crash in the middle of
 * a benchmark run (the test in test/unit/bench checks every `functions/<name>/handler.ts` has one).
 */
export const COLD_START_ENV: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'api-key': { ROTATION_STRATEGY: 'self-issued' },
  approval: {
    SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:app-AbCdEf',
    APPROVAL_TABLE: 'approvals',
    APPROVAL_TOPIC_ARN: 'arn:aws:sns:us-east-1:111122223333:approvals',
  },
  audit: { AUDIT_LOG_GROUP: 'audit', AUDIT_WINDOW_SECONDS: '3600', AUDIT_LAG_SECONDS: '900' },
  'consumer-tracker': { TRACKER_TABLE: 'consumers' },
  database: { ROTATION_KIND: 'database', ROTATION_STRATEGY: 'single-user' },
  jwt: { JWKS_BUCKET: 'jwks-bucket', JWKS_KEY: '.well-known/jwks.json' },
  overdue: { SECRET_IDS: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:app-AbCdEf' },
};

/** The cold-start configuration of `functions/<name>/handler.ts`; throws for a function it does not know. */
export function coldStartEnv(name: string): Readonly<Record<string, string>> {
  const env = COLD_START_ENV[name];
  if (!env) {
    throw new Error(
      `functions/${name}/handler.ts has no cold-start configuration: add the environment its handler ` +
        'validates at load to COLD_START_ENV in bench/cold-start-env.ts',
    );
  }
  return env;
}
