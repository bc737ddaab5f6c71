import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** One question to the oracle: does `pattern` match `event`? */
export interface PatternCase {
  readonly pattern: unknown;
  readonly event: unknown;
}

/**
 * Asks moto's implementation of EventBridge's pattern language (python3, `moto.events.models.EventPattern`)
 * whether each pattern matches its event: the answer comes from outside this project.
 */
export function matchesAll(cases: readonly PatternCase[]): boolean[] {
  const result = spawnSync('python3', [path.join(__dirname, 'event-pattern.py')], {
    input: JSON.stringify({ cases }),
    encoding: 'utf8',
  });
  if (result.error)
    throw new Error(`python3 could not run: ${result.error.message}`, { cause: result.error });
  if (result.status !== 0) throw new Error(`the EventPattern oracle failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as boolean[];
}

/**
 * Resolves what a deployed template would: `Fn::Join` and the pseudo parameters `AWS::Partition`,
 * `AWS::Region`, `AWS::AccountId`, `AWS::URLSuffix`. Anything else (a reference to a resource) is left as is.
 */
export function resolvePseudo(
  value: unknown,
  env = { account: '123456789012', region: 'eu-west-1' },
): unknown {
  if (Array.isArray(value)) return value.map((v) => resolvePseudo(v, env));
  if (value === null || typeof value !== 'object') return value;
  const node = value as Record<string, unknown>;
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': env.region,
    'AWS::AccountId': env.account,
    'AWS::URLSuffix': 'amazonaws.com',
  };
  if (typeof node.Ref === 'string' && pseudo[node.Ref] !== undefined) return pseudo[node.Ref];
  const join = node['Fn::Join'] as [string, unknown[]] | undefined;
  if (join) {
    const parts = join[1].map((p) => resolvePseudo(p, env));
    if (parts.every((p) => typeof p === 'string')) return parts.join(join[0]);
    return { 'Fn::Join': [join[0], parts] };
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolvePseudo(v, env)]));
}
