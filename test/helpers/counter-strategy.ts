import type { FinishInfo, RotationContext, RotationStrategy, SecretVersion } from '../../functions/rotation';
import { InvalidSecretValueError } from '../../functions/rotation';

/** The value the counter strategy keeps in its secret. */
export interface CounterSecret {
  generation: number;
  password: string;
}

/**
 * A complete small strategy used by the protocol core's tests: the "target" is an in-memory set of
 * accepted passwords, as a database would hold one. It shows that a strategy plugs in without touching the
 * core, and records every hook call so tests can assert on them.
 */
export class CounterStrategy implements RotationStrategy {
  readonly kind = 'counter';
  readonly name = 'test';
  /** Passwords the pretend target accepts. */
  readonly accepted = new Set<string>();
  readonly calls: string[] = [];
  readonly finishes: FinishInfo[] = [];
  /** Makes the next `set`/`test` throw this error. */
  failNext: { hook: 'set' | 'test' | 'afterFinish'; error: Error } | undefined;

  async createPending(context: RotationContext, current: SecretVersion): Promise<string> {
    this.calls.push('createPending');
    const value = parse(context.secretArn, current);
    const password = await context.passwords.generate();
    return JSON.stringify({ generation: value.generation + 1, password } satisfies CounterSecret);
  }

  async set(context: RotationContext, pending: SecretVersion): Promise<void> {
    this.calls.push('set');
    this.maybeFail('set');
    this.accepted.add(parse(context.secretArn, pending).password);
  }

  async test(context: RotationContext, pending: SecretVersion): Promise<void> {
    this.calls.push('test');
    this.maybeFail('test');
    if (!this.accepted.has(parse(context.secretArn, pending).password)) {
      throw new Error('the target does not accept the pending password');
    }
  }

  async afterFinish(_context: RotationContext, info: FinishInfo): Promise<void> {
    this.calls.push('afterFinish');
    this.maybeFail('afterFinish');
    this.finishes.push(info);
  }

  private maybeFail(hook: 'set' | 'test' | 'afterFinish'): void {
    if (this.failNext?.hook === hook) {
      const { error } = this.failNext;
      this.failNext = undefined;
      throw error;
    }
  }
}

function parse(secretArn: string, version: SecretVersion): CounterSecret {
  let value: unknown;
  try {
    value = JSON.parse(version.secretString);
  } catch (error) {
    throw new InvalidSecretValueError(secretArn, version.versionId, '(value)', 'is not JSON', {
      cause: error,
    });
  }
  const record = value as Partial<CounterSecret>;
  if (typeof record.generation !== 'number') {
    throw new InvalidSecretValueError(secretArn, version.versionId, 'generation', 'must be a number');
  }
  if (typeof record.password !== 'string') {
    throw new InvalidSecretValueError(secretArn, version.versionId, 'password', 'must be a string');
  }
  return { generation: record.generation, password: record.password };
}
