import { Duration } from 'aws-cdk-lib';
import { resolveSchedule, validateCron } from '../../infra/constructs/schedule';

describe('rotation schedules', () => {
  it('defaults to every 30 days, rotating immediately', () => {
    expect(resolveSchedule()).toMatchObject({ scheduleExpression: 'rate(30 days)', rotateImmediately: true });
  });

  it.each([
    [Duration.hours(4), 'rate(4 hours)'],
    [Duration.days(1), 'rate(1 day)'],
    [Duration.days(1000), 'rate(1000 days)'],
  ])('turns %s into %s', (every, expression) => {
    expect(resolveSchedule({ every }).scheduleExpression).toBe(expression);
  });

  it.each([
    [Duration.hours(3), 'must be from 4 hours to 1000 days'],
    [Duration.days(1001), 'must be from 4 hours to 1000 days'],
    [Duration.hours(30), 'must be whole days'],
  ])('rejects every=%s naming the prop', (every, message) => {
    expect(() => resolveSchedule({ every })).toThrow(`RotationScheduleOptions.every ${message}`);
  });

  it('takes a cron expression with a window', () => {
    expect(resolveSchedule({ cron: 'cron(0 4 ? * SUN *)', window: Duration.hours(3) })).toMatchObject({
      scheduleExpression: 'cron(0 4 ? * SUN *)',
      duration: '3h',
    });
  });

  it.each([
    ['cron(30 4 ? * SUN *)', 'must have minute 0'],
    ['cron(0 4 ? * SUN 2027)', "must have year '*'"],
    ['cron(0 4 * * *)', 'six fields'],
    ['rate(5 days)', 'six fields'],
    ['cron(0 4 1 * MON *)', "must use '?'"],
  ])('rejects the cron expression %s', (expression, message) => {
    expect(() => validateCron(expression)).toThrow(message);
  });

  it.each([[Duration.minutes(30)], [Duration.hours(25)], [Duration.minutes(90)]])(
    'rejects the window %s',
    (window) => {
      expect(() => resolveSchedule({ window })).toThrow(
        'RotationScheduleOptions.window must be whole hours from 1 to 24',
      );
    },
  );

  it('refuses a rate and a cron expression together', () => {
    expect(() => resolveSchedule({ every: Duration.days(7), cron: 'cron(0 4 ? * SUN *)' })).toThrow(
      'either `every` or `cron`',
    );
  });
});

// Secrets Manager's documented rules for RotationRules (API reference, RotationRulesType): "You can rotate a
// secret as often as every four hours"; rate() in hours or days up to 1000 days; "The rotation window must
// not extend into the next UTC day or into the next rotation window"; cron fields in their ranges.
describe("rotation schedules against Secrets Manager's documented RotationRules", () => {
  it.each([
    ['cron(0 * * * ? *)', 'starts rotations 1 hour apart'],
    ['cron(0 */2 * * ? *)', 'starts rotations 2 hours apart'],
    ['cron(0 1,3 * * ? *)', 'starts rotations 2 hours apart'],
    ['cron(0 8-10 ? * MON-FRI *)', 'starts rotations 1 hour apart'],
    ['cron(0 0,22 * * ? *)', 'starts rotations 2 hours apart'],
  ])("rejects %s: rotations at least four hours apart ('as often as every four hours')", (cron, message) => {
    expect(() => resolveSchedule({ cron })).toThrow(message);
  });

  it.each([
    ['cron(0 25 ? * SUN *)', 'hours must be from 0 to 23'],
    ['cron(0 4 32 * ? *)', 'day-of-month must be from 1 to 31'],
    ['cron(0 4 ? 13 MON *)', 'month must be from 1 to 12'],
    ['cron(0 4 ? * FUNDAY *)', 'day-of-week must be from 1 to 7'],
    ['cron(0 4 ? * ? *)', "must not use '?' in both"],
  ])('rejects %s: cron fields within their ranges', (cron, message) => {
    expect(() => resolveSchedule({ cron })).toThrow(`RotationScheduleOptions.cron ${message}`);
  });

  it.each([
    [
      'every 4h with a 24h window',
      { every: Duration.hours(4), window: Duration.hours(24) },
      'runs into the next rotation window',
    ],
    [
      'every 6h with an 8h window',
      { every: Duration.hours(6), window: Duration.hours(8) },
      'runs into the next rotation window',
    ],
    [
      'every 5h with a 5h window (20:00 + 5h)',
      { every: Duration.hours(5), window: Duration.hours(5) },
      'runs into the next UTC day',
    ],
    [
      'cron(0 22 ? * SUN *) with a 4h window',
      { cron: 'cron(0 22 ? * SUN *)', window: Duration.hours(4) },
      'runs into the next UTC day',
    ],
    [
      'cron(0 4,12 * * ? *) with a 10h window',
      { cron: 'cron(0 4,12 * * ? *)', window: Duration.hours(10) },
      'runs into the next window at 12:00',
    ],
  ])(
    'rejects %s: the window must not extend into the next window or the next UTC day',
    (_label, options, message) => {
      expect(() => resolveSchedule(options)).toThrow(message);
    },
  );

  it.each([
    ['every 4h with a 4h window', { every: Duration.hours(4), window: Duration.hours(4) }, 'rate(4 hours)'],
    [
      'every 12h with a 2h window',
      { every: Duration.hours(12), window: Duration.hours(2) },
      'rate(12 hours)',
    ],
    [
      'every 30 days with a 24h window',
      { every: Duration.days(30), window: Duration.hours(24) },
      'rate(30 days)',
    ],
    ['every fourth hour', { cron: 'cron(0 */4 * * ? *)' }, 'cron(0 */4 * * ? *)'],
    [
      'every sixth hour with a 6h window',
      { cron: 'cron(0 0/6 * * ? *)', window: Duration.hours(6) },
      'cron(0 0/6 * * ? *)',
    ],
    [
      'the first Saturday at 20:00 for 4h',
      { cron: 'cron(0 20 ? * SAT#1 *)', window: Duration.hours(4) },
      'cron(0 20 ? * SAT#1 *)',
    ],
    [
      'the last day of the month at 03:00',
      { cron: 'cron(0 3 L * ? *)', window: Duration.hours(3) },
      'cron(0 3 L * ? *)',
    ],
    [
      'weekdays of January to June at 04:00',
      { cron: 'cron(0 4 ? JAN-JUN MON-FRI *)' },
      'cron(0 4 ? JAN-JUN MON-FRI *)',
    ],
  ])('accepts %s', (_label, options, expression) => {
    expect(resolveSchedule(options).scheduleExpression).toBe(expression);
  });
});
