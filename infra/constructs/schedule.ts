import { Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct, IConstruct, IDependable } from 'constructs';

/** A rotation schedule: a rate, or a cron expression, with an optional rotation window. */
export interface RotationScheduleOptions {
  /**
   * How often to rotate, from 4 hours to 1000 days.
   * @default Duration.days(30)
   */
  readonly every?: Duration;
  /**
   * A cron expression (six fields, minute 0, year `*`), e.g. `cron(0 4 ? * SUN *)`. Exclusive with `every`.
   * @default - `every`
   */
  readonly cron?: string;
  /**
   * The window in which Secrets Manager starts the rotation, whole hours from 1 to 24. It must not run into
   * the next window or the next UTC day (Secrets Manager refuses such a schedule at deploy).
   * @default - Secrets Manager's default: one hour for schedules in hours, the rest of the UTC day for
   * schedules in days
   */
  readonly window?: Duration;
  /**
   * Rotate as soon as the schedule is created.
   * @default true
   */
  readonly rotateImmediately?: boolean;
}

const MIN_GAP_HOURS = 4;
const MAX_RATE_DAYS = 1000;

/** A validated schedule in CloudFormation's terms (`AWS::SecretsManager::RotationSchedule` RotationRules). */
export interface ResolvedSchedule {
  /** `rate(...)` or `cron(...)`. */
  readonly scheduleExpression: string;
  /** The rotation window, e.g. `3h`. */
  readonly duration?: string;
  readonly rotateImmediately: boolean;
  /** The time between two rotations for rates; undefined for cron expressions. */
  readonly interval?: Duration;
}

/** The error of a schedule Secrets Manager would refuse: names the prop and the bad value. */
export class RotationScheduleError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RotationScheduleError';
  }
}

/**
 * Validates a schedule by the rules Secrets Manager documents for `RotationRules` (rotations at least four
 * hours apart; `rate()` up to 1000 days; a window of whole hours that runs neither into the next window nor
 * into the next UTC day; cron fields within their ranges). Throws a {@link RotationScheduleError} naming the
 * prop and the bad value; unresolved tokens are not checked.
 */
export function resolveSchedule(options: RotationScheduleOptions = {}): ResolvedSchedule {
  if (options.every && options.cron) {
    throw new RotationScheduleError('RotationScheduleOptions: give either `every` or `cron`, not both');
  }
  const window = options.window;
  let windowHours: number | undefined;
  if (window && !Token.isUnresolved(window.toSeconds())) {
    const hours = window.toHours({ integral: false });
    if (hours < 1 || hours > 24 || !Number.isInteger(hours)) {
      throw new RotationScheduleError(
        `RotationScheduleOptions.window must be whole hours from 1 to 24, got ${window.toHumanString()}`,
      );
    }
    windowHours = hours;
  }
  const duration = windowHours !== undefined ? { duration: `${windowHours}h` } : {};
  const rotateImmediately = options.rotateImmediately ?? true;
  if (options.cron !== undefined) {
    const cron = parseCron(options.cron);
    checkCronWindow(options.cron, cron, windowHours);
    return { scheduleExpression: options.cron.trim(), ...duration, rotateImmediately };
  }
  const every = options.every ?? Duration.days(30);
  if (Token.isUnresolved(every.toSeconds())) {
    throw new RotationScheduleError('RotationScheduleOptions.every must be a concrete duration');
  }
  const hours = every.toHours({ integral: false });
  if (hours < MIN_GAP_HOURS || hours > MAX_RATE_DAYS * 24) {
    throw new RotationScheduleError(
      `RotationScheduleOptions.every must be from ${MIN_GAP_HOURS} hours to ${MAX_RATE_DAYS} days, got ${every.toHumanString()}`,
    );
  }
  if (hours >= 24 && !Number.isInteger(hours / 24)) {
    throw new RotationScheduleError(
      `RotationScheduleOptions.every must be whole days when a day or longer, got ${every.toHumanString()}`,
    );
  }
  if (hours < 24 && !Number.isInteger(hours)) {
    throw new RotationScheduleError(
      `RotationScheduleOptions.every must be whole hours, got ${every.toHumanString()}`,
    );
  }
  if (hours < 24 && windowHours !== undefined) {
    // rate(N hours): windows start at midnight and every N hours after it.
    const lastStart = Math.floor(23 / hours) * hours;
    if (windowHours > hours) {
      throw new RotationScheduleError(
        `RotationScheduleOptions.window (${windowHours}h) runs into the next rotation window of every ${hours} hours; ` +
          `Secrets Manager refuses it: give a window of at most ${hours}h`,
      );
    }
    if (lastStart + windowHours > 24) {
      throw new RotationScheduleError(
        `RotationScheduleOptions.window (${windowHours}h) of the window starting at ${lastStart}:00 UTC runs into the next UTC day; ` +
          `Secrets Manager refuses it: give a window of at most ${24 - lastStart}h`,
      );
    }
  }
  const days = hours / 24;
  const scheduleExpression =
    hours < 24 ? `rate(${hours} hours)` : `rate(${days} ${days === 1 ? 'day' : 'days'})`;
  return { scheduleExpression, ...duration, rotateImmediately, interval: every };
}

