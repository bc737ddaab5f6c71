import { ApiKeyProviderName, RevokeOutcome } from '../constants';
import { ApiKeyCheckError, ApiKeyProviderError } from '../errors';
import { type HttpProviderConfig, type HttpRequestTemplate, isSecureUrl, timeoutOf } from './http-config';
import { resolveJsonPointer } from './json-pointer';
import { failureCode, probeKey } from './key-probe';
import type {
  ApiKeyProvider,
  IssuedKey,
  IssueRequest,
  KeyReference,
  ProviderContext,
  ProviderKey,
  RevokeResult,
} from './provider';

/** What the HTTP provider is built from. */
export interface HttpProviderOptions {
  readonly config: HttpProviderConfig;
  /** Attempts of the check request (401/403 are retried while a new key propagates). */
  readonly checkAttempts: number;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Sleeps between check attempts; injectable so tests do not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Delay before the second check attempt. @default 500 */
  readonly baseDelayMs?: number;
}

type Placeholders = Partial<Record<'keyId' | 'keyName' | 'token' | 'apiKey' | 'namePrefix', string>>;

interface HttpResult {
  readonly status: number;
  readonly body: unknown;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A key service reached over HTTP, described declaratively (`HTTP_PROVIDER_CONFIG`). Requests that manage
 * keys carry the admin credential read from another secret; the check request carries the key itself.
 *
 * Idempotency: when we generate the key, `issue` first looks for a key with the rotation's name (`list`),
 * so a retried setSecret finds the key it issued. When the provider generates the key, `issue` runs in
 * createSecret; a crash between the provider's answer and `PutSecretValue` loses that key's value, so the
 * retry revokes the key found under the rotation's name and issues another (with `list`), and every sweep
 * revokes keys under our prefix that no version records. Without `list`, such an orphan stays at the
 * provider: configure `list`, or an idempotency header such as `{"Idempotency-Key": "{token}"}`.
 */
export class HttpProvider implements ApiKeyProvider {
  readonly name = ApiKeyProviderName.HTTP;
  readonly generatesValue: boolean;
  readonly find?: (context: ProviderContext, name: string) => Promise<ProviderKey | undefined>;
  readonly list?: (context: ProviderContext, prefix: string) => Promise<readonly ProviderKey[]>;
  readonly #config: HttpProviderConfig;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #checkAttempts: number;
  readonly #baseDelayMs: number;

