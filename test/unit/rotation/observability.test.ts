import { inspect } from 'node:util';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { EventPublishError, RotationStepError } from '../../../functions/rotation';
import { STEPS } from '../../helpers/rotate';
import { INITIAL, setUp, stepEvent } from './harness';

// Everything Powertools writes goes through the global console in dev mode; capture it all.
process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';

let output: string[] = [];
const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;

beforeEach(() => {
  output = [];
  for (const method of methods) {
    jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      output.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '));
    });
  }
});

afterEach(() => jest.restoreAllMocks());

function emf(): Array<Record<string, unknown>> {
  return output.filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line));
}

function logLines(): Array<Record<string, unknown>> {
  return output.filter((line) => !line.includes('"_aws"')).map((line) => JSON.parse(line));
}

function events(eventBridge: ReturnType<typeof setUp>['eventBridge']) {
  return eventBridge.commandCalls(PutEventsCommand).map((call) => {
    const entry = call.args[0].input.Entries?.[0];
    return { ...entry, detail: JSON.parse(entry?.Detail ?? '{}') as Record<string, unknown> };
  });
}

describe('events', () => {
  it('publishes nothing and fails nothing when no bus is configured', async () => {
    // GIVEN
    const { fake, handler, arn, eventBridge } = setUp({ config: { eventBusName: undefined } });
    const token = fake.startRotation(arn);
    // WHEN
    for (const step of STEPS) await handler(stepEvent(arn, token, step));
    // THEN
    expect(eventBridge.calls()).toHaveLength(0);
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
  });

  it('publishes Secret Rotation Started and Secret Rotated with version ids, kind, strategy and duration', async () => {
    // GIVEN
    const { fake, handler, arn, eventBridge } = setUp({ config: { eventBusName: 'rotation-bus' } });
    const previous = fake.versionOf(arn, 'AWSCURRENT');
    const token = fake.startRotation(arn);
    // WHEN
    for (const step of STEPS) await handler(stepEvent(arn, token, step));
    // THEN
    const published = events(eventBridge);
    expect(published.map((e) => e.DetailType)).toEqual(['Secret Rotation Started', 'Secret Rotated']);
    for (const event of published) {
      expect(event).toMatchObject({
        EventBusName: 'rotation-bus',
        Source: 'secret-rotation',
        Resources: [arn],
      });
    }
    expect(published[0]?.detail).toEqual({
      secretArn: arn,
      kind: 'counter',
      strategy: 'test',
      versionId: token,
      previousVersionId: previous,
    });
    expect(published[1]?.detail).toMatchObject({
      secretArn: arn,
      kind: 'counter',
      strategy: 'test',
      versionId: token,
      previousVersionId: previous,
      replay: false,
    });
    expect(typeof published[1]?.detail.durationMs).toBe('number');
  });

  it('publishes Secret Rotation Failed with the step and the error class', async () => {
    // GIVEN
    const { fake, handler, arn, eventBridge, strategy } = setUp({ config: { eventBusName: 'rotation-bus' } });
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    strategy.failNext = { hook: 'set', error: new RangeError('port out of range') };
    // WHEN
    await expect(handler(stepEvent(arn, token, 'setSecret'))).rejects.toThrow(RotationStepError);
    // THEN
    const failed = events(eventBridge).find((e) => e.DetailType === 'Secret Rotation Failed');
    expect(failed?.detail).toEqual({
      secretArn: arn,
      kind: 'counter',
      strategy: 'test',
      step: 'setSecret',
      versionId: token,
      errorName: 'RangeError',
    });
  });

  it('fails finishSecret when Secret Rotated cannot be published, and publishes it again on the retry', async () => {
    // GIVEN
    const { fake, handler, arn, eventBridge } = setUp({ config: { eventBusName: 'rotation-bus' } });
    const token = fake.startRotation(arn);
    for (const step of ['createSecret', 'setSecret', 'testSecret'])
      await handler(stepEvent(arn, token, step));
    eventBridge.reset();
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-2' }] });
    // WHEN
    const first = handler(stepEvent(arn, token, 'finishSecret'));
    await expect(first).rejects.toThrow(EventPublishError);
    await handler(stepEvent(arn, token, 'finishSecret'));
    // THEN
    const rotated = events(eventBridge).filter((e) => e.DetailType === 'Secret Rotated');
    expect(rotated.map((e) => e.detail.replay)).toEqual([false, true]);
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
  });

  it('does not fail createSecret when Secret Rotation Started cannot be published', async () => {
    const { fake, handler, arn, eventBridge } = setUp({ config: { eventBusName: 'rotation-bus' } });
    eventBridge.on(PutEventsCommand).rejects(new Error('bus unavailable'));
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    expect(fake.versionOf(arn, 'AWSPENDING')).toBe(token);
  });
});

