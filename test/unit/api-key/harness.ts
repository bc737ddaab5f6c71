import { randomBytes } from 'node:crypto';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DescribeSecretCommand,
  PutSecretValueCommand,
  SecretsManagerServiceException,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { RevokeOutcome } from '../../../functions/api-key/constants';
import { type ApiKeyHandler, createApiKeyHandler } from '../../../functions/api-key/create-handler';
import type {
  ApiKeyProvider,
  IssuedKey,
  IssueRequest,
  KeyReference,
  ProviderContext,
  ProviderKey,
  RevokeResult,
} from '../../../functions/api-key/providers/provider';
import type { ConsumerCounter } from '../../../functions/consumer-tracker/store';
import { FakeSecretsManager } from '../../helpers/fake-secrets-manager';
import { STEPS } from '../../helpers/rotate';

/** The fake Secrets Manager with tags, which API key rotation keeps its revocation deadlines in. */
export class TaggingSecretsManager extends FakeSecretsManager {
  readonly tags = new Map<string, Map<string, string>>();
  readonly failures = new Set<string>();

  constructor() {
    super();
    // The base class's handlers, reached through a cast: wrapped to inject failures.
    const base = this as unknown as {
      putValue(input: unknown): unknown;
      updateStage(input: unknown): unknown;
    };
    const failing =
      <I>(name: string, handler: (input: I) => unknown) =>
      (input: I) => {
        if (this.failures.delete(name)) {
          throw new SecretsManagerServiceException({
            name: 'InternalServiceError',
            message: `injected failure of ${name}`,
            $fault: 'server',
            $metadata: {},
          });
        }
        return handler(input);
      };
    this.mock.on(PutSecretValueCommand).callsFake(failing('PutSecretValue', (i) => base.putValue(i)));
    this.mock
      .on(UpdateSecretVersionStageCommand)
      .callsFake(failing('UpdateSecretVersionStage', (i) => base.updateStage(i)));
    this.mock.on(DescribeSecretCommand).callsFake((input) => {
      const secret = this.secret(input.SecretId);
      const stages: Record<string, string[]> = {};
      for (const [id, version] of secret.versions) if (version.stages.size) stages[id] = [...version.stages];
      const tags = [...(this.tags.get(secret.arn) ?? new Map())].map(([Key, Value]) => ({ Key, Value }));
      return {
        ARN: secret.arn,
        Name: secret.name,
        RotationEnabled: secret.rotationEnabled,
        VersionIdsToStages: stages,
        ...(tags.length ? { Tags: tags } : {}),
      };
    });
    this.mock.on(TagResourceCommand).callsFake(
      failing(
        'TagResource',
        (input: { SecretId?: string; Tags?: Array<{ Key?: string; Value?: string }> }) => {
          const arn = this.secret(input.SecretId).arn;
          const tags = this.tags.get(arn) ?? new Map<string, string>();
          for (const tag of input.Tags ?? []) tags.set(tag.Key ?? '', tag.Value ?? '');
          this.tags.set(arn, tags);
          return {};
        },
      ),
    );
    this.mock.on(UntagResourceCommand).callsFake(
      failing('UntagResource', (input: { SecretId?: string; TagKeys?: string[] }) => {
        const arn = this.secret(input.SecretId).arn;
        for (const key of input.TagKeys ?? []) this.tags.get(arn)?.delete(key);
        return {};
      }),
    );
  }

  /** The tags of a secret as a plain object. */
  tagsOf(secretId: string): Record<string, string> {
    return Object.fromEntries(this.tags.get(this.secret(secretId).arn) ?? []);
  }

  tag(secretId: string, key: string, value: string): void {
    const arn = this.secret(secretId).arn;
    const tags = this.tags.get(arn) ?? new Map<string, string>();
    tags.set(key, value);
    this.tags.set(arn, tags);
  }

  /** Makes the next call of a command fail with a service error, once (a crash at that point). */
  failNext(command: 'PutSecretValue' | 'UpdateSecretVersionStage' | 'TagResource' | 'UntagResource'): void {
    this.failures.add(command);
  }
}

