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