  constructor(options: HttpProviderOptions) {
    this.#config = options.config;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#checkAttempts = options.checkAttempts;
    this.#baseDelayMs = options.baseDelayMs ?? 500;
    this.generatesValue = options.config.issue.keyValuePointer !== undefined;
    if (options.config.list) {
      this.list = (context, prefix) => this.#list(context, prefix);
      this.find = async (context, name) => (await this.#list(context, name)).find((key) => key.name === name);
    }
  }

  async issue(context: ProviderContext, request: IssueRequest): Promise<IssuedKey> {
    const { issue } = this.#config;
    if (!this.generatesValue && this.find) {
      const existing = await this.find(context, request.name);
      if (existing) {
        context.logger.info('A key with this rotation name exists already; not issuing another', {
          keyId: existing.keyId,
        });
        return { keyId: existing.keyId };
      }
    }
    const placeholders: Placeholders = {
      keyName: request.name,
      token: request.token,
      ...(request.value !== undefined ? { apiKey: request.value } : {}),
    };
    const result = await this.#send(context, 'issue a key', issue, 'POST', placeholders, true);
    if (result.status < 200 || result.status > 299) {
      throw new ApiKeyProviderError(this.name, 'issue a key', `HTTP ${result.status}`);
    }
    const keyId = idAt(result.body, issue.keyIdPointer);
    if (keyId === undefined) {
      throw new ApiKeyProviderError(
        this.name,
        'issue a key',
        `the response has no key id at ${JSON.stringify(issue.keyIdPointer)} (HTTP_PROVIDER_CONFIG.issue.keyIdPointer)`,
      );
    }
    if (!issue.keyValuePointer) return { keyId };
    const value = resolveJsonPointer(result.body, issue.keyValuePointer);
    if (typeof value !== 'string' || value === '') {
      throw new ApiKeyProviderError(
        this.name,
        'issue a key',
        `the response has no key at ${JSON.stringify(issue.keyValuePointer)} (HTTP_PROVIDER_CONFIG.issue.keyValuePointer)`,
      );
    }
    context.redact(value);
    return { keyId, value };
  }

  async check(
    context: ProviderContext,
    key: KeyReference & { readonly value: string },
    _replaces?: KeyReference,
  ): Promise<void> {
    const { check } = this.#config;
    const keyId = usesKeyId(check) ? await this.#idOf(context, key, 'check') : key.keyId;
    if (usesKeyId(check) && keyId === undefined) {
      throw new ApiKeyCheckError(this.name, `no key named '${key.name}' was found at the provider`);
    }
    const placeholders: Placeholders = {
      keyName: key.name,
      apiKey: key.value,
      ...(keyId !== undefined ? { keyId } : {}),
    };
    const headers = await this.#headers(context, check, placeholders, check.withAdminCredential === true);
    const header = check.keyHeader ?? 'x-api-key';
    if (header) headers[header] = `${check.keyPrefix ?? ''}${key.value}`;
    await probeKey({
      provider: this.name,
      fetch: this.#fetch,
      url: this.#url(check, placeholders),
      method: check.method ?? 'GET',
      headers,
      ...(check.body !== undefined ? { body: JSON.stringify(substitute(check.body, placeholders)) } : {}),
      ...(check.expectStatus ? { expectStatus: check.expectStatus } : {}),
      timeoutMs: timeoutOf(this.#config),
      attempts: this.#checkAttempts,
      sleep: this.#sleep,
      baseDelayMs: this.#baseDelayMs,
    });
  }

  /** Revokes the key; without a recorded id, every key listed under its exact name. */
  async revoke(context: ProviderContext, key: KeyReference): Promise<RevokeResult> {
    const { revoke } = this.#config;
    let ids: Array<string | undefined>;
    if (key.keyId !== undefined) ids = [key.keyId];
    else if (this.list)
      ids = (await this.#list(context, key.name)).filter((k) => k.name === key.name).map((k) => k.keyId);
    else if (!usesKeyId(revoke)) ids = [undefined];
    else {
      throw new ApiKeyProviderError(
        this.name,
        'revoke a key',
        `the version does not record the key's id and HTTP_PROVIDER_CONFIG.list is not set, so key '${key.name}' cannot be found`,
      );
    }
    let outcome: RevokeOutcome = RevokeOutcome.ABSENT;
    for (const keyId of ids) {
      const placeholders: Placeholders = { keyName: key.name, ...(keyId !== undefined ? { keyId } : {}) };
      const result = await this.#send(context, 'revoke a key', revoke, 'DELETE', placeholders, true);
      if (result.status >= 200 && result.status < 300) outcome = RevokeOutcome.REVOKED;
      else if (!(revoke.absentStatus ?? [404, 410]).includes(result.status)) {
        throw new ApiKeyProviderError(this.name, 'revoke a key', `HTTP ${result.status}`);
      }
    }
    const first = ids[0];
    return { outcome, ...(first !== undefined ? { keyId: first } : {}) };
  }

  async #list(context: ProviderContext, prefix: string): Promise<ProviderKey[]> {
    const list = this.#config.list;
    if (!list) return [];
    const result = await this.#send(context, 'list keys', list, 'GET', { namePrefix: prefix }, true);
    if (result.status < 200 || result.status > 299) {
      throw new ApiKeyProviderError(this.name, 'list keys', `HTTP ${result.status}`);
    }
    const items = resolveJsonPointer(result.body, list.itemsPointer);
    if (!Array.isArray(items)) {
      throw new ApiKeyProviderError(
        this.name,
        'list keys',
        `the response has no array at ${JSON.stringify(list.itemsPointer)} (HTTP_PROVIDER_CONFIG.list.itemsPointer)`,
      );
    }
    const keys: ProviderKey[] = [];
    for (const item of items) {
      const keyId = idAt(item, list.keyIdPointer);
      const name = resolveJsonPointer(item, list.namePointer);
      if (keyId !== undefined && typeof name === 'string' && name.startsWith(prefix))
        keys.push({ keyId, name });
    }
    return keys;
  }

  async #idOf(context: ProviderContext, key: KeyReference, purpose: string): Promise<string | undefined> {
    if (key.keyId !== undefined) return key.keyId;
    if (!this.find) return undefined;
    const found = await this.find(context, key.name);
    context.logger.debug(`Looked the key up by name to ${purpose} it`, { found: found !== undefined });
    return found?.keyId;
  }

  async #send(
    context: ProviderContext,
    operation: string,
    template: HttpRequestTemplate,
    defaultMethod: string,
    placeholders: Placeholders,
    admin: boolean,
  ): Promise<HttpResult> {
    const headers = await this.#headers(context, template, placeholders, admin);
    headers.accept = 'application/json';
    let body: string | undefined;
    if (template.body !== undefined) {
      body = JSON.stringify(substitute(template.body, placeholders));
      headers['content-type'] = 'application/json';
    }
    const url = this.#url(template, placeholders);
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method: template.method ?? defaultMethod,
        headers,
        ...(body !== undefined ? { body } : {}),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutOf(this.#config)),
      });
    } catch (error) {
      throw new ApiKeyProviderError(this.name, operation, `the request failed (${failureCode(error)})`, {
        cause: error,
      });
    }
    const text = await response.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined; // not JSON: the body is never quoted in errors
    }
    return { status: response.status, body: parsed };
  }

  async #headers(
    context: ProviderContext,
    template: HttpRequestTemplate,
    placeholders: Placeholders,
    admin: boolean,
  ): Promise<Record<string, string>> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(template.headers ?? {})) {
      const resolved = fill(value, placeholders, (v) => v);
      if (/[\r\n]/.test(resolved)) {
        throw new ApiKeyProviderError(
          this.name,
          'build a request',
          `header ${name} would contain a line break`,
        );
      }
      headers[name.toLowerCase()] = resolved;
    }
    const auth = this.#config.auth;
    if (admin && auth) {
      const credential = await adminCredential(context, auth.secretArn, auth.field);
      headers[(auth.header ?? 'Authorization').toLowerCase()] = `${auth.prefix ?? 'Bearer '}${credential}`;
    }
    return headers;
  }

  #url(template: HttpRequestTemplate, placeholders: Placeholders): string {
    const path = fill(template.url, placeholders, (value, name) => {
      // encodeURIComponent leaves `.` alone, and URL parsers resolve `.`, `..` (and their %2E forms) as dot
      // segments: a key id `..` would turn `/v1/keys/{keyId}/revoke` into `/v1/revoke`, sent with the admin
      // credential. No key id or name is a dot segment: refuse it before anything is sent.
      if (value === '.' || value === '..') {
        throw new ApiKeyProviderError(
          this.name,
          'build a request',
          `refusing ${JSON.stringify(value)} as {${name}} in ${JSON.stringify(template.url)}: a dot segment would change the URL's path`,
        );
      }
      return encodeURIComponent(value);
    });
    const full = /^[a-z][a-z0-9+.-]*:/i.test(path)
      ? path
      : `${(this.#config.baseUrl ?? '').replace(/\/+$/, '')}${path}`;
    const url = new URL(full);
    if (!isSecureUrl(url)) {
      throw new ApiKeyProviderError(this.name, 'build a request', `refusing a non-https URL (${url.host})`);
    }
    return url.toString();
  }
}