/** One key held by the fake provider. */
export interface FakeKey {
  readonly keyId: string;
  readonly name: string;
  readonly value: string;
  revoked: boolean;
}

type Operation = 'issue' | 'check' | 'revoke' | 'list';

/** An in-memory key service behind the provider interface, recording every call. */
export class FakeProvider implements ApiKeyProvider {
  readonly name: ApiKeyProvider['name'];
  readonly generatesValue: boolean;
  readonly keys = new Map<string, FakeKey>();
  readonly calls: Array<{ operation: Operation; name?: string; keyId?: string }> = [];
  readonly failures = new Map<Operation, Error>();
  /** Errors thrown after the provider did the work (the response was lost). */
  readonly failuresAfter = new Map<Operation, Error>();
  readonly list?: (context: ProviderContext, prefix: string) => Promise<readonly ProviderKey[]>;
  readonly find?: (context: ProviderContext, name: string) => Promise<ProviderKey | undefined>;
  #next = 0;

  constructor(options: { name?: ApiKeyProvider['name']; generatesValue?: boolean; canList?: boolean } = {}) {
    this.name = options.name ?? 'http';
    this.generatesValue = options.generatesValue ?? false;
    if (options.canList ?? true) {
      this.list = async (_context, prefix) => {
        this.#record('list');
        return [...this.keys.values()]
          .filter((k) => !k.revoked && k.name.startsWith(prefix))
          .map(({ keyId, name }) => ({ keyId, name }));
      };
      this.find = async (_context, name) => {
        const key = [...this.keys.values()].find((k) => !k.revoked && k.name === name);
        return key ? { keyId: key.keyId, name: key.name } : undefined;
      };
    }
  }

  /** Adds a key as if issued before (the initial key of a secret). */
  seed(name: string, value: string): FakeKey {
    const key = { keyId: `key-${++this.#next}`, name, value, revoked: false };
    this.keys.set(key.keyId, key);
    return key;
  }

  /** Keys that are not revoked. */
  live(): FakeKey[] {
    return [...this.keys.values()].filter((k) => !k.revoked);
  }

  /** Whether the provider accepts `value` now. */
  accepts(value: string): boolean {
    return this.live().some((k) => k.value === value);
  }

  async issue(_context: ProviderContext, request: IssueRequest): Promise<IssuedKey> {
    this.#record('issue', request.name);
    const existing = !this.generatesValue && (await this.find?.(_context, request.name));
    if (existing) return { keyId: existing.keyId };
    const value = this.generatesValue ? `gen-${randomBytes(16).toString('hex')}` : (request.value ?? '');
    const key = this.seed(request.name, value);
    this.#maybeFailAfter('issue');
    return { keyId: key.keyId, ...(this.generatesValue ? { value } : {}) };
  }

  async check(_context: ProviderContext, key: KeyReference & { readonly value: string }): Promise<void> {
    this.#record('check', key.name, key.keyId);
    if (!this.accepts(key.value)) throw new Error('the provider does not accept the key');
  }

  async revoke(_context: ProviderContext, key: KeyReference): Promise<RevokeResult> {
    this.#record('revoke', key.name, key.keyId);
    const found = key.keyId
      ? [this.keys.get(key.keyId)].filter((k): k is FakeKey => k !== undefined)
      : [...this.keys.values()].filter((k) => k.name === key.name);
    const live = found.filter((k) => !k.revoked);
    for (const k of live) k.revoked = true;
    if (live.length > 0) this.#maybeFailAfter('revoke');
    const keyId = found[0]?.keyId;
    return {
      outcome: live.length > 0 ? RevokeOutcome.REVOKED : RevokeOutcome.ABSENT,
      ...(keyId ? { keyId } : {}),
    };
  }

