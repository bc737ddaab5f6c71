import { timingSafeEqual } from 'node:crypto';
import {
  type APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
  GetApiKeyCommand,
  GetApiKeysCommand,
  type GetApiKeysCommandOutput,
  GetUsagePlanKeyCommand,
  GetUsagePlansCommand,
  type GetUsagePlansCommandOutput,
} from '@aws-sdk/client-api-gateway';
import { isNamed } from '../../rotation';
import { API_GATEWAY_KEY_OWNER_TAG, ApiKeyDefaults, ApiKeyProviderName, RevokeOutcome } from '../constants';
import { ApiKeyCheckError, ApiKeyProviderError } from '../errors';
import { probeKey } from './key-probe';
import type {
  ApiKeyProvider,
  IssuedKey,
  IssueRequest,
  KeyReference,
  ProviderContext,
  ProviderKey,
  RevokeResult,
} from './provider';

/** What the API Gateway provider is built from. */
export interface ApiGatewayProviderOptions {
  readonly client: APIGatewayClient;
  /**
   * The usage plans the function may attach keys to (`API_GATEWAY_USAGE_PLAN_IDS`; its IAM policy names
   * exactly these). The new key joins the plans of the key it replaces, which must all be listed here.
   */
  readonly usagePlanIds: readonly string[];
  /** A URL of a method that requires the key, requested by testSecret. */
  readonly checkUrl?: string;
  /** Attempts of that request (a new key takes a moment to reach API Gateway's edge). */
  readonly checkAttempts: number;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Sleeps between check attempts; injectable so tests do not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Delay before the second check attempt. @default 500 */
  readonly baseDelayMs?: number;
}

const PAGE = 500;
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Amazon API Gateway API keys. createSecret generates the key; setSecret creates the API key under the
 * rotation's name with that value (or finds the one a previous attempt created) and attaches it to every
 * usage plan the current key is in; testSecret checks, read-only, that the key exists, is enabled, holds our
 * value and is in those plans (and with `checkUrl`, that API Gateway accepts it); revocation deletes the API
 * key, which also takes it out of its usage plans.
 *
 * API Gateway's `nameQuery` is not an exact match: names are compared here.
 */
export class ApiGatewayProvider implements ApiKeyProvider {
  readonly name = ApiKeyProviderName.API_GATEWAY;
  readonly generatesValue = false;
  readonly #client: APIGatewayClient;
  readonly #allowedPlans: ReadonlySet<string>;
  readonly #options: ApiGatewayProviderOptions;

  constructor(options: ApiGatewayProviderOptions) {
    this.#client = options.client;
    this.#allowedPlans = new Set(options.usagePlanIds);
    this.#options = options;
  }

