import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import {
  createRotationHandler,
  loadRotationConfig,
  type RotationContext,
  type RotationStrategy,
  type SecretVersion,
} from '../../../functions/rotation';
import { type VersionReader, VersionReadMemo } from '../../../functions/rotation/read-memo';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { stepEvent } from './harness';

/** A reader that counts its reads and answers from a list of versions. */
function countingReader(versions: SecretVersion[]) {
  const calls: Array<[string, unknown]> = [];
  let failNext = false;
  const reader: VersionReader = {
    getVersion: async (secretId, selector) => {
      calls.push([secretId, selector]);
      if (failNext) {
        failNext = false;
        throw new Error('throttled');
      }
      return versions.find(
        (v) =>
          (!selector.versionId || v.versionId === selector.versionId) &&
          (!selector.stage || v.stages.includes(selector.stage)),
      );
    },
  };
  return { reader, calls, failOnce: () => (failNext = true) };
}

const CURRENT: SecretVersion = { versionId: 'v1', secretString: '{"n":1}', stages: ['AWSCURRENT'] };

describe('the read memo of one invocation', () => {
  it('reads the same secret and selector once, and answers the second read from the first', async () => {
    const { reader, calls } = countingReader([CURRENT]);
    const memo = new VersionReadMemo(reader);

    const [first, second] = await Promise.all([
      memo.getVersion('arn:s', { stage: 'AWSCURRENT' }),
      memo.getVersion('arn:s', { stage: 'AWSCURRENT' }),
    ]);
    const third = await memo.getVersion('arn:s', { stage: 'AWSCURRENT' });

    expect(calls).toHaveLength(1);
    expect(first).toEqual(CURRENT);
    expect(second).toBe(first);
    expect(third).toBe(first);
  });

  it('keeps other secrets, version ids and stages apart', async () => {
    const { reader, calls } = countingReader([CURRENT]);
    const memo = new VersionReadMemo(reader);

    await memo.getVersion('arn:s', { stage: 'AWSCURRENT' });
    await memo.getVersion('arn:other', { stage: 'AWSCURRENT' });
    await memo.getVersion('arn:s', { versionId: 'v1' });
    await memo.getVersion('arn:s', { versionId: 'v1', stage: 'AWSPENDING' });
    await memo.getVersion('arn:s', { stage: 'AWSPREVIOUS' });

    expect(calls).toHaveLength(5);
  });

  it('remembers "not found" too, until a write makes it forget', async () => {
    const { reader, calls } = countingReader([]);
    const memo = new VersionReadMemo(reader);

    expect(await memo.getVersion('arn:s', { stage: 'AWSPENDING' })).toBeUndefined();
    expect(await memo.getVersion('arn:s', { stage: 'AWSPENDING' })).toBeUndefined();
    memo.forget();
    await memo.getVersion('arn:s', { stage: 'AWSPENDING' });

    expect(calls).toHaveLength(2);
  });

  it('does not remember a failed read: the next one asks again', async () => {
    const { reader, calls, failOnce } = countingReader([CURRENT]);
    const memo = new VersionReadMemo(reader);
    failOnce();

    await expect(memo.getVersion('arn:s', { stage: 'AWSCURRENT' })).rejects.toThrow('throttled');
    await expect(memo.getVersion('arn:s', { stage: 'AWSCURRENT' })).resolves.toEqual(CURRENT);

    expect(calls).toHaveLength(2);
  });
});

/** A strategy whose test step reads AWSCURRENT and AWSPENDING twice each, as composed code can. */
class RereadingStrategy implements RotationStrategy {
  readonly kind = 'test';
  readonly name = 'rereading';
  readonly seen: string[] = [];

  async createPending(_context: RotationContext, current: SecretVersion): Promise<string> {
    return JSON.stringify({ from: current.versionId });
  }

  async set(context: RotationContext): Promise<void> {
    await context.secrets.current();
  }