/** The hours of the day a cron expression starts a window at, and whether consecutive days all run. */
interface ParsedCron {
  readonly hours: readonly number[];
  readonly everyDay: boolean;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** Checks a Secrets Manager cron expression: `cron(minutes hours day-of-month month day-of-week year)`. */
export function validateCron(expression: string): string {
  parseCron(expression);
  return expression.trim();
}

function parseCron(expression: string): ParsedCron {
  const fail = (why: string): never => {
    throw new RotationScheduleError(`RotationScheduleOptions.cron ${why}, got '${expression}'`);
  };
  const match = /^cron\((.*)\)$/.exec(expression.trim());
  const fields = match?.[1]?.trim().split(/\s+/) ?? [];
  if (!match || fields.length !== 6) fail('must be cron() with six fields');
  const [minute, hour, dayOfMonth, month, dayOfWeek, year] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (minute !== '0') fail('must have minute 0 (Secrets Manager rotates in windows of whole hours)');
  if (year !== '*') fail("must have year '*'");
  if (dayOfMonth !== '?' && dayOfWeek !== '?') fail("must use '?' in day-of-month or day-of-week");
  if (dayOfMonth === '?' && dayOfWeek === '?') fail("must not use '?' in both day-of-month and day-of-week");
  const hours = expandField(hour, 0, 23, [], (why) => fail(`hours ${why}`));
  if (dayOfMonth !== '?' && !/^(L|LW|\d{1,2}W)$/.test(dayOfMonth)) {
    expandField(dayOfMonth, 1, 31, [], (why) => fail(`day-of-month ${why}`));
  }
  expandField(month, 1, 12, MONTHS, (why) => fail(`month ${why}`));
  if (dayOfWeek !== '?' && !/^([1-7]|SUN|MON|TUE|WED|THU|FRI|SAT)(#[1-5]|L)$/i.test(dayOfWeek)) {
    expandField(dayOfWeek, 1, 7, WEEKDAYS, (why) => fail(`day-of-week ${why}`));
  }
  const everyDay = (dayOfMonth === '*' && dayOfWeek === '?') || (dayOfMonth === '?' && dayOfWeek === '*');
  // "You can rotate a secret as often as every four hours" (Secrets Manager, RotationRulesType).
  const gaps = hours.slice(1).map((h, i) => h - (hours[i] as number));
  if (everyDay && hours.length > 1)
    gaps.push(24 + (hours[0] as number) - (hours[hours.length - 1] as number));
  const closest = Math.min(...gaps);
  if (gaps.length > 0 && closest < MIN_GAP_HOURS) {
    fail(
      `starts rotations ${closest} hour${closest === 1 ? '' : 's'} apart; Secrets Manager rotates at most every ${MIN_GAP_HOURS} hours`,
    );
  }
  return { hours, everyDay };
}

/** Expands one cron field (`*`, `n`, `a-b`, `a/b`, `*\/b`, `a-b/c`, lists) to its values, checking the range. */
function expandField(
  field: string,
  min: number,
  max: number,
  names: readonly string[],
  fail: (why: string) => never,
): number[] {
  const value = (text: string): number => {
    const named = names.indexOf(text.toUpperCase());
    const n = named >= 0 ? named + min : /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) fail(`must be from ${min} to ${max}: '${text}' is not`);
    return n;
  };
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) fail(`has an invalid step in '${part}'`);
    let from: number;
    let to: number;
    if (range === '*') {
      from = min;
      to = max;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      from = value(a);
      to = value(b);
      if (to < from) fail(`has a range that runs backwards: '${part}'`);
    } else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    for (let n = from; n <= to; n += step) values.add(n);
  }
  return [...values].sort((a, b) => a - b);
}

