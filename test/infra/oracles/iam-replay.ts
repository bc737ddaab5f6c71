import { runSimulation } from '@cloud-copilot/iam-simulate';

/** One AWS request as IAM authorizes it. */
export interface IamRequest {
  /** What made it, for messages: `SecretsManager.GetSecretValue`, `derived: Secrets Manager → KMS`. */
  readonly origin: string;
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly context: Record<string, string | string[]>;
}

/** An IAM policy document. */
export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: ReadonlyArray<Record<string, unknown>>;
}

/** The policies that apply to one request. */
export interface ApplicablePolicies {
  readonly identity: readonly PolicyDocument[];
  readonly resource?: PolicyDocument;
}

/** Condition keys the simulator cannot take (colon-separated variable keys): checked here instead. */
const COLON_VARIABLE_KEYS = ['kms:EncryptionContext:'];

/**
 * Evaluates a request with `@cloud-copilot/iam-simulate`. The simulator (0.1.x) ignores colon-separated
 * variable condition keys such as `kms:EncryptionContext:SecretARN`; for those, the statement's condition on
 * that key is checked with IAM's StringEquals/StringLike semantics, and removed before simulating.
 */
export async function evaluate(request: IamRequest, policies: ApplicablePolicies): Promise<string> {
  const { identity, resource } = splitColonKeys(request, policies);
  const result = await runSimulation(
    {
      identityPolicies: identity.map((policy, i) => ({ name: `identity${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resource ? { resourcePolicy: resource } : {}),
      request: {
        action: request.action,
        principal: request.principal,
        resource: { resource: request.resource, accountId: accountOf(request.resource) },
        contextVariables: Object.fromEntries(
          Object.entries(request.context).filter(([k]) => !COLON_VARIABLE_KEYS.some((p) => k.startsWith(p))),
        ),
      },
    } as never,
    {},
  );
  if (result.resultType === 'error') {
    throw new Error(
      `iam-simulate refused the simulation of ${request.origin}: ${JSON.stringify(result.errors)}`,
    );
  }
  return result.overallResult;
}

function accountOf(arn: string): string {
  return arn.split(':')[4] || '123456789012';
}

/** Drops statements whose colon-key conditions fail for this request; strips those conditions from the rest. */
function splitColonKeys(request: IamRequest, policies: ApplicablePolicies): ApplicablePolicies {
  const rewrite = (doc: PolicyDocument): PolicyDocument => ({
    Version: doc.Version,
    Statement: doc.Statement.flatMap((statement) => {
      const conditions = statement.Condition as Record<string, Record<string, unknown>> | undefined;
      if (!conditions) return [statement];
      const kept: Record<string, Record<string, unknown>> = {};
      for (const [operator, keys] of Object.entries(conditions)) {
        for (const [key, expected] of Object.entries(keys)) {
          if (!COLON_VARIABLE_KEYS.some((p) => key.startsWith(p))) {
            kept[operator] = { ...(kept[operator] ?? {}), [key]: expected };
            continue;
          }
          const actual = request.context[key];
          if (
            typeof actual !== 'string' ||
            !stringCondition(operator, actual, [expected].flat() as string[])
          ) {
            // The condition fails: in an Allow the statement does not apply; in a Deny it does not deny.
            return [];
          }
        }
      }
      return [
        { ...statement, ...(Object.keys(kept).length ? { Condition: kept } : { Condition: undefined }) },
      ];
    }),
  });
  return {
    identity: policies.identity.map(rewrite),
    ...(policies.resource ? { resource: rewrite(policies.resource) } : {}),
  };
}

function stringCondition(operator: string, actual: string, expected: string[]): boolean {
  if (operator === 'StringEquals') return expected.includes(actual);
  if (operator === 'StringLike') {
    return expected.some((pattern) =>
      new RegExp(
        `^${pattern
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      ).test(actual),
    );
  }
  throw new Error(`Unsupported operator ${operator} on a colon-separated condition key`);
}
