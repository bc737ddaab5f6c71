/**
 * bench:consumer-tracking — consumer update latency (finishSecret to each consumer's first use of the new
 * version) and the percentage of consumers updated within one second, measured twice: by the consumers
 * themselves, and from the consumer tracker's own records (the latencies it computed from the reports, and
 * the percentage its sweep published). The two must agree.
 *
 * Against the local mode (moto): each consumer is a SecretCache fed by its own SQS queue subscribed to the
 * rotation bus (RotationQueuePoller), with a VersionReporter; `--deaf` of them get no queue and move only on
 * the cache's fallback refresh (`--fallback-ms`), the consumers that a broken subscription leaves behind.
 * Rotations are a new AWSCURRENT and our `Secret Rotated` event, as finishSecret does.
 * Usage: npm run bench:consumer-tracking -- [--consumers 20] [--deaf 2] [--rotations 3] [--fallback-ms 3000] [--json]
 */
import { randomUUID } from 'node:crypto';
import { PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { RotationQueuePoller } from '../client/events';
import { SecretCache } from '../client/secret-cache';
import { VersionReporter } from '../client/version-reporter';
import type { TrackerOutcome } from '../functions/consumer-tracker/tracker';
import { startLocalTracker } from '../local/consumer-tracker';
import { startMoto } from '../local/moto';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`--${name} must be a whole number, got ${args[i + 1]}`);
  return value;
};
const CONSUMERS = flag('consumers', 20);
const DEAF = flag('deaf', 2);
const ROTATIONS = flag('rotations', 3);
const FALLBACK_MS = flag('fallback-ms', 3000);
const JSON_OUTPUT = args.includes('--json');
const WINDOW_MS = 1000;
const READ_EVERY_MS = 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

interface Figures {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly withinWindowPercent: number;
}

function figures(latencies: readonly number[], percent?: number): Figures {
  return {
    samples: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: Math.max(...latencies),
    withinWindowPercent:
      percent ?? (100 * latencies.filter((l) => l <= WINDOW_MS).length) / Math.max(1, latencies.length),
  };
}