/** The window must run neither into the next window nor into the next UTC day. */
function checkCronWindow(expression: string, cron: ParsedCron, windowHours: number | undefined): void {
  if (windowHours === undefined) return; // Secrets Manager's default window closes in time by construction
  for (const [i, start] of cron.hours.entries()) {
    const next = cron.hours[i + 1];
    if (start + windowHours > 24) {
      throw new RotationScheduleError(
        `RotationScheduleOptions.window (${windowHours}h) of the window starting at ${start}:00 UTC of '${expression}' ` +
          `runs into the next UTC day; Secrets Manager refuses it: give a window of at most ${24 - start}h`,
      );
    }
    if (next !== undefined && start + windowHours > next) {
      throw new RotationScheduleError(
        `RotationScheduleOptions.window (${windowHours}h) of the window starting at ${start}:00 UTC of '${expression}' ` +
          `runs into the next window at ${next}:00; Secrets Manager refuses it: give a window of at most ${next - start}h`,
      );
    }
  }
}

/** What {@link scheduleRotation} waits for and grants besides the rotation itself. */
export interface ScheduleRotationOptions extends GrantRotationOptions {
  /**
   * Resources the first (immediate) rotation needs: the database, the VPC endpoints. The schedule is created
   * after them.
   * @default - none
   */
  readonly dependsOn?: readonly IDependable[];
}

/** What a rotation function needs beyond the four rotation actions on its secret. */
export interface GrantRotationOptions {
  /**
   * `secretsmanager:GetRandomPassword` (which IAM accepts on "*" only): for functions that generate
   * passwords or keys with it (database, API key), not for the JWT key set.
   * @default true
   */
  readonly randomPassword?: boolean;
  /**
   * `secretsmanager:ListSecretVersionIds` on the secret: for the single-user database rotation, which looks
   * among the versions that lost their labels for the password that logs in after an outside write
   * (docs/security.md, "Protocol and redaction"), and for the API key rotation, whose sweep reads when the
   * version that superseded a revoked key was created (the revocation latency).
   * @default false
   */
  readonly listVersions?: boolean;
}

/** The ARN an IAM policy or a condition can match a secret by: the full ARN, or the partial ARN and `-??????`. */
export function secretArnForPolicies(secret: secretsmanager.ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}

/**
 * Lets `grantee` use the customer-managed KMS key of `secret`, only through Secrets Manager and only for this
 * secret (`kms:ViaService`, `kms:EncryptionContext:SecretARN`), as Secrets Manager's "Policy statement for
 * customer managed key" documents. Written into the role's policy, so it works for an imported key, a key in
 * another stack and a key shared from another account alike (whose key policy must then allow the account's
 * IAM policies). Does nothing for a secret encrypted with `aws/secretsmanager`.
 */
