import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { RotationBroadcastSubscriber, RotationQueuePoller, SecretCache } from '../../../client/index';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';

/**
 * An SQS client whose long poll answers only when aborted, as a 20 s `ReceiveMessage` with nothing to
 * deliver behaves; every other call answers at once.
 */
function hangingSqs() {
  const calls: string[] = [];
  let aborted = 0;
  const client = {
    send: (command: { constructor: { name: string } }, options?: { abortSignal?: AbortSignal }) => {
      const name = command.constructor.name;
      calls.push(name);
      if (name === 'ReceiveMessageCommand') {
        return new Promise((_resolve, reject) => {
          options?.abortSignal?.addEventListener('abort', () => {
            aborted++;
            reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
          });
        });
      }
      if (name === 'CreateQueueCommand') return Promise.resolve({ QueueUrl: 'https://sqs/q' });
      if (name === 'GetQueueAttributesCommand')
        return Promise.resolve({ Attributes: { QueueArn: 'arn:aws:sqs:us-east-1:1:q' } });
      if (name === 'ListQueuesCommand') return Promise.resolve({ QueueUrls: [] });
      return Promise.resolve({});
    },
  };
  return { client: client as unknown as SQSClient, calls, aborted: () => aborted };
}

const sns = {
  send: async (command: { constructor: { name: string } }) =>
    command.constructor.name === 'SubscribeCommand' ? { SubscriptionArn: 'arn:aws:sns:us-east-1:1:t:s' } : {},
} as unknown as SNSClient;

describe('stopping a poller (issue 15, finding 4)', () => {
  it('RotationQueuePoller.stop() aborts the long poll instead of waiting it out', async () => {
    // GIVEN a poller in a 20 s long poll
    const sqs = hangingSqs();
    const cache = new SecretCache({ client: new FakeSecretsManager().client });
    const errors: unknown[] = [];
    const poller = new RotationQueuePoller({
      cache,
      sqs: sqs.client,
      queueUrl: 'https://sqs/q',
      onError: (error) => errors.push(error),
    });
    poller.start();
    await new Promise((resolve) => setImmediate(resolve));
    // WHEN it is stopped; THEN stop() resolves though the poll would never answer, and no error is reported
    await poller.stop();
    expect(sqs.aborted()).toBe(1);
    expect(errors).toEqual([]);
  });

  it('RotationBroadcastSubscriber.stop() aborts the long poll, then unsubscribes and deletes its queue', async () => {
    const sqs = hangingSqs();
    const errors: unknown[] = [];
    const subscriber = new RotationBroadcastSubscriber({
      cache: new SecretCache({ client: new FakeSecretsManager().client }),
      sqs: sqs.client,
      sns,
      topicArn: 'arn:aws:sns:us-east-1:1:t',
      queueNamePrefix: 'svc-',
      replicaId: 'r1',
      onError: (error) => errors.push(error),
    });
    await subscriber.start();
    await new Promise((resolve) => setImmediate(resolve));
    await subscriber.stop();
    expect(sqs.aborted()).toBe(1);
    expect(sqs.calls).toContain('DeleteQueueCommand');
    expect(errors).toEqual([]);
  });

  it('Lambda: syncIfDue() never fails an invocation when SQS is unreachable, and reports the error', async () => {
    const unreachable = {
      send: async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' })),
    } as unknown as SQSClient;
    const errors: unknown[] = [];
    const subscriber = new RotationBroadcastSubscriber({
      cache: new SecretCache({ client: new FakeSecretsManager().client }),
      sqs: unreachable,
      sns,
      topicArn: 'arn:aws:sns:us-east-1:1:t',
      queueNamePrefix: 'fn-',
      minSyncIntervalMs: 0,
      onError: (error) => errors.push(error),
    });
    await expect(subscriber.syncIfDue()).resolves.toBe(0);
    await expect(subscriber.syncIfDue()).resolves.toBe(0);
    expect(errors).toHaveLength(2);
  });

  it('refuses a queue name prefix or replica id that SQS would refuse, naming the option', () => {
    const base = {
      cache: new SecretCache({ client: new FakeSecretsManager().client }),
      sqs: hangingSqs().client,
      sns,
      topicArn: 'arn:aws:sns:us-east-1:1:t',
    };
    expect(() => new RotationBroadcastSubscriber({ ...base, queueNamePrefix: 'svc.' })).toThrow(
      /queueNamePrefix/,
    );
    expect(
      () => new RotationBroadcastSubscriber({ ...base, queueNamePrefix: 'svc-', replicaId: 'a/b' }),
    ).toThrow(/replicaId/);
    expect(
      () => new RotationBroadcastSubscriber({ ...base, queueNamePrefix: 'svc-', waitTimeSeconds: 30 }),
    ).toThrow(/waitTimeSeconds/);
  });
});
