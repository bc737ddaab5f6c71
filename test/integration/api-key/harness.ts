import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { SecretCache } from '../../../client/secret-cache';

/** A clock the tests move: grace periods pass without waiting. */
export class Clock {
  /** Whole seconds: deadlines are recorded to the second, rounded up. */
  ms = Math.floor(Date.now() / 1000) * 1000;
  readonly now = () => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/**
 * An EventBridge client whose PutEvents delivers each event at once to consumers' caches, as the rotation bus
 * with a subscription would, and records it.
 */
export function eventBus(...caches: SecretCache[]) {
  const client = new EventBridgeClient({ region: 'us-east-1' });
  const published: Array<{ detailType: string; detail: Record<string, unknown>; raw: string }> = [];
  mockClient(client)
    .on(PutEventsCommand)
    .callsFake((input) => {
      for (const entry of input.Entries ?? []) {
        const detail = JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>;
        published.push({ detailType: entry.DetailType ?? '', detail, raw: JSON.stringify(entry) });
        for (const cache of caches) {
          cache.handleEvent({
            source: entry.Source,
            'detail-type': entry.DetailType,
            resources: entry.Resources,
            detail,
          });
        }
      }
      return { FailedEntryCount: 0, Entries: [{ EventId: 'e' }] };
    });
  return { client, published };
}

/** What RotationEvents forwards of CloudTrail when a staging label moves (here: AWSPREVIOUS removed). */
export function labelEvent(secretArn: string) {
  return {
    source: 'aws.secretsmanager',
    'detail-type': 'AWS API Call via CloudTrail',
    detail: { eventName: 'UpdateSecretVersionStage', requestParameters: { secretId: secretArn } },
  };
}

/** Callers making requests in a loop until stopped. */
export function startWorkload(request: () => Promise<Response>, callers = 3) {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const loops = Array.from({ length: callers }, async () => {
    while (running) {
      try {
        const response = await request();
        if (response.status === 200) ok++;
        else failures.push(`HTTP ${response.status}`);
        await response.body?.cancel();
      } catch (error) {
        failures.push(`${(error as Error).name}: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { ok, failures };
    },
  };
}

/** Creates a secret in moto; returns its ARN. */
export async function createSecret(
  client: SecretsManagerClient,
  name: string,
  value: object,
): Promise<string> {
  const out = await client.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value) }));
  return out.ARN ?? name;
}

let counter = 0;
/** A secret name unique in this moto server. */
export function uniqueName(prefix: string): string {
  return `${prefix}/${process.pid}-${++counter}`;
}