async function main() {
  if (DEAF > CONSUMERS) throw new Error('--deaf cannot exceed --consumers');
  const aws = await startMoto();
  const pollers: RotationQueuePoller[] = [];
  const reporters: VersionReporter[] = [];
  let running = true;
  const loops: Promise<void>[] = [];
  try {
    const tracker = await startLocalTracker(aws, { config: { lagBoundSeconds: 60, updateWindowSeconds: 1 } });
    const secrets = new SecretsManagerClient(aws.clientConfig);
    const sqs = new SQSClient(aws.clientConfig);
    const arn =
      (
        await secrets.send(
          new CreateSecretCommand({
            Name: `bench-${randomUUID().slice(0, 8)}`,
            SecretString: '{"apiKey":"bench-0"}',
          }),
        )
      ).ARN ?? '';

    /** Per consumer: version id -> when it first used it (its own record). */
    const firstUse: Array<Map<string, number>> = [];
    const caches: SecretCache[] = [];
    for (let i = 0; i < CONSUMERS; i++) {
      const deaf = i < DEAF;
      const reporter = new VersionReporter({
        eventBridge: tracker.eventBridge,
        eventBusName: tracker.busName,
        service: deaf ? 'bench-deaf' : 'bench',
        instance: `c${i}`,
      });
      reporters.push(reporter);
      const uses = new Map<string, number>();
      firstUse.push(uses);
      const cache = new SecretCache({
        client: new SecretsManagerClient(aws.clientConfig),
        // The deaf consumers move on the fallback only; the others would too, but their queue is faster.
        refreshIntervalMs: FALLBACK_MS,
        onVersion: (secretArn, versionId) => {
          if (!uses.has(versionId)) uses.set(versionId, Date.now());
          reporter.observe(secretArn, versionId);
        },
      });
      caches.push(cache);
      if (!deaf) {
        const name = `bench-c${i}-${randomUUID().slice(0, 6)}`;
        const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl ?? '';
        const queueArn =
          (
            await sqs.send(
              new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
            )
          ).Attributes?.QueueArn ?? '';
        await tracker.eventBridge.send(
          new PutRuleCommand({
            Name: name,
            EventBusName: tracker.busName,
            EventPattern: JSON.stringify({ source: ['secret-rotation'], resources: [arn] }),
          }),
        );
        await tracker.eventBridge.send(
          new PutTargetsCommand({
            Rule: name,
            EventBusName: tracker.busName,
            Targets: [{ Id: 'q', Arn: queueArn }],
          }),
        );
        const poller = new RotationQueuePoller({ cache, sqs, queueUrl, waitTimeSeconds: 1 });
        pollers.push(poller);
        poller.start();
      }
      // The consumer's own work: it reads the secret all the time (each read is a "use").
      loops.push(
        (async () => {
          while (running) {
            await cache.current(arn).catch(() => undefined);
            await sleep(READ_EVERY_MS);
          }
        })(),
      );
    }
    await sleep(500);
    await Promise.all(reporters.map((r) => r.flush()));
    await tracker.pump();

    const consumerLatencies: number[] = [];
    const trackerLatencies: number[] = [];
    const consumerPercents: number[] = [];
    const trackerPercents: number[] = [];
    let lost = 0;
    for (let rotation = 1; rotation <= ROTATIONS; rotation++) {
      const put = await secrets.send(
        new PutSecretValueCommand({
          SecretId: arn,
          SecretString: JSON.stringify({ apiKey: `bench-${rotation}` }),
        }),
      );
      const versionId = put.VersionId ?? '';
      const finishedAt = Date.now();
      await tracker.eventBridge.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: tracker.busName,
              Source: 'secret-rotation',
              DetailType: 'Secret Rotated',
              Resources: [arn],
              Detail: JSON.stringify({
                secretArn: arn,
                kind: 'api-key',
                strategy: 'bench',
                versionId,
                finishedAt,
                replay: false,
              }),
            },
          ],
        }),
      );
      // Until every consumer used the new version (the deaf ones after the fallback), bounded.
      const deadline = Date.now() + FALLBACK_MS + 10_000;
      while (firstUse.some((uses) => !uses.has(versionId)) && Date.now() < deadline) await sleep(50);
      await Promise.all(reporters.map((r) => r.flush()));
      const outcomes: TrackerOutcome[] = await tracker.pump();
      const fromConsumers = firstUse.flatMap((uses) => {
        const at = uses.get(versionId);
        return at === undefined ? [] : [Math.max(0, at - finishedAt)];
      });
      const fromTracker = outcomes.flatMap((o) =>
        o.kind === 'report' && o.latencyMs !== undefined ? [o.latencyMs] : [],
      );
      lost += fromConsumers.length - fromTracker.length;
      consumerLatencies.push(...fromConsumers);
      trackerLatencies.push(...fromTracker);
      consumerPercents.push((100 * fromConsumers.filter((l) => l <= WINDOW_MS).length) / CONSUMERS);
      const sweep = await tracker.sweep();
      const window =
        sweep.kind === 'sweep' ? sweep.result.windows.find((w) => w.versionId === versionId) : undefined;
      trackerPercents.push(window?.percent ?? Number.NaN);
    }
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
    const consumers = figures(consumerLatencies, mean(consumerPercents));
    const fromTracker = figures(trackerLatencies, mean(trackerPercents));
    const agree =
      consumers.samples === fromTracker.samples &&
      consumers.p50Ms === fromTracker.p50Ms &&
      consumers.p99Ms === fromTracker.p99Ms &&
      Math.abs(consumers.withinWindowPercent - fromTracker.withinWindowPercent) < 1e-9;
    const result = {
      consumers: CONSUMERS,
      deaf: DEAF,
      rotations: ROTATIONS,
      fallbackMs: FALLBACK_MS,
      windowMs: WINDOW_MS,
      fromConsumers: consumers,
      fromTracker,
      reportsLost: lost,
      agree,
    };
    if (JSON_OUTPUT) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      const rows = [
        ['measured by', 'samples', 'p50 ms', 'p99 ms', 'max ms', `% within ${WINDOW_MS / 1000} s`],
        ...(
          [
            ['consumers', consumers],
            ['tracker', fromTracker],
          ] as const
        ).map(([label, f]) => [
          label,
          String(f.samples),
          String(Math.round(f.p50Ms)),
          String(Math.round(f.p99Ms)),
          String(Math.round(f.maxMs)),
          f.withinWindowPercent.toFixed(1),
        ]),
      ];
      const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
      process.stdout.write(
        `Consumer update latency: ${CONSUMERS} consumers (${DEAF} without events, fallback ${FALLBACK_MS} ms), ${ROTATIONS} rotations\n\n`,
      );
      for (const row of rows)
        process.stdout.write(`${row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ')}\n`);
      process.stdout.write(`\nreports lost: ${lost}; the two measurements ${agree ? 'agree' : 'DISAGREE'}\n`);
    }
    if (!agree) process.exitCode = 1;
  } finally {
    running = false;
    await Promise.all(loops);
    await Promise.all(pollers.map((p) => p.stop()));
    await Promise.all(reporters.map((r) => r.stop()));
    await aws.stop();
  }
}

main().catch((error) => {
  process.stderr.write(
    `bench:consumer-tracking failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exit(1);
});