  async test(context: RotationContext): Promise<void> {
    for (let i = 0; i < 2; i++) {
      this.seen.push((await context.secrets.current()).secretString);
      this.seen.push((await context.secrets.pending())?.secretString ?? 'none');
    }
  }
}

describe('reads in the rotation handler', () => {
  function setUp() {
    const fake = new FakeSecretsManager();
    const strategy = new RereadingStrategy();
    const arn = fake.createSecret('app/memo', { n: 1 }, { rotationEnabled: true });
    const handler = createRotationHandler({
      strategy,
      secretsManager: fake.client,
      config: loadRotationConfig({}),
    });
    return { fake, strategy, arn, handler };
  }
  const reads = (fake: FakeSecretsManager) => fake.mock.commandCalls(GetSecretValueCommand).length;

  it('makes each read once per invocation, however often the step asks', async () => {
    // prepare
    const { fake, strategy, arn, handler } = setUp();
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    fake.mock.resetHistory();

    // act
    await handler(stepEvent(arn, token, 'testSecret'));

    // assess: the protocol's AWSPENDING read and the strategy's two are one; AWSCURRENT is read once
    expect(reads(fake)).toBe(2);
    expect(strategy.seen).toHaveLength(4);
    expect(strategy.seen[0]).toBe(strategy.seen[2]);
    expect(strategy.seen[1]).toBe(strategy.seen[3]);
  });

  it('never carries a read from one invocation to the next', async () => {
    // prepare
    const { fake, arn, handler } = setUp();
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    fake.mock.resetHistory();

    // act: the same step twice, as a service retry does
    await handler(stepEvent(arn, token, 'testSecret'));
    await handler(stepEvent(arn, token, 'testSecret'));

    // assess
    expect(reads(fake)).toBe(4);
  });

  /** Starts and ends of GetSecretValue calls, in the order they happen. */
  function recordReads(fake: FakeSecretsManager): string[] {
    const log: string[] = [];
    const send = fake.client.send.bind(fake.client) as (command: unknown) => Promise<unknown>;
    jest.spyOn(fake.client, 'send').mockImplementation((async (command: unknown) => {
      const read = command instanceof GetSecretValueCommand;
      const label = read ? (command.input.VersionStage ?? 'version') : '';
      if (read) log.push(`start ${label}`);
      try {
        return await send(command);
      } finally {
        if (read) log.push(`end ${label}`);
      }
    }) as never);
    return log;
  }

  it('createSecret asks for AWSCURRENT and AWSPENDING at once, not one after the other', async () => {
    // prepare
    const { fake, arn, handler } = setUp();
    const token = fake.startRotation(arn);
    const log = recordReads(fake);

    // act
    await handler(stepEvent(arn, token, 'createSecret'));

    // assess: both reads started before either ended
    expect(log.slice(0, 2).sort()).toEqual(['start AWSCURRENT', 'start AWSPENDING']);
  });

  it('setSecret asks for AWSCURRENT while it reads AWSPENDING, and the strategy gets that one read', async () => {
    // prepare
    const { fake, arn, handler } = setUp();
    const token = fake.startRotation(arn);
    await handler(stepEvent(arn, token, 'createSecret'));
    const log = recordReads(fake);

    // act
    await handler(stepEvent(arn, token, 'setSecret'));

    // assess
    expect(log.slice(0, 2).sort()).toEqual(['start AWSCURRENT', 'start AWSPENDING']);
    expect(log.filter((entry) => entry.startsWith('start'))).toHaveLength(2);
  });

  it('reads again after a write of the same invocation', async () => {
    // prepare: createSecret reads AWSPENDING (absent), puts it; finishSecret of the same token follows
    const { fake, arn, handler } = setUp();
    const token = fake.startRotation(arn);

    // act
    await handler(stepEvent(arn, token, 'createSecret'));
    for (const step of ['setSecret', 'testSecret', 'finishSecret'])
      await handler(stepEvent(arn, token, step));

    // assess
    expect(fake.versionOf(arn, 'AWSCURRENT')).toBe(token);
  });
});
