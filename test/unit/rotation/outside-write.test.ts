import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutSecretValueCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { createDatabaseHandler } from '../../../functions/database/create-handler';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { FakeEngine } from '../database/fake-engine';

const INITIAL = {
  engine: 'postgres',
  host: 'db.internal',
  port: 5432,
  username: 'app',
  password: 'initial-Pa55word-value',
  dbname: 'app',
};

function setUp() {
  const fake = new FakeSecretsManager();
  const engine = new FakeEngine();
  engine.users.set('app', INITIAL.password);
  const eventBridgeClient = new EventBridgeClient({ region: 'us-east-1' });
  const eventBridge = mockClient(eventBridgeClient);
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  const handler = createDatabaseHandler({
    secretsManager: fake.client,
    eventBridge: eventBridgeClient,
    env: { ROTATION_STRATEGY: 'single-user', DB_CONNECT_ATTEMPTS: '2', EVENT_BUS_NAME: 'rotation-bus' },
    engineFor: () => engine,
    sleep: async () => {},
  });
  const arn = fake.createSecret('app/db', INITIAL);
  const run = (token: string, Step: string) => handler({ SecretId: arn, ClientRequestToken: token, Step });
  /** Whether the value at `stage` logs in at the database. */
  const logsIn = (stage = 'AWSCURRENT') => {
    const value = fake.valueOf<{ username: string; password: string }>(arn, stage);
    return engine.users.get(value.username) === value.password;
  };
  const followUps = () =>
    eventBridge
      .commandCalls(PutEventsCommand)
      .map((call) => call.args[0].input.Entries?.[0])
      .filter((entry) => entry?.DetailType === 'Secret Rotation Follow-up')
      .map((entry) => JSON.parse(entry?.Detail ?? '{}') as Record<string, unknown>);
  return { fake, engine, arn, run, logsIn, followUps };
}

/** A rotation up to and including setSecret: the database now accepts only the pending password. */
async function afterSetSecret(s: ReturnType<typeof setUp>): Promise<string> {
  const token = s.fake.startRotation(s.arn);
  await s.run(token, 'createSecret');
  await s.run(token, 'setSecret');
  expect(s.logsIn()).toBe(false);
  expect(s.logsIn('AWSPENDING')).toBe(true);
  return token;
}

