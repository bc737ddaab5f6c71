import { discoverFunctionEntries } from '../scripts/build-packages';

/**
 * The configuration each function validates at cold start, for the benchmarks that load the bundles in a
 * fresh process (`bench:bundles`, `bench:rotation`). No value is a secret, and nothing is contacted: the
 * handlers only read it. A function without an entry here is an error, not a silent crash in the middle of
 * a benchmark run (the test in test/unit/bench checks every entry has one). An entry is named `<name>` for
 * `functions/<name>/handler.ts` and `<name>/<x>-handler` for `functions/<name>/<x>-handler.ts`.
 */
export const COLD_START_ENV: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'api-key': { ROTATION_STRATEGY: 'self-issued' },
  approval: {
    SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:app-AbCdEf',
    APPROVAL_TABLE: 'approvals',
    APPROVAL_TOPIC_ARN: 'arn:aws:sns:us-east-1:111122223333:approvals',
  },
  // the approval decider, behind the function URL: the rules without the secret (each call names it)
  'approval/decide-handler': {
    APPROVAL_TABLE: 'approvals',
    APPROVAL_TOPIC_ARN: 'arn:aws:sns:us-east-1:111122223333:approvals',
  },
  audit: { AUDIT_LOG_GROUP: 'audit', AUDIT_WINDOW_SECONDS: '3600', AUDIT_LAG_SECONDS: '900' },
  'consumer-tracker': { TRACKER_TABLE: 'consumers' },
  database: { ROTATION_KIND: 'database', ROTATION_STRATEGY: 'single-user' },
  // the per-engine bundles of the database function: the same configuration, one engine each
  'database/mysql-handler': { ROTATION_KIND: 'database', ROTATION_STRATEGY: 'single-user' },
  'database/postgres-handler': { ROTATION_KIND: 'database', ROTATION_STRATEGY: 'single-user' },
  jwt: { JWKS_BUCKET: 'jwks-bucket', JWKS_KEY: '.well-known/jwks.json' },
  overdue: { SECRET_IDS: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:app-AbCdEf' },
};

/** The cold-start configuration of an entry (see `functionEntries`); throws for an entry it does not know. */
export function coldStartEnv(name: string): Readonly<Record<string, string>> {
  const env = COLD_START_ENV[name];
  if (!env) {
    throw new Error(
      `functions/${name.includes('/') ? name : `${name}/handler`}.ts has no cold-start configuration: add the environment its handler ` +
        'validates at load to COLD_START_ENV in bench/cold-start-env.ts',
    );
  }
  return env;
}

/** One Lambda entry the benchmarks measure: its name in the tables and `COLD_START_ENV`, and its file. */
export interface BenchEntry {
  readonly name: string;
  readonly entry: string;
}

/**
 * Every Lambda entry of `functions/`, as the package build finds them (`functions/<name>/handler.ts` and
 * `functions/<name>/<x>-handler.ts`), named `<name>` and `<name>/<x>-handler`, sorted by name.
 */
export function functionEntries(functionsDir?: string): BenchEntry[] {
  return discoverFunctionEntries(functionsDir)
    .map(({ entry, assetPath }) => ({ name: assetPath.replace(/\/handler$/, ''), entry }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