async function adminCredential(context: ProviderContext, secretArn: string, field?: string): Promise<string> {
  const raw = await context.readSecret(secretArn);
  if (field === undefined) return raw;
  let value: unknown;
  try {
    value = (JSON.parse(raw) as Record<string, unknown>)[field];
  } catch {
    value = undefined;
  }
  if (typeof value !== 'string' || value === '') {
    throw new ApiKeyProviderError(
      ApiKeyProviderName.HTTP,
      'read the admin credential',
      `the admin secret has no string field '${field}' (HTTP_PROVIDER_CONFIG.auth.field)`,
    );
  }
  context.redact(value);
  return value;
}

function usesKeyId(template: HttpRequestTemplate): boolean {
  return JSON.stringify([template.url, template.headers ?? {}, template.body ?? null]).includes('{keyId}');
}

function idAt(document: unknown, pointer: string): string | undefined {
  const value = resolveJsonPointer(document, pointer);
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function fill(
  text: string,
  placeholders: Placeholders,
  encode: (value: string, name: string) => string,
): string {
  return text.replace(/\{([A-Za-z]+)\}/g, (match, name: string) => {
    const value = placeholders[name as keyof Placeholders];
    return value === undefined ? match : encode(value, name);
  });
}

function substitute(node: unknown, placeholders: Placeholders): unknown {
  if (typeof node === 'string') return fill(node, placeholders, (v) => v);
  if (Array.isArray(node)) return node.map((item) => substitute(item, placeholders));
  if (typeof node === 'object' && node !== null) {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, substitute(v, placeholders)]));
  }
  return node;
}
