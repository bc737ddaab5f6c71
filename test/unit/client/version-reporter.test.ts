import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CONSUMER_REPORT_DETAIL_TYPE,
  CONSUMER_REPORT_SOURCE,
  VersionReporter,
  VersionReporterConfigurationError,
} from '../../../client/version-reporter';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-abc123';

function setUp() {
  const eventBridge = new EventBridgeClient({ region: 'us-east-1' });
  const mock = mockClient(eventBridge);
  mock.on(PutEventsCommand).callsFake((input) => ({
    FailedEntryCount: 0,
    Entries: input.Entries.map(() => ({ EventId: 'e' })),
  }));
  let clock = 1_000_000;
  const errors: unknown[] = [];
  const reporter = new VersionReporter({
    eventBridge,
    eventBusName: 'rotation',
    service: 'billing',
    instance: 'i-1',
    now: () => clock,
    onError: (error) => errors.push(error),
  });
  const details = () =>
    mock
      .commandCalls(PutEventsCommand)
      .flatMap((call) => call.args[0].input.Entries ?? [])
      .map((entry) => ({ ...entry, Detail: JSON.parse(entry.Detail ?? '{}') }));
  return { mock, reporter, details, errors, advance: (ms: number) => (clock += ms) };
}

describe('VersionReporter', () => {
  it('reports start once, nothing for the same version again, and change with the time of first use', async () => {
    // GIVEN
    const { reporter, details, advance } = setUp();
    // WHEN
    reporter.observe(ARN, 'v1');
    reporter.observe(ARN, 'v1');
    advance(250);
    reporter.observe(ARN, 'v2');
    reporter.observe(ARN, 'v2');
    await reporter.flush();
    // THEN
    expect(
      details().map((e) => [
        e.Source,
        e.DetailType,
        e.Resources,
        e.Detail.reason,
        e.Detail.versionId,
        e.Detail.usedSince,
      ]),
    ).toEqual([
      [CONSUMER_REPORT_SOURCE, CONSUMER_REPORT_DETAIL_TYPE, [ARN], 'start', 'v1', 1_000_000],
      [CONSUMER_REPORT_SOURCE, CONSUMER_REPORT_DETAIL_TYPE, [ARN], 'change', 'v2', 1_000_250],
    ]);
    expect(details()[0]?.Detail).toEqual({
      secretArn: ARN,
      versionId: 'v1',
      service: 'billing',
      instance: 'i-1',
      reason: 'start',
      usedSince: 1_000_000,
      reportedAt: 1_000_000,
      heartbeatSeconds: 300,
    });
  });

  it('batches heartbeats of many secrets ten to a call, keeping each version and its first use', async () => {
    // GIVEN
    const { mock, reporter, details } = setUp();
    for (let i = 0; i < 23; i++) reporter.observe(`${ARN}-${i}`, `v${i}`);
    await reporter.flush();
    mock.resetHistory();
    // WHEN
    await reporter.heartbeat();
    // THEN
    expect(mock.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries?.length)).toEqual([
      10, 10, 3,
    ]);
    expect(new Set(details().map((e) => e.Detail.reason))).toEqual(new Set(['heartbeat']));
    expect(reporter.sent).toBe(46);
  });

  it('never fails the consumer when EventBridge fails, and reports the error', async () => {
    // GIVEN
    const { mock, reporter, errors } = setUp();
    mock.on(PutEventsCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
    // WHEN
    reporter.observe(ARN, 'v1');
    await reporter.stop();
    // THEN
    expect(errors.map((e) => (e as Error).name)).toEqual(['ThrottlingException']);
    expect(
      mock
        .commandCalls(PutEventsCommand)[0]
        ?.args[0].input.Entries?.map((e) => JSON.parse(e.Detail ?? '{}').reason),
    ).toEqual(['start', 'stop']);
  });

  it('sends heartbeats on its own once started, at a random point of the first interval and then every interval, until stopped', async () => {
    // GIVEN
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    const random = jest.spyOn(Math, 'random').mockReturnValue(0.5);
    try {
      const { mock, reporter, details } = setUp();
      reporter.observe(ARN, 'v1');
      await reporter.flush();
      mock.resetHistory();
      // WHEN
      reporter.start();
      await jest.advanceTimersByTimeAsync(150_000);
      await reporter.flush();
      const first = details().map((e) => e.Detail.reason);
      await jest.advanceTimersByTimeAsync(300_000);
      await reporter.flush();
      const second = details().map((e) => e.Detail.reason);
      await reporter.stop();
      await jest.advanceTimersByTimeAsync(900_000);
      // THEN
      expect(first).toEqual(['heartbeat']);
      expect(second).toEqual(['heartbeat', 'heartbeat']);
      expect(details().map((e) => e.Detail.reason)).toEqual(['heartbeat', 'heartbeat', 'stop']);
    } finally {
      random.mockRestore();
      jest.useRealTimers();
    }
  });

  it('refuses a heartbeat shorter than a minute, naming the option', () => {
    // GIVEN
    const eventBridge = new EventBridgeClient({ region: 'us-east-1' });
    // WHEN / THEN
    expect(
      () => new VersionReporter({ eventBridge, eventBusName: 'b', service: 's', heartbeatIntervalMs: 1000 }),
    ).toThrow(
      new VersionReporterConfigurationError(
        'VersionReporter: heartbeatIntervalMs must be an integer of at least 60000, got 1000',
      ),
    );
  });
});