describe('an outside write during a single-user rotation (finding 13)', () => {
  it('keeps an operator edit that became AWSCURRENT, with the new password, so AWSCURRENT logs in', async () => {
    // GIVEN an operator adds a field between setSecret and testSecret; the rotation keeps its AWSPENDING
    const s = setUp();
    const token = await afterSetSecret(s);
    const edit = s.fake.putFromOutside(s.arn, { ...INITIAL, proxy: 'proxy.internal' }, { keepPending: true });
    // WHEN the rotation goes on
    await s.run(token, 'testSecret');
    await s.run(token, 'finishSecret');
    // THEN AWSCURRENT holds the operator's field and logs in, and an event says what happened
    expect(s.fake.valueOf(s.arn)).toMatchObject({ proxy: 'proxy.internal' });
    expect(s.logsIn()).toBe(true);
    expect(s.fake.versionOf(s.arn, 'AWSPREVIOUS')).toBe(edit);
    expect(s.fake.versionOf(s.arn, 'AWSPENDING')).toBeUndefined();
    expect(s.followUps()).toContainEqual(
      expect.objectContaining({
        action: 'outside-write-reconciled',
        outsideVersionId: edit,
        keptFields: ['proxy'],
      }),
    );
    expect(JSON.stringify(s.followUps())).not.toContain(s.fake.valueOf<{ password: string }>(s.arn).password);
  });

  it('PROTOCOL "Concurrency": a second finishSecret after the reconciliation succeeds and writes nothing', async () => {
    // GIVEN a reconciled outside write
    const s = setUp();
    const token = await afterSetSecret(s);
    s.fake.putFromOutside(s.arn, { ...INITIAL, proxy: 'proxy.internal' }, { keepPending: true });
    await s.run(token, 'testSecret');
    await s.run(token, 'finishSecret');
    const stages = s.fake.stages(s.arn);
    s.fake.mock.resetHistory();
    // WHEN a duplicate invocation arrives
    await s.run(token, 'finishSecret');
    // THEN
    expect(s.fake.stages(s.arn)).toEqual(stages);
    expect(s.fake.mock).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(s.fake.mock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
  });

  it('converges when finishSecret is retried after a crash between putting the reconciled value and clearing AWSPENDING', async () => {
    // GIVEN
    const s = setUp();
    const token = await afterSetSecret(s);
    s.fake.putFromOutside(s.arn, { ...INITIAL, proxy: 'proxy.internal' }, { keepPending: true });
    await s.run(token, 'testSecret');
    s.fake.mock.on(UpdateSecretVersionStageCommand).rejectsOnce(new Error('the function died'));
    await expect(s.run(token, 'finishSecret')).rejects.toThrow();
    const reconciled = s.fake.versionOf(s.arn, 'AWSCURRENT');
    s.fake.mock
      .on(UpdateSecretVersionStageCommand)
      .callsFake((input) => (s.fake as unknown as { updateStage(i: unknown): unknown }).updateStage(input));
    s.fake.mock.resetHistory();
    // WHEN the service retries
    await s.run(token, 'finishSecret');
    // THEN nothing is put twice, AWSCURRENT logs in and AWSPENDING is gone
    expect(s.fake.mock).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(s.fake.versionOf(s.arn, 'AWSCURRENT')).toBe(reconciled);
    expect(s.logsIn()).toBe(true);
    expect(s.fake.versionOf(s.arn, 'AWSPENDING')).toBeUndefined();
  });

  it('fails loudly, moving nothing, when the edit names another server, and says what to do', async () => {
    // GIVEN
    const s = setUp();
    const token = await afterSetSecret(s);
    const edit = s.fake.putFromOutside(s.arn, { ...INITIAL, host: 'db2.internal' }, { keepPending: true });
    // WHEN / THEN
    await expect(s.run(token, 'finishSecret')).rejects.toThrow(
      /changes host: .*Nothing was moved\. Either put your edit again with the password from AWSPENDING/,
    );
    expect(s.fake.versionOf(s.arn, 'AWSCURRENT')).toBe(edit);
    expect(s.fake.versionOf(s.arn, 'AWSPENDING')).toBe(token);
  });

  it('after an outside AWSPENDING, the next rotation finds the working password in the version that lost its label', async () => {
    // GIVEN another version is staged AWSPENDING after setSecret changed the password
    const s = setUp();
    const token = await afterSetSecret(s);
    const outside = '00000000-0000-4000-8000-00000000aaaa';
    await s.fake.client.send(
      new PutSecretValueCommand({
        SecretId: s.arn,
        ClientRequestToken: outside,
        SecretString: JSON.stringify({ ...INITIAL, password: 'someone-elses-value-1' }),
        VersionStages: ['AWSPENDING'],
      }),
    );
    await expect(s.run(token, 'testSecret')).rejects.toThrow(/the next rotation, which finds them there/);
    expect(s.logsIn()).toBe(false);
    // ... and the operator clears it
    await s.fake.client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: s.arn,
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: outside,
      }),
    );
    // WHEN the next rotation runs
    const next = s.fake.startRotation(s.arn);
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await s.run(next, step);
    // THEN it recovered through the unlabelled version, and AWSCURRENT logs in again
    expect(s.fake.versionOf(s.arn, 'AWSCURRENT')).toBe(next);
    expect(s.logsIn()).toBe(true);
  });

  it('after an outside write that strips AWSPENDING, the next rotation recovers and keeps the written field', async () => {
    // GIVEN
    const s = setUp();
    const token = await afterSetSecret(s);
    s.fake.putFromOutside(s.arn, { ...INITIAL, proxy: 'proxy.internal' });
    await expect(s.run(token, 'testSecret')).rejects.toThrow('lost its labels to a write from outside');
    // WHEN
    const next = s.fake.startRotation(s.arn);
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await s.run(next, step);
    // THEN
    expect(s.logsIn()).toBe(true);
    expect(s.fake.valueOf(s.arn)).toMatchObject({ proxy: 'proxy.internal' });
  });

  it('never tries an unlabelled version of another user', async () => {
    // GIVEN the only unlabelled version names another account whose password it holds
    const s = setUp();
    s.engine.users.set('other', 'other-Pa55word-value');
    const token = s.fake.startRotation(s.arn);
    await s.run(token, 'createSecret');
    s.engine.users.set('app', 'changed-behind-our-back-1');
    const stray = '00000000-0000-4000-8000-00000000bbbb';
    await s.fake.client.send(
      new PutSecretValueCommand({
        SecretId: s.arn,
        ClientRequestToken: stray,
        SecretString: JSON.stringify({ ...INITIAL, username: 'other', password: 'other-Pa55word-value' }),
        VersionStages: ['STRAY'],
      }),
    );
    await s.fake.client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: s.arn,
        VersionStage: 'STRAY',
        RemoveFromVersionId: stray,
      }),
    );
    // WHEN / THEN
    await expect(s.run(token, 'setSecret')).rejects.toThrow("refused the credentials of user 'app'");
    expect(s.engine.intents).toEqual([]);
  });
});
