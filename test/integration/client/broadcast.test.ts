import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  CreateTopicCommand,
  ListSubscriptionsByTopicCommand,
  PublishCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import { ListQueuesCommand, SQSClient, TagQueueCommand } from '@aws-sdk/client-sqs';
import { BROADCAST_TAGS, RotationBroadcastSubscriber, SecretCache } from '../../../client/index';
import { type LocalAws, motoAvailable, startMoto } from '../../../local/moto';

const describeIfMoto = motoAvailable() ? describe : describe.skip;

/** Waits until `condition` holds; the test's own timeout bounds it. */
async function until(condition: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 20));
}

describeIfMoto('the rotation broadcast against moto (issue 15, finding 1)', () => {
  let aws: LocalAws;
  let sqs: SQSClient;
  let sns: SNSClient;
  let secrets: SecretsManagerClient;
  let counter = 0;

  beforeAll(async () => {
    aws = await startMoto();
    sqs = new SQSClient(aws.clientConfig);
    sns = new SNSClient(aws.clientConfig);
    secrets = new SecretsManagerClient(aws.clientConfig);
  }, 60_000);

  afterAll(async () => {
    await aws?.stop();
  });

  async function fleet(replicas: number, minSyncIntervalMs?: number) {
    const id = ++counter;
    const topicArn = (await sns.send(new CreateTopicCommand({ Name: `broadcast-${id}` }))).TopicArn as string;
    const secret = await secrets.send(
      new CreateSecretCommand({ Name: `svc/${id}`, SecretString: JSON.stringify({ apiKey: 'v0-key' }) }),
    );
    const arn = secret.ARN as string;
    const members = Array.from({ length: replicas }, (_, i) => {
      const cache = new SecretCache({ client: secrets });
      const subscriber = new RotationBroadcastSubscriber({
        cache,
        sqs,
        sns,
        topicArn,
        queueNamePrefix: `orders-${id}-`,
        replicaId: `replica-${i}`,
        waitTimeSeconds: 1,
        ...(minSyncIntervalMs !== undefined ? { minSyncIntervalMs } : {}),
      });
      return { cache, subscriber };
    });
    /** A rotation: the new version becomes AWSCURRENT, and its event goes to the topic as the rule sends it. */
    const rotate = async (n: number) => {
      const put = await secrets.send(
        new PutSecretValueCommand({ SecretId: arn, SecretString: JSON.stringify({ apiKey: `v${n}-key` }) }),
      );
      const event = {
        version: '0',
        source: 'secret-rotation',
        'detail-type': 'Secret Rotated',
        resources: [arn],
        detail: { secretArn: arn, versionId: put.VersionId },
      };
      await sns.send(new PublishCommand({ TopicArn: topicArn, Message: JSON.stringify(event) }));
      return put.VersionId as string;
    };
    const queues = async () =>
      (await sqs.send(new ListQueuesCommand({ QueueNamePrefix: `orders-${id}-` }))).QueueUrls ?? [];
    const subscriptions = async () =>
      (await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }))).Subscriptions ?? [];
    return { arn, topicArn, members, rotate, queues, subscriptions };
  }

  it('delivers each of three rotations to every one of three replicas, which then read the new version', async () => {
    // GIVEN three replicas of one service, each subscribed and holding the current version
    const { arn, members, rotate, queues, subscriptions } = await fleet(3);
    for (const { cache, subscriber } of members) {
      await subscriber.start();
      await cache.current(arn);
    }
    expect(await queues()).toHaveLength(3);
    expect(await subscriptions()).toHaveLength(3);
    // WHEN three rotations happen
    for (let n = 1; n <= 3; n++) {
      const versionId = await rotate(n);
      // THEN every replica learns of it and reads the new version, with one fetch per rotation
      for (const { cache } of members) {
        await until(async () => (await cache.current(arn)).versionId === versionId);
      }
    }
    for (const { cache, subscriber } of members) {
      expect(subscriber.received).toBe(3);
      expect(cache.fetches).toBe(4);
    }
    // AND stopping removes every queue and subscription
    await Promise.all(members.map((m) => m.subscriber.stop()));
    expect(await queues()).toEqual([]);
    expect(await subscriptions()).toEqual([]);
  }, 60_000);

  it('sweeps the queue and subscription of a replica that died, and spares the living', async () => {
    // GIVEN two replicas; one dies without stop() (its heartbeat tag is left to age)
    const { members, queues, subscriptions } = await fleet(2);
    const [alive, dead] = members as [(typeof members)[0], (typeof members)[0]];
    await alive.subscriber.start();
    await dead.subscriber.pollOnce(1);
    await sqs.send(
      new TagQueueCommand({
        QueueUrl: dead.subscriber.queueUrl,
        Tags: { [BROADCAST_TAGS.heartbeat]: new Date(Date.now() - 3_600_000).toISOString() },
      }),
    );
    // WHEN the living replica sweeps
    const swept = await alive.subscriber.sweep();
    // THEN only the dead replica's queue and subscription are gone
    expect(swept).toBe(1);
    expect(await queues()).toEqual([alive.subscriber.queueUrl]);
    expect(await subscriptions()).toHaveLength(1);
    await alive.subscriber.stop();
  }, 60_000);

  it('recreates a queue that was swept while its replica was frozen, and re-reads the secret', async () => {
    const { arn, members, rotate, queues } = await fleet(2);
    const { cache, subscriber } = members[0]!;
    const sweeper = members[1]!.subscriber;
    await subscriber.pollOnce(1);
    await sweeper.pollOnce(1);
    await cache.current(arn);
    // the replica is frozen past the heartbeat threshold and another replica sweeps its queue away
    await sqs.send(
      new TagQueueCommand({
        QueueUrl: subscriber.queueUrl,
        Tags: { [BROADCAST_TAGS.heartbeat]: new Date(Date.now() - 3_600_000).toISOString() },
      }),
    );
    expect(await sweeper.sweep()).toBe(1);
    expect(await queues()).toHaveLength(1);
    // and a rotation happens meanwhile
    const versionId = await rotate(1);
    // WHEN the replica polls again
    await subscriber.pollOnce(1);
    // THEN its queue is back and the cache reads the new version (the lost event is made up for)
    expect(subscriber.queueUrl).toBeDefined();
    expect(await queues()).toHaveLength(2);
    expect((await cache.current(arn)).versionId).toBe(versionId);
    await Promise.all([subscriber.stop(), sweeper.stop()]);
  }, 60_000);

  it('Lambda: a warm environment catches up at its next invocation with syncIfDue, on events sent while it was frozen', async () => {
    // GIVEN two warm environments of one function, each having synced once (which made its queue)
    const { arn, members, rotate } = await fleet(2, 0);
    for (const { cache, subscriber } of members) {
      await subscriber.syncIfDue();
      await cache.current(arn);
    }
    // WHEN a rotation happens while both are frozen (no code runs), then each is invoked
    const versionId = await rotate(1);
    await until(async () => {
      for (const { subscriber } of members) await subscriber.syncIfDue();
      return members.every((m) => m.subscriber.received === 1);
    });
    // THEN both read the new version
    for (const { cache } of members) expect((await cache.current(arn)).versionId).toBe(versionId);
    await Promise.all(members.map((m) => m.subscriber.stop()));
  }, 60_000);
});
