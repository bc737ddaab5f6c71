import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeSecretCommand,
  ListSecretsCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import {
  minimumSeconds,
  QuotaPacer,
  quotaGroupOf,
  SECRETS_MANAGER_QUOTAS,
  UNLISTED_OPERATION_RATE,
} from '../../../cli/commands/quotas';
import type { FleetRotateJson } from '../../../cli/commands/rotate-fleet';
import { ACCOUNT_ARN, awsError, FUNCTION_ARN, run, V1 } from './harness';

const sm = mockClient(SecretsManagerClient);
let dir: string;

beforeEach(() => {
  sm.reset();
  dir = mkdtempSync(join(tmpdir(), 'fleet-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A simulated clock: sleepers wake in time order, and time jumps to the next wake-up when all are asleep. */
function simulatedClock(start = 0) {
  let t = start;
  const timers: Array<{ at: number; resolve: () => void }> = [];
  return {
    clock: {
      now: () => t,
      sleep: (ms: number) => new Promise<void>((resolve) => timers.push({ at: t + ms, resolve })),
    },
    stall: (ms: number) => {
      t += ms;
    },
    async runUntilIdle() {
      for (;;) {
        await flush();
        if (timers.length === 0) return;
        timers.sort((a, b) => a.at - b.at);
        const next = timers.shift() as { at: number; resolve: () => void };
        t = Math.max(t, next.at);
        next.resolve();
      }
    },
  };
}

/** A hand-moved clock: `sleep` moves it, so a pacer's waits are visible as time. */
function manualClock() {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
    at: () => t,
  };
}

describe('the quota pacer', () => {
  it('spaces writes 1/50 s apart, the combined PutSecretValue and UpdateSecretVersionStage quota', async () => {
    // GIVEN the documented quotas and a clock that only sleeping moves
    const clock = manualClock();
    const pacer = new QuotaPacer(SECRETS_MANAGER_QUOTAS, clock, UNLISTED_OPERATION_RATE, 1);
    // WHEN five writes of either operation go one after the other
    const times: number[] = [];
    for (const op of [
      'PutSecretValue',
      'UpdateSecretVersionStage',
      'PutSecretValue',
      'UpdateSecret',
      'PutSecretValue',
    ]) {
      await pacer.acquire(op);
      times.push(clock.at());
    }
    // THEN they share one bucket: 20 ms apart
    expect(times).toEqual([0, 20, 40, 60, 80]);
  });

  it('does not hold reads at the write rate: GetSecretValue and DescribeSecret have their own, far larger quotas', async () => {
    // GIVEN a write bucket busy for a second with 50 writes waiting
    const sim = simulatedClock();
    const pacer = new QuotaPacer(SECRETS_MANAGER_QUOTAS, sim.clock, UNLISTED_OPERATION_RATE, 1);
    const writes = Array.from({ length: 50 }, () => pacer.acquire('PutSecretValue'));
    // WHEN reads go meanwhile
    const reads: number[] = [];
    const read = (op: string) => pacer.acquire(op).then(() => reads.push(sim.clock.now()));
    const all = Promise.all([...writes, read('GetSecretValue'), read('DescribeSecret')]);
    await sim.runUntilIdle();
    await all;
    // THEN no read waited for the writes, which took their second
    expect(reads).toEqual([0, 0]);
    expect(pacer.waitedMs.write).toBeGreaterThan(0);
    expect(sim.clock.now()).toBe(980);
    expect(pacer.bucketOf('GetSecretValue').ratePerSecond).toBe(10_000);
    expect(pacer.bucketOf('DescribeSecret').ratePerSecond).toBe(40_000);
  });

  it('gives concurrent callers consecutive slots 1/rate apart, in the order they asked', async () => {
    // GIVEN
    const sim = simulatedClock(1000);
    const pacer = new QuotaPacer(
      { rotate: { ratePerSecond: 50, operations: ['RotateSecret'] } },
      sim.clock,
      UNLISTED_OPERATION_RATE,
      1,
    );
    // WHEN three callers ask at the same instant
    const sent: Array<[number, number]> = [];
    const all = Promise.all(
      [0, 1, 2].map((i) => pacer.acquire('RotateSecret').then(() => sent.push([i, sim.clock.now()]))),
    );
    await sim.runUntilIdle();
    await all;
    // THEN they leave in order, 20 ms apart
    expect(sent).toEqual([
      [0, 1000],
      [1, 1020],
      [2, 1040],
    ]);
    expect(pacer.sent.rotate).toBe(3);
  });

  it('keeps requests one interval apart when a stalled process wakes several reserved slots at once', async () => {
    // GIVEN one write sent at 0 and two more reserved for 20 and 40 ms
    const sim = simulatedClock();
    const pacer = new QuotaPacer(
      { write: { ratePerSecond: 50, operations: ['PutSecretValue'] } },
      sim.clock,
      UNLISTED_OPERATION_RATE,
      1,
    );
    const sent: number[] = [];
    const all = Promise.all(
      [0, 1, 2].map(() => pacer.acquire('PutSecretValue').then(() => sent.push(sim.clock.now()))),
    );
    await flush();
    // WHEN the process stalls until 100 ms, past both reserved slots
    sim.stall(100);
    await sim.runUntilIdle();
    await all;
    // THEN the two wake together but still leave 20 ms apart
    expect(sent).toEqual([0, 100, 120]);
  });

  it('with a bucket of two, lets a late request be followed at once, and never sends more than the bucket after a stall', async () => {
    // GIVEN the default bucket of two tokens, six writers, and a process that stalls until 200 ms
    const sim = simulatedClock();
    const pacer = new QuotaPacer({ write: { ratePerSecond: 50, operations: ['PutSecretValue'] } }, sim.clock);
    const sent: number[] = [];
    const all = Promise.all(
      Array.from({ length: 6 }, () => pacer.acquire('PutSecretValue').then(() => sent.push(sim.clock.now()))),
    );
    await flush();
    sim.stall(200);
    await sim.runUntilIdle();
    await all;
    // THEN two went at once at the start (the bucket was full), and after the stall two again, then one
    // every 20 ms: over any window, at most 2 + window/20 ms requests, what a bucket of two at 50/s accepts
    expect(sent).toEqual([0, 0, 200, 200, 220, 240]);
    for (let i = 0; i < sent.length; i++) {
      for (let j = i; j < sent.length; j++) {
        expect(j - i + 1).toBeLessThanOrEqual(2 + ((sent[j] as number) - (sent[i] as number)) / 20);
      }
    }
  });

  it('knows the documented groups, and the minimum a fleet takes is its writes over the write quota', () => {
    expect(quotaGroupOf('CancelRotateSecret')).toBe('rotate');
    expect(quotaGroupOf('UntagResource')).toBe('tag');
    expect(quotaGroupOf('BatchGetSecretValue')).toBe('batchGet');
    expect(quotaGroupOf('GetRandomPassword')).toBeUndefined();
    expect(minimumSeconds(1000, 2, 50)).toBe(40);
  });
});

/** A fleet on "AWS": every secret has a rotation function, and each RotateSecret finishes at the next poll. */
function givenFleet(
  secrets: Array<{ name: string; tags?: Record<string, string>; rotation?: boolean; failRotate?: boolean }>,
) {
  const tokens = new Map<string, string>();
  const rotateCalls: string[] = [];
  const arnOf = (name: string) => `${ACCOUNT_ARN}${name}-AbCdEf`;
  const describe = (name: string) => {
    const s = secrets.find((x) => x.name === name || arnOf(x.name) === name);
    if (!s) throw awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    const token = tokens.get(s.name);
    return {
      ARN: arnOf(s.name),
      Name: s.name,
      RotationEnabled: s.rotation !== false,
      ...(s.rotation !== false ? { RotationLambdaARN: FUNCTION_ARN } : {}),
      Tags: Object.entries(s.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
      VersionIdsToStages: token
        ? { [V1]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] }
        : { [V1]: ['AWSCURRENT'] },
    };
  };
  sm.on(ListSecretsCommand).callsFake(() => ({
    SecretList: secrets.map((s) => {
      const d = describe(s.name);
      return { ...d, SecretVersionsToStages: d.VersionIdsToStages };
    }),
  }));
  sm.on(DescribeSecretCommand).callsFake((input: { SecretId: string }) => describe(input.SecretId));
  sm.on(RotateSecretCommand).callsFake((input: { SecretId: string; ClientRequestToken: string }) => {
    const s = secrets.find((x) => arnOf(x.name) === input.SecretId);
    rotateCalls.push(s?.name ?? input.SecretId);
    if (s?.failRotate) throw awsError('InvalidRequestException', 'A previous rotation is not complete.');
    if (s) tokens.set(s.name, input.ClientRequestToken);
    return { ARN: input.SecretId, VersionId: input.ClientRequestToken };
  });
  return { rotateCalls, tokens };
}

describe('rotate a fleet (--all, --tag, --file)', () => {
  it('rotates only the secrets carrying the exact tag pair, not those whose key or value merely matches a filter', async () => {
    // GIVEN secrets tagged alike (ListSecrets' tag filters match keys and values separately, by prefix)
    const fleet = givenFleet([
      { name: 'a', tags: { team: 'payments' } },
      { name: 'b', tags: { team: 'payments-eu' } },
      { name: 'c', tags: { owner: 'payments', team: 'search' } },
      { name: 'd', tags: { team: 'payments' } },
    ]);
    // WHEN an operator rotates --tag team=payments
    const out = await run(['rotate', '--tag', 'team=payments', '--json']);
    // THEN exactly a and d rotated, and the report says so
    expect(out.code).toBe(0);
    expect(fleet.rotateCalls.sort()).toEqual(['a', 'd']);
    const report = JSON.parse(out.stdout) as FleetRotateJson;
    expect(report.counts).toMatchObject({ selected: 2, rotated: 2, failed: 0 });
    expect(report.secrets.map((s) => [s.secret, s.outcome, s.versionId])).toEqual([
      ['a', 'rotated', fleet.tokens.get('a')],
      ['d', 'rotated', fleet.tokens.get('d')],
    ]);
  });

  it('lists what would rotate with --dry-run and sends no RotateSecret', async () => {
    // GIVEN a fleet with one secret that has no rotation function
    const fleet = givenFleet([{ name: 'a' }, { name: 'norot', rotation: false }, { name: 'b' }]);
    // WHEN
    const out = await run(['rotate', '--all', '--dry-run']);
    // THEN a table with the plan, the minimum time, and nothing changed
    expect(out.code).toBe(0);
    expect(fleet.rotateCalls).toEqual([]);
    expect(out.stdout).toMatch(/a\s+would rotate/);
    expect(out.stdout).toMatch(/norot\s+skip\s+no rotation function is configured/);
    expect(out.stdout).toContain(
      'Dry run: 2 would rotate, 0 already rotated, 1 skipped, 0 would fail. Nothing was changed.',
    );
    expect(out.stdout).toContain('the write quota allows it in 0.1 s at best');
  });

  it('reports a secret whose rotation cannot start and still rotates the rest, exiting 1', async () => {
    // GIVEN a fleet whose second secret refuses RotateSecret
    const fleet = givenFleet([{ name: 'a' }, { name: 'bad', failRotate: true }, { name: 'c' }]);
    // WHEN
    const out = await run(['rotate', '--all', '--json', '--concurrency', '1']);
    // THEN all three were tried, two rotated, and the failure is named
    expect(fleet.rotateCalls).toEqual(['a', 'bad', 'c']);
    expect(out.code).toBe(1);
    const report = JSON.parse(out.stdout) as FleetRotateJson;
    expect(report.counts).toMatchObject({ rotated: 2, failed: 1 });
    expect(report.secrets[1]).toMatchObject({ secret: 'bad', outcome: 'failed' });
    expect(report.secrets[1]?.reason).toContain('A previous rotation is not complete');
    expect(out.stderr).toContain('1 of 3 secret(s) failed to rotate');
  });

  it('names a secret of --file that does not exist and rotates the others', async () => {
    const fleet = givenFleet([{ name: 'a' }, { name: 'b' }]);
    const list = join(dir, 'list.txt');
    writeFileSync(list, '# leaked on 2026-12-01\na\nghost\n\nb # the second\na\n');
    const out = await run(['rotate', '--file', list, '--json']);
    expect(out.code).toBe(1);
    expect(fleet.rotateCalls.sort()).toEqual(['a', 'b']);
    const report = JSON.parse(out.stdout) as FleetRotateJson;
    expect(report.secrets.find((s) => s.secret === 'ghost')).toMatchObject({
      outcome: 'failed',
      reason: 'not found',
    });
  });

  it('resumes from its journal: a second run skips what the first rotated and rotates only the rest', async () => {
    // GIVEN a first run that rotated a and b, then a third secret joined the selection
    const secrets = [{ name: 'a' }, { name: 'b' }];
    const fleet = givenFleet(secrets);
    const journal = join(dir, 'journal.jsonl');
    expect((await run(['rotate', '--all', '--journal', journal, '--json'])).code).toBe(0);
    secrets.push({ name: 'c' });
    fleet.rotateCalls.length = 0;
    // WHEN the same command runs again with the same journal
    const out = await run(['rotate', '--all', '--journal', journal, '--json']);
    // THEN only c is rotated; a and b are reported already rotated with their versions
    expect(out.code).toBe(0);
    expect(fleet.rotateCalls).toEqual(['c']);
    const report = JSON.parse(out.stdout) as FleetRotateJson;
    expect(report.counts).toMatchObject({ rotated: 1, 'already-rotated': 2 });
    const lines = readFileSync(journal, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string });
    expect(lines.filter((l) => l.event === 'started')).toHaveLength(3);
    expect(lines.filter((l) => l.event === 'rotated')).toHaveLength(3);
  });

  it('follows a rotation the interrupted run started instead of starting a second one', async () => {
    // GIVEN a journal that says the rotation of a started with token T, and T is AWSPENDING now
    const T = '99999999-9999-4999-8999-999999999999';
    const journal = join(dir, 'journal.jsonl');
    writeFileSync(
      journal,
      `${JSON.stringify({ arn: `${ACCOUNT_ARN}a-AbCdEf`, event: 'started', versionId: T, at: '2026-06-01T11:59:00Z' })}\n{"arn":`,
    );
    let polls = 0;
    sm.on(ListSecretsCommand).resolves({
      SecretList: [
        {
          ARN: `${ACCOUNT_ARN}a-AbCdEf`,
          Name: 'a',
          RotationEnabled: true,
          RotationLambdaARN: FUNCTION_ARN,
          SecretVersionsToStages: { [V1]: ['AWSCURRENT'], [T]: ['AWSPENDING'] },
        },
      ],
    });
    sm.on(DescribeSecretCommand).callsFake(() => {
      polls++;
      return {
        ARN: `${ACCOUNT_ARN}a-AbCdEf`,
        Name: 'a',
        VersionIdsToStages:
          polls < 3
            ? { [V1]: ['AWSCURRENT'], [T]: ['AWSPENDING'] }
            : { [V1]: ['AWSPREVIOUS'], [T]: ['AWSCURRENT'] },
      };
    });
    // WHEN the run resumes (the last, half-written line of the crash is ignored)
    const out = await run(['rotate', '--all', '--journal', journal, '--json']);
    // THEN no RotateSecret, and T is reported rotated
    expect(out.code).toBe(0);
    expect(sm.commandCalls(RotateSecretCommand)).toHaveLength(0);
    const report = JSON.parse(out.stdout) as FleetRotateJson;
    expect(report.secrets[0]).toMatchObject({ outcome: 'rotated', versionId: T });
  });

  it('paces for the 2 writes a rotation makes by default (PutSecretValue, UpdateSecretVersionStage): 25/s', async () => {
    // GIVEN ten secrets; finishSecret leaves AWSPENDING on AWSCURRENT (RotateSecret API reference), so a
    // rotation writes twice: 50 writes/s allow 25 rotations/s
    givenFleet(Array.from({ length: 10 }, (_, i) => ({ name: `s${i}` })));
    // WHEN
    const out = await run(['rotate', '--all', '--dry-run', '--json']);
    // THEN
    const report = JSON.parse(out.stdout) as FleetRotateJson;
    expect(report.pacing).toMatchObject({
      writesPerSecond: 50,
      writesPerRotation: 2,
      rotationsPerSecond: 25,
    });
    expect(report.minimumSeconds).toBe(0.4);
  });

  it('starts rotations no faster than the write quota allows for the writes each makes', async () => {
    // GIVEN ten secrets, and functions making 2 writes a rotation (the default): 25 rotations/s at most
    givenFleet(Array.from({ length: 10 }, (_, i) => ({ name: `s${i}` })));
    const starts: number[] = [];
    let t = Date.parse('2026-06-01T12:00:00Z');
    sm.on(RotateSecretCommand).callsFake((input: { ClientRequestToken: string }) => {
      starts.push(t);
      return { VersionId: input.ClientRequestToken };
    });
    // WHEN the fleet rotates on a clock that moves only when the CLI waits
    await run(['rotate', '--all', '--json', '--concurrency', '1'], {
      now: () => new Date(t),
      sleep: async (ms) => {
        t += ms;
      },
    });
    // THEN consecutive starts are at least 40 ms apart
    const gaps = starts.slice(1).map((s, i) => s - (starts[i] as number));
    expect(starts).toHaveLength(10);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(40);
  });

  it('refuses --all with a secret, two selectors at once, a bad tag, and fleet options for one secret', async () => {
    for (const [argv, message] of [
      [['rotate', 'x', '--all'], "a <secret> and --all/--tag/--file cannot be combined, got 'x'"],
      [['rotate', '--all', '--tag', 'a=b'], 'choose one of --all, --tag and --file'],
      [['rotate', '--tag', 'nokey'], "--tag must be KEY=VALUE, got 'nokey'"],
      [
        ['rotate', 'x', '--dry-run'],
        '--dry-run applies to a fleet (--all, --tag or --file), not to one secret',
      ],
      [['rotate', '--all', '--quota-share', '2'], "--quota-share must be a fraction in (0, 1], got '2'"],
      [['rotate'], 'rotate: missing <secret>'],
    ] as const) {
      const out = await run(argv);
      expect(out.code).toBe(2);
      expect(out.stderr).toContain(message);
    }
    expect(sm.calls()).toHaveLength(0);
  });
});