export function grantSecretKey(
  grantee: iam.IGrantable,
  secret: secretsmanager.ISecret,
  actions: readonly string[],
  scope: IConstruct,
): void {
  const key = secret.encryptionKey;
  if (!key) return;
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [...actions],
      resources: [key.keyArn],
      conditions: {
        StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(scope).region}.amazonaws.com` },
        StringLike: { 'kms:EncryptionContext:SecretARN': secretArnForPolicies(secret) },
      },
    }),
  );
}

/**
 * Lets `grantee` read another secret (a master secret, an admin credential): `GetSecretValue` on that one
 * secret, and decryption with its KMS key through Secrets Manager only. No `DescribeSecret`: the functions
 * only read these secrets' values (the IAM replay, test/infra/iam-replay.test.ts, checks every action is used).
 */
export function grantSecretRead(
  grantee: iam.IGrantable,
  secret: secretsmanager.ISecret,
  scope: IConstruct,
): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['secretsmanager:GetSecretValue'],
      resources: [secretArnForPolicies(secret)],
    }),
  );
  grantSecretKey(grantee, secret, ['kms:Decrypt'], scope);
}

/**
 * What a rotation function needs besides its schedule: Secrets Manager may invoke it for this secret of this
 * account only (`aws:SourceAccount`, `aws:SourceArn`), and its role gets the four rotation actions on the one
 * secret, `GetRandomPassword`, and the secret's KMS key through Secrets Manager for this secret only.
 * Returns the invoke permission, which a schedule must wait for.
 */
export function grantRotation(
  scope: Construct,
  secret: secretsmanager.ISecret,
  rotationFunction: lambda.IFunction,
  options: GrantRotationOptions = {},
): lambda.CfnPermission {
  const stack = Stack.of(scope);
  const secretArn = secretArnForPolicies(secret);
  const permission = new lambda.CfnPermission(scope, 'InvokePermission', {
    action: 'lambda:InvokeFunction',
    functionName: rotationFunction.functionArn,
    principal: 'secretsmanager.amazonaws.com',
    sourceAccount: stack.account,
    sourceArn: secretArn,
  });
  rotationFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: [
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
        'secretsmanager:PutSecretValue',
        'secretsmanager:UpdateSecretVersionStage',
        ...(options.listVersions ? ['secretsmanager:ListSecretVersionIds'] : []),
      ],
      resources: [secretArn],
    }),
  );
  grantSecretKey(rotationFunction, secret, ['kms:Decrypt', 'kms:GenerateDataKey'], scope);
  if (options.randomPassword ?? true) {
    rotationFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetRandomPassword'], resources: ['*'] }),
    );
    Validations.of(rotationFunction.role ?? rotationFunction).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'secretsmanager:GetRandomPassword has no resource type: IAM accepts only "*" for it; every other statement names its resource',
    });
  }
  return permission;
}

/**
 * Schedules the rotation of `secret` by `rotationFunction`, in `scope` (so that a database in one stack and
 * its rotation in another make no cycle), as every construct here does:
 * - Secrets Manager may invoke the function for this secret of this account only (`aws:SourceAccount`,
 *   `aws:SourceArn`: confused-deputy prevention);
 * - the role gets the four rotation actions on this one secret, `GetRandomPassword` (which has no resource
 *   type), and the secret's KMS key through Secrets Manager for this secret only, whether the key is in the
 *   stack, imported or shared;
 * - the schedule waits for the invoke permission and for `options.dependsOn`;
 * - synth fails when another rotation schedule (ours or `addRotationSingleUser()`'s) targets the same secret.
 */
export function scheduleRotation(
  scope: Construct,
  secret: secretsmanager.ISecret,
  rotationFunction: lambda.IFunction,
  schedule: ResolvedSchedule,
  options: ScheduleRotationOptions = {},
): secretsmanager.CfnRotationSchedule {
  const permission = grantRotation(scope, secret, rotationFunction, options);
  const rotationSchedule = new secretsmanager.CfnRotationSchedule(scope, 'Schedule', {
    secretId: secret.secretArn,
    rotationLambdaArn: rotationFunction.functionArn,
    rotationRules: {
      scheduleExpression: schedule.scheduleExpression,
      ...(schedule.duration ? { duration: schedule.duration } : {}),
    },
    rotateImmediatelyOnUpdate: schedule.rotateImmediately,
  });
  rotationSchedule.node.addDependency(permission, ...(options.dependsOn ?? []));
  // As aws-cdk-lib's RotationSchedule does: the account root may not delete a rotated secret by accident.
  secret.denyAccountRootDelete();
  scope.node.addValidation({ validate: () => duplicateSchedules(rotationSchedule, secret) });
  return rotationSchedule;
}

/** Every other rotation schedule of the app that targets `secret`. */
function duplicateSchedules(
  ours: secretsmanager.CfnRotationSchedule,
  secret: secretsmanager.ISecret,
): string[] {
  const ourStack = Stack.of(ours);
  const same = (other: secretsmanager.CfnRotationSchedule): boolean => {
    if (other.secretId === secret.secretArn) return true;
    if (Stack.of(other) !== ourStack) return false;
    return (
      JSON.stringify(ourStack.resolve(other.secretId)) === JSON.stringify(ourStack.resolve(ours.secretId))
    );
  };
  const others = ours.node.root.node
    .findAll()
    .filter(
      (c): c is secretsmanager.CfnRotationSchedule =>
        c instanceof secretsmanager.CfnRotationSchedule && c !== ours && same(c),
    );
  return others.map(
    (other) =>
      `The secret ${secret.node.path} already has the rotation schedule ${other.node.path}: a secret has exactly one rotation ` +
      "(Secrets Manager keeps the last one deployed). Remove the other (e.g. the database's addRotationSingleUser()).",
  );
}
