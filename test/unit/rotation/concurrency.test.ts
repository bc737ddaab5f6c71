import { Metrics } from '@aws-lambda-powertools/metrics';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { setUp, stepEvent } from './harness';

/** Names of the metrics the handlers added, StepDuration aside. */
function outcomeMetrics(spy: jest.SpyInstance): string[] {
  return spy.mock.calls.map((call) => String(call[0])).filter((name) => name !== 'StepDuration');
}

async function preparedForFinish() {
  const context = setUp({ config: { eventBusName: 'rotation-bus' } });
  const { fake, handler, arn } = context;
  const token = fake.startRotation(arn);
  for (const step of ['createSecret', 'setSecret', 'testSecret']) await handler(stepEvent(arn, token, step));
  fake.mock.resetHistory();
  context.eventBridge.resetHistory();
  return { ...context, token, before: fake.versionOf(arn, 'AWSCURRENT') };
}

function detailTypes(eventBridge: ReturnType<typeof setUp>['eventBridge']): string[] {
  return eventBridge
    .commandCalls(PutEventsCommand)
    .map((call) => call.args[0].input.Entries?.[0]?.DetailType ?? '');
}

describe('PROTOCOL "Concurrency": two finishSecret with the same token at once', () => {
  let addMetric: jest.SpyInstance;
  beforeEach(() => {
    addMetric = jest.spyOn(Metrics.prototype, 'addMetric');
  });
  afterEach(() => jest.restoreAllMocks());

  it('both succeed when both read the labels before either moves them, and neither reports a failure', async () => {
    // GIVEN two invocations that both see the token AWSPENDING and the old version AWSCURRENT
    const { fake, handler, arn, token, before, eventBridge } = await preparedForFinish();
    fake.barrier('DescribeSecret', 2);
    // WHEN
    const results = await Promise.allSettled([
      handler(stepEvent(arn, token, 'finishSecret')),
      handler(stepEvent(arn, token, 'finishSecret')),
    ]);
    // THEN
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(fake.stages(arn)[token]).toEqual(['AWSCURRENT', 'AWSPENDING']);
    expect(fake.versionOf(arn, 'AWSPREVIOUS')).toBe(before);
    expect(fake.mock.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(2);
    expect(outcomeMetrics(addMetric)).not.toContain('RotationFailed');
    expect(detailTypes(eventBridge)).not.toContain('Secret Rotation Failed');
  });

  it('both succeed when both send their move of AWSCURRENT before either lands', async () => {
    // GIVEN the label update of each invocation held until both have sent one
    const { fake, handler, arn, token, before, eventBridge } = await preparedForFinish();
    fake.barrier('UpdateSecretVersionStage', 2);
    // WHEN
    const results = await Promise.allSettled([
      handler(stepEvent(arn, token, 'finishSecret')),
      handler(stepEvent(arn, token, 'finishSecret')),
    ]);
    // THEN
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(fake.stages(arn)[token]).toEqual(['AWSCURRENT', 'AWSPENDING']);
    expect(fake.versionOf(arn, 'AWSPREVIOUS')).toBe(before);
    expect(outcomeMetrics(addMetric)).not.toContain('RotationFailed');
    expect(detailTypes(eventBridge)).not.toContain('Secret Rotation Failed');
  });
});