  async issue(context: ProviderContext, request: IssueRequest): Promise<IssuedKey> {
    if (request.value === undefined) {
      throw new ApiKeyProviderError(this.name, 'create an API key', 'no key value was generated');
    }
    const plans = await this.#plansToJoin(context, request.replaces);
    let keyId = (await this.find(context, request.name))?.keyId;
    if (keyId) {
      context.logger.info('The API key of this rotation exists already; completing it', { keyId });
    } else {
      try {
        const created = await this.#client.send(
          new CreateApiKeyCommand({
            name: request.name,
            value: request.value,
            enabled: true,
            description: `Rotated by secret-rotation for ${request.secretArn}`,
            // The role may read and delete only keys carrying this tag (ApiKeyRotation's IAM conditions).
            tags: { [API_GATEWAY_KEY_OWNER_TAG]: request.secretArn },
          }),
        );
        keyId = created.id;
      } catch (error) {
        // API Gateway keeps key values unique: a concurrent setSecret created it first.
        if (!isNamed(error, 'ConflictException')) throw providerError('create an API key', error);
        keyId = (await this.find(context, request.name))?.keyId;
      }
      if (!keyId) {
        throw new ApiKeyProviderError(this.name, 'create an API key', 'API Gateway returned no key id');
      }
      context.logger.info('Created the API key', { keyId });
    }
    for (const planId of plans) {
      if (await this.#inPlan(planId, keyId)) continue;
      try {
        await this.#client.send(
          new CreateUsagePlanKeyCommand({ usagePlanId: planId, keyId, keyType: 'API_KEY' }),
        );
        context.logger.info('Attached the API key to a usage plan', { keyId, usagePlanId: planId });
      } catch (error) {
        if (!isNamed(error, 'ConflictException'))
          throw providerError('attach the key to a usage plan', error);
      }
    }
    return { keyId };
  }

  async check(
    context: ProviderContext,
    key: KeyReference & { readonly value: string },
    replaces: KeyReference,
  ): Promise<void> {
    const keyId = key.keyId ?? (await this.find(context, key.name))?.keyId;
    if (!keyId) throw new ApiKeyCheckError(this.name, `no API key named '${key.name}' exists`);
    let found: { enabled?: boolean; value?: string };
    try {
      found = await this.#client.send(new GetApiKeyCommand({ apiKey: keyId, includeValue: true }));
    } catch (error) {
      if (isNamed(error, 'NotFoundException')) {
        throw new ApiKeyCheckError(this.name, `API key ${keyId} does not exist`);
      }
      throw providerError('read the API key', error);
    }
    if (typeof found.value === 'string') context.redact(found.value);
    if (found.enabled !== true) throw new ApiKeyCheckError(this.name, `API key ${keyId} is disabled`);
    if (!sameValue(found.value, key.value)) {
      throw new ApiKeyCheckError(this.name, `API key ${keyId} does not hold the pending value`);
    }
    for (const planId of await this.#plansToJoin(context, replaces)) {
      if (!(await this.#inPlan(planId, keyId))) {
        throw new ApiKeyCheckError(this.name, `API key ${keyId} is not in usage plan ${planId}`);
      }
    }
    if (this.#options.checkUrl) {
      await probeKey({
        provider: this.name,
        fetch: this.#options.fetch ?? globalThis.fetch,
        url: this.#options.checkUrl,
        method: 'GET',
        headers: { [ApiKeyDefaults.CHECK_HEADER]: key.value },
        timeoutMs: ApiKeyDefaults.HTTP_TIMEOUT_MS,
        attempts: this.#options.checkAttempts,
        sleep: this.#options.sleep ?? defaultSleep,
        ...(this.#options.baseDelayMs !== undefined ? { baseDelayMs: this.#options.baseDelayMs } : {}),
      });
    }
  }

  /** Deletes the key; without a recorded id, every key with its exact name (duplicates of a race included). */
  async revoke(context: ProviderContext, key: KeyReference): Promise<RevokeResult> {
    const ids = key.keyId
      ? [key.keyId]
      : (await this.list(context, key.name)).filter((k) => k.name === key.name).map((k) => k.keyId);
    let outcome: RevokeOutcome = RevokeOutcome.ABSENT;
    for (const keyId of ids) {
      try {
        await this.#client.send(new DeleteApiKeyCommand({ apiKey: keyId }));
        outcome = RevokeOutcome.REVOKED;
      } catch (error) {
        if (!isNamed(error, 'NotFoundException')) throw providerError('delete the API key', error);
      }
    }
    return { outcome, ...(ids[0] ? { keyId: ids[0] } : {}) };
  }

  async find(context: ProviderContext, name: string): Promise<ProviderKey | undefined> {
    const exact = (await this.list(context, name)).filter((key) => key.name === name);
    // Two keys under one name only if something else created one: take the oldest id deterministically.
    return exact.sort((a, b) => a.keyId.localeCompare(b.keyId))[0];
  }

  async list(_context: ProviderContext, prefix: string): Promise<readonly ProviderKey[]> {
    const keys: ProviderKey[] = [];
    let position: string | undefined;
    do {
      let page: GetApiKeysCommandOutput;
      try {
        page = await this.#client.send(
          new GetApiKeysCommand({ nameQuery: prefix, limit: PAGE, ...(position ? { position } : {}) }),
        );
      } catch (error) {
        throw providerError('list API keys', error);
      }
      for (const item of page.items ?? []) {
        if (item.id && item.name?.startsWith(prefix)) keys.push({ keyId: item.id, name: item.name });
      }
      position = page.position;
    } while (position);
    return keys;
  }

  /**
   * The usage plans the new key must join: those of the key it replaces, which must all be among the
   * configured plans; all configured plans when the current key is in none (or cannot be found).
   */
  async #plansToJoin(context: ProviderContext, replaces: KeyReference): Promise<string[]> {
    const currentId = replaces.keyId ?? (await this.find(context, replaces.name))?.keyId;
    const plans: string[] = [];
    if (currentId) {
      let position: string | undefined;
      do {
        let page: GetUsagePlansCommandOutput;
        try {
          page = await this.#client.send(
            new GetUsagePlansCommand({ keyId: currentId, limit: PAGE, ...(position ? { position } : {}) }),
          );
        } catch (error) {
          throw providerError('read the usage plans of the current key', error);
        }
        for (const item of page.items ?? []) if (item.id) plans.push(item.id);
        position = page.position;
      } while (position);
    } else {
      context.logger.warn(
        'The current API key was not found; attaching the new key to every configured plan',
      );
    }
    const outside = plans.filter((id) => !this.#allowedPlans.has(id));
    if (outside.length > 0) {
      throw new ApiKeyProviderError(
        this.name,
        'copy the usage plans of the current key',
        `the current key is also in usage plan(s) ${outside.join(', ')}, which API_GATEWAY_USAGE_PLAN_IDS does not ` +
          'list; add them (ApiKeyRotation usagePlans) so the new key keeps the same access',
      );
    }
    return plans.length > 0 ? plans : [...this.#allowedPlans];
  }

  async #inPlan(usagePlanId: string, keyId: string): Promise<boolean> {
    try {
      await this.#client.send(new GetUsagePlanKeyCommand({ usagePlanId, keyId }));
      return true;
    } catch (error) {
      if (isNamed(error, 'NotFoundException')) return false;
      throw providerError('read a usage plan key', error);
    }
  }
}

function sameValue(actual: string | undefined, expected: string): boolean {
  if (actual === undefined) return false;
  const a = Buffer.from(actual);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** An SDK error reduced to its name and HTTP status: API Gateway's messages can quote request fields. */
function providerError(operation: string, error: unknown): ApiKeyProviderError {
  const name = error instanceof Error ? error.name : typeof error;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return new ApiKeyProviderError(
    ApiKeyProviderName.API_GATEWAY,
    operation,
    `${name}${status ? ` (HTTP ${status})` : ''}`,
    { cause: error },
  );
}