describe('metrics', () => {
  it('publishes RotationSucceeded and a StepDuration per step, by kind and strategy, never by secret', async () => {
    // GIVEN
    const { fake, handler, arn } = setUp();
    const token = fake.startRotation(arn);
    // WHEN
    for (const step of STEPS) await handler(stepEvent(arn, token, step));
    // THEN
    const blobs = emf();
    const durations = blobs.filter((blob) => 'StepDuration' in blob);
    expect(durations.map((blob) => blob.Step)).toEqual([...STEPS]);
    const succeeded = blobs.filter((blob) => 'RotationSucceeded' in blob);
    expect(succeeded).toHaveLength(1);
    expect(succeeded[0]).toMatchObject({ Kind: 'counter', Strategy: 'test', RotationSucceeded: 1 });
    for (const blob of blobs) {
      const meta = blob._aws as { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> };
      expect(meta.CloudWatchMetrics[0]?.Namespace).toBe('SecretRotation');
      const dimensions = meta.CloudWatchMetrics[0]?.Dimensions.flat() ?? [];
      expect(dimensions).toEqual(expect.arrayContaining(['Kind', 'Strategy']));
      expect(JSON.stringify(blob)).not.toContain(arn);
    }
  });

  it('publishes RotationFailed when a step fails', async () => {
    const { fake, handler, arn, strategy } = setUp();
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    strategy.failNext = { hook: 'set', error: new Error('boom') };
    await expect(handler(stepEvent(arn, token, 'setSecret'))).rejects.toThrow();
    const failed = emf().filter((blob) => 'RotationFailed' in blob);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ Kind: 'counter', Strategy: 'test', RotationFailed: 1 });
  });
});

describe('logs', () => {
  it('writes JSON lines keyed by secret, step and strategy, correlated by the token', async () => {
    const { fake, handler, arn } = setUp();
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    const lines = logLines();
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).toMatchObject({
        secretArn: arn,
        step: 'createSecret',
        token,
        kind: 'counter',
        strategy: 'test',
        correlation_id: token,
      });
    }
  });
});

describe('no secret value anywhere', () => {
  it('keeps every value out of every log line, event, metric and error of rotations that succeed and fail', async () => {
    // GIVEN a strategy whose failure message quotes the pending password, as careless drivers do
    const { fake, handler, arn, eventBridge, strategy } = setUp({ config: { eventBusName: 'rotation-bus' } });
    const errors: string[] = [];
    for (let i = 0; i < 3; i++) {
      const token = fake.startRotation(arn);
      for (const step of STEPS) await handler(stepEvent(arn, token, step));
    }
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    const pendingPassword = fake.valueOf<{ password: string }>(arn, 'AWSPENDING').password;
    strategy.failNext = {
      hook: 'set',
      error: new Error(`ALTER USER failed near 'PASSWORD ${pendingPassword}'`, {
        cause: new Error(`server said: bad password ${pendingPassword}`),
      }),
    };
    // WHEN
    try {
      await handler(stepEvent(arn, token, 'setSecret'));
    } catch (error) {
      // inspect() prints the whole cause chain, as a runtime or a caller logging the error would
      errors.push(String(error), (error as Error).message, (error as Error).stack ?? '', inspect(error));
    }
    // THEN
    const values = new Set<string>([INITIAL.password]);
    for (const version of fake.secret(arn).versions.values()) {
      if (version.secretString) {
        values.add(version.secretString);
        values.add((JSON.parse(version.secretString) as { password: string }).password);
      }
    }
    expect(values.size).toBeGreaterThanOrEqual(9);
    const published = eventBridge
      .commandCalls(PutEventsCommand)
      .map((call) => JSON.stringify(call.args[0].input));
    const everything = [...output, ...published, ...errors];
    expect(output.length).toBeGreaterThan(20);
    expect(published.length).toBeGreaterThan(6);
    expect(errors[1]).toContain('[REDACTED]');
    expect(errors[3]).toContain('server said: bad password [REDACTED]'); // the cause chain is kept, scrubbed
    for (const value of values) {
      for (const text of everything) expect(text).not.toContain(value);
    }
  });
});
