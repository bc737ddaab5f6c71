import { Duration, Token, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

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
   * The window in which Secrets Manager starts the rotation, from 1 hour to 24 hours.
   * @default - Secrets Manager's default (the whole day for rates of days)
   */
  readonly window?: Duration;
  /**
   * Rotate as soon as the schedule is created.
   * @default true
   */
  readonly rotateImmediately?: boolean;
}

const MIN_RATE_HOURS = 4;
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

/** Validates a schedule. Throws naming the prop and the bad value; unresolved tokens are not checked. */
export function resolveSchedule(options: RotationScheduleOptions = {}): ResolvedSchedule {
  if (options.every && options.cron) {
    throw new Error('RotationScheduleOptions: give either `every` or `cron`, not both');
  }
  const window = options.window;
  let duration: string | undefined;
  if (window && !Token.isUnresolved(window.toSeconds())) {
    const hours = window.toHours({ integral: false });
    if (hours < 1 || hours > 24 || !Number.isInteger(hours)) {
      throw new Error(
        `RotationScheduleOptions.window must be whole hours from 1 to 24, got ${window.toHumanString()}`,
      );
    }
    duration = `${hours}h`;
  }
  const rotateImmediately = options.rotateImmediately ?? true;
  if (options.cron !== undefined) {
    return {
      scheduleExpression: validateCron(options.cron),
      ...(duration ? { duration } : {}),
      rotateImmediately,
    };
  }
  const every = options.every ?? Duration.days(30);
  if (!Token.isUnresolved(every.toSeconds())) {
    const hours = every.toHours({ integral: false });
    if (hours < MIN_RATE_HOURS || hours > MAX_RATE_DAYS * 24) {
      throw new Error(
        `RotationScheduleOptions.every must be from ${MIN_RATE_HOURS} hours to ${MAX_RATE_DAYS} days, got ${every.toHumanString()}`,
      );
    }
    if (hours >= 24 && !Number.isInteger(hours / 24)) {
      throw new Error(
        `RotationScheduleOptions.every must be whole days when a day or longer, got ${every.toHumanString()}`,
      );
    }
    if (hours < 24 && !Number.isInteger(hours)) {
      throw new Error(`RotationScheduleOptions.every must be whole hours, got ${every.toHumanString()}`);
    }
  }
  const hours = every.toHours();
  const days = hours / 24;
  const scheduleExpression =
    hours < 24 ? `rate(${hours} hours)` : `rate(${days} ${days === 1 ? 'day' : 'days'})`;
  return { scheduleExpression, ...(duration ? { duration } : {}), rotateImmediately, interval: every };
}

/** Checks a Secrets Manager cron expression: `cron(minutes hours day-of-month month day-of-week year)`. */
export function validateCron(expression: string): string {
  const match = /^cron\((.*)\)$/.exec(expression.trim());
  const fields = match?.[1]?.trim().split(/\s+/) ?? [];
  if (!match || fields.length !== 6) {
    throw new Error(`RotationScheduleOptions.cron must be cron() with six fields, got '${expression}'`);
  }
  if (fields[0] !== '0') {
    throw new Error(
      `RotationScheduleOptions.cron must have minute 0 (Secrets Manager rotates in hour windows), got '${expression}'`,
    );
  }
  if (fields[5] !== '*')
    throw new Error(`RotationScheduleOptions.cron must have year '*', got '${expression}'`);
  if (fields[2] !== '?' && fields[4] !== '?') {
    throw new Error(
      `RotationScheduleOptions.cron must use '?' in day-of-month or day-of-week, got '${expression}'`,
    );
  }
  return expression.trim();
}

/**
 * Schedules the rotation of `secret` by `rotationFunction`, as every construct here does.
 * `secret.addRotationSchedule` grants Secrets Manager's invoke permission (scoped to the secret and the
 * account), the rotation actions on this one secret, and `secretsmanager:GetRandomPassword`; the overrides
 * give CloudFormation what CDK's own props cannot say: a `rate()` or `cron()` expression and the window.
 */
export function scheduleRotation(
  secret: secretsmanager.ISecret,
  rotationFunction: lambda.IFunction,
  schedule: ResolvedSchedule,
): secretsmanager.RotationSchedule {
  const rotationSchedule = secret.addRotationSchedule('Schedule', {
    rotationLambda: rotationFunction,
    automaticallyAfter: schedule.interval ?? Duration.days(30),
    rotateImmediatelyOnUpdate: schedule.rotateImmediately,
  });
  const cfn = rotationSchedule.node.defaultChild as secretsmanager.CfnRotationSchedule;
  cfn.addPropertyOverride('RotationRules', {
    ScheduleExpression: schedule.scheduleExpression,
    ...(schedule.duration ? { Duration: schedule.duration } : {}),
  });
  cfn.addPropertyOverride('RotateImmediatelyOnUpdate', schedule.rotateImmediately);
  Validations.of(rotationFunction).acknowledge({
    id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
    reason:
      'secretsmanager:GetRandomPassword, granted by addRotationSchedule, has no resource type: IAM accepts only "*" ' +
      'for it; every other statement names its resource',
  });
  return rotationSchedule;
}