  #record(operation: Operation, name?: string, keyId?: string): void {
    this.calls.push({ operation, ...(name ? { name } : {}), ...(keyId ? { keyId } : {}) });
    const failure = this.failures.get(operation);
    if (failure) {
      this.failures.delete(operation);
      throw failure;
    }
  }

  #maybeFailAfter(operation: Operation): void {
    const failure = this.failuresAfter.get(operation);
    if (failure) {
      this.failuresAfter.delete(operation);
      throw failure;
    }
  }
}

/** A clock that tests move by hand. */
export class Clock {
  ms = Date.parse('2030-01-01T00:00:00Z');
  readonly now = () => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export const GRACE_SECONDS = 3600;
export const INITIAL_KEY = 'initial-key-0123456789-abcdefghij';

/** A secret, a fake provider holding its initial key, a handler, mocked EventBridge and a clock. */
export function setUp(
  options: {
    provider?: FakeProvider;
    env?: Record<string, string>;
    secret?: Record<string, unknown>;
    name?: string;
    consumers?: ConsumerCounter;
  } = {},
) {
  const fake = new TaggingSecretsManager();
  const provider = options.provider ?? new FakeProvider();
  const clock = new Clock();
  const eventBridgeClient = new EventBridgeClient({ region: 'us-east-1' });
  const eventBridge = mockClient(eventBridgeClient);
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  const initial = provider.seed('hand-made', INITIAL_KEY);
  const arn = fake.createSecret(
    options.name ?? 'orders/api-key',
    options.secret ?? { apiKey: INITIAL_KEY, keyId: initial.keyId, header: 'x-api-key' },
  );
  const handler: ApiKeyHandler = createApiKeyHandler({
    secretsManager: fake.client,
    eventBridge: eventBridgeClient,
    provider,
    now: clock.now,
    ...(options.consumers ? { consumers: options.consumers } : {}),
    env: {
      ROTATION_STRATEGY: provider.name,
      EVENT_BUS_NAME: 'rotation-bus',
      API_KEY_GRACE_PERIOD_SECONDS: String(GRACE_SECONDS),
      ...(provider.name === 'api-gateway' ? { API_GATEWAY_USAGE_PLAN_IDS: 'plan1' } : {}),
      ...(provider.name === 'http'
        ? {
            HTTP_PROVIDER_CONFIG: JSON.stringify({
              baseUrl: 'https://keys.example.com',
              issue: { url: '/keys', body: { name: '{keyName}', key: '{apiKey}' }, keyIdPointer: '/id' },
              check: { url: '/whoami' },
              revoke: { url: '/keys/{keyId}' },
              list: { url: '/keys', itemsPointer: '/keys', keyIdPointer: '/id', namePointer: '/name' },
            }),
          }
        : {}),
      ...options.env,
    },
  });
  return { fake, provider, clock, eventBridge, handler, arn, initial };
}

/** Runs the four steps of one rotation; returns the token. */
export async function rotate(fake: FakeSecretsManager, handler: ApiKeyHandler, arn: string): Promise<string> {
  const token = fake.startRotation(arn);
  for (const step of STEPS) await handler({ SecretId: arn, ClientRequestToken: token, Step: step });
  return token;
}

/** The follow-up events published, with their details parsed. */
export function followUps(eventBridge: ReturnType<typeof mockClient>): Array<Record<string, unknown>> {
  return eventBridge
    .commandCalls(PutEventsCommand)
    .map((call) => call.args[0].input.Entries?.[0])
    .filter((entry) => entry?.DetailType === 'Secret Rotation Follow-up')
    .map((entry) => JSON.parse(entry?.Detail ?? '{}') as Record<string, unknown>);
}

/** Every event detail published, as text. */
export function publishedText(eventBridge: ReturnType<typeof mockClient>): string {
  return eventBridge
    .commandCalls(PutEventsCommand)
    .map((call) => JSON.stringify(call.args[0].input))
    .join('\n');
}

export const sweepEvent = (arn: string, extra: Record<string, unknown> = {}) => ({
  Action: 'sweep',
  SecretId: arn,
  ...extra,
});
