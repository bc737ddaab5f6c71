import { readApiKey } from './api-key-secret.js';
import { SecretClientError } from './errors.js';
import { SecretCache } from './secret-cache.js';
import type { CachedSecret, SecretValueSource } from './types.js';

/** An API key as a caller uses it. */
export interface ApiKeyCredential {
  /** The secret version holding it. */
  readonly versionId: string;
  readonly value: string;
  /** The provider's id of the key, when the secret records it. */
  readonly keyId?: string;
}

/** A recovery after a refusal of `from`: shared while under way, paused after it found no other key. */
interface KeyRecovery {
  readonly from: string;
  readonly result: Promise<ApiKeyCredential | undefined>;
  readonly attempt: number;
  retryAt?: number;
}

/** Options of the API key credential provider. */
export interface ApiKeyCredentialsOptions {
  /** Where secrets are read from (a `SecretCache`). */
  readonly source: SecretValueSource;
  /** ARN or name of the API key secret. */
  readonly secretId: string;
  /** Header carrying the key. @default 'x-api-key' */
  readonly header?: string;
  /** Written before the key in the header, e.g. `Bearer `. @default '' */
  readonly scheme?: string;
  /** Field of the secret's JSON holding the key. @default 'apiKey' */
  readonly field?: string;
  /** Response statuses that mean the key was refused. @default [401, 403] */
  readonly rejectedStatuses?: readonly number[];
  /** The fetch of `fetch()`. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /**
   * After a refusal for which no other key was found, refusals of the same key read no secret for this long,
   * doubling with each fruitless recovery up to `recoveryBackoffMaxMs`; a change of the secret ends the
   * pause. Bounds what a service answering 403 for business reasons costs in `GetSecretValue`. @default 1_000
   */
  readonly recoveryBackoffMs?: number;
  /** @default 300_000 */
  readonly recoveryBackoffMaxMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

/**
 * Every key version was refused. Names the secret, the versions tried and the last status, never a key.
 */
export class ApiKeyRejectedError extends SecretClientError {
  constructor(
    readonly secretId: string,
    readonly versionsTried: readonly string[],
    readonly status: number | undefined,
    options?: ErrorOptions & {
      /** The last refused response of `fetch()`, body unread: a refusal may be the API's business answer. */
      readonly response?: Response;
    },
  ) {
    super(
      `The API key of secret ${secretId} was refused${status !== undefined ? ` (HTTP ${status})` : ''}; ` +
        `tried versions ${versionsTried.join(', ')}`,
      options,
    );
    this.name = 'ApiKeyRejectedError';
    // Not enumerable: a logger serializing the error does not dump a response.
    Object.defineProperty(this, 'response', { value: options?.response, enumerable: false });
  }

  /** The last refused response of `fetch()`, its body unread (a 403 may be the API's business answer). */
  declare readonly response: Response | undefined;
}

/**
 * Attaches the current API key to outbound requests. When a request is refused (401/403: a caller whose
 * cache missed a rotation, past the old key's grace period), it retries once with a refreshed key: the cache
 * is invalidated and AWSCURRENT read anew, and if that is the key that was refused, AWSPENDING (a rotation
 * under way whose new key is already valid). Concurrent refusals of one key share one refresh. If no other
 * key exists, or the retry is refused too, it gives up with `ApiKeyRejectedError`.
 *
 * The key never appears in an error. `fetch()` does not follow redirects unless asked to (`redirect` in
 * its init): fetch strips only `Authorization` on a cross-origin redirect, and would carry a key header along.
 */
export class ApiKeyCredentials {
  readonly #source: SecretValueSource;
  readonly #secretId: string;
  readonly #header: string;
  readonly #scheme: string;
  readonly #field: string;
  readonly #rejected: readonly number[];
  readonly #fetch: typeof fetch;
  readonly #unsubscribe: () => void;
  /** After a recovery through AWSPENDING, until the secret changes: the key that works. */
  #override: ApiKeyCredential | undefined;
  #recovery: KeyRecovery | undefined;
  readonly #backoffMs: number;
  readonly #backoffMaxMs: number;
  readonly #now: () => number;
  /** Requests retried with another key after a refusal. */
  recoveries = 0;

  constructor(options: ApiKeyCredentialsOptions) {
    this.#source = options.source;
    this.#secretId = options.secretId;
    this.#header = options.header ?? 'x-api-key';
    this.#scheme = options.scheme ?? '';
    this.#field = options.field ?? 'apiKey';
    this.#rejected = options.rejectedStatuses ?? [401, 403];
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#backoffMs = options.recoveryBackoffMs ?? 1_000;
    this.#backoffMaxMs = options.recoveryBackoffMaxMs ?? 300_000;
    this.#now = options.now ?? Date.now;
    this.#unsubscribe = this.#source.onChange(() => {
      this.#override = undefined;
      this.#recovery = undefined;
    }, this.#secretId);
  }

  /** The key to use now. */
  async key(): Promise<ApiKeyCredential> {
    return this.#override ?? this.#parse(await this.#source.current(this.#secretId));
  }

  /** The header carrying the key, for callers that build requests themselves. */
  async headers(): Promise<Record<string, string>> {
    return this.#headersFor(await this.key());
  }

  /**
   * Runs `attempt` with the key's headers; when `isRejected` says the key was refused, refreshes and runs it
   * once more with another key. `isRejectedError` does the same for clients that throw on 401/403.
   *
   * @throws ApiKeyRejectedError when no other key exists or the retry is refused too.
   */
  async run<T>(
    attempt: (headers: Record<string, string>, key: ApiKeyCredential) => Promise<T>,
    isRejected: (result: T) => number | boolean | undefined,
    isRejectedError?: (error: unknown) => number | boolean | undefined,
  ): Promise<T> {
    const first = await this.key();
    const outcome = await this.#try(attempt, first, isRejected, isRejectedError);
    if (!outcome.rejected) return outcome.result as T;
    const next = await this.#recover(first.versionId);
    if (!next) {
      throw new ApiKeyRejectedError(
        this.#secretId,
        [first.versionId],
        outcome.status,
        responseOf(outcome.result),
      );
    }
    await outcome.discard?.();
    this.recoveries++;
    const retried = await this.#try(attempt, next, isRejected, isRejectedError);
    if (!retried.rejected) return retried.result as T;
    throw new ApiKeyRejectedError(
      this.#secretId,
      [first.versionId, next.versionId],
      retried.status,
      responseOf(retried.result),
    );
  }

  /**
   * `fetch` with the key in its header; a refused request is retried once with a refreshed key. A request
   * body must be replayable (a string, a buffer, `URLSearchParams`...): a stream cannot be sent twice.
   *
   * @throws ApiKeyRejectedError when the retry is refused too, or no other key exists.
   */
  async fetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    return this.run(
      (headers) => {
        const merged = new Headers(init.headers);
        for (const [name, value] of Object.entries(headers)) merged.set(name, value);
        return this.#fetch(input, { ...init, headers: merged, redirect: init.redirect ?? 'manual' });
      },
      (response) => (this.#rejected.includes(response.status) ? response.status : false),
    );
  }

  /** Stops listening to the source. */
  close(): void {
    this.#unsubscribe();
  }

  async #try<T>(
    attempt: (headers: Record<string, string>, key: ApiKeyCredential) => Promise<T>,
    key: ApiKeyCredential,
    isRejected: (result: T) => number | boolean | undefined,
    isRejectedError?: (error: unknown) => number | boolean | undefined,
  ): Promise<{ rejected: boolean; result?: T; status?: number; discard?: () => Promise<void> }> {
    try {
      const result = await attempt(this.#headersFor(key), key);
      const verdict = isRejected(result);
      if (!verdict) return { rejected: false, result };
      return {
        rejected: true,
        result,
        ...(typeof verdict === 'number' ? { status: verdict } : {}),
        ...(result instanceof Response
          ? { discard: () => result.body?.cancel().catch(() => undefined) ?? Promise.resolve() }
          : {}),
      };
    } catch (error) {
      const verdict = isRejectedError?.(error);
      if (!verdict) throw error;
      return { rejected: true, ...(typeof verdict === 'number' ? { status: verdict } : {}) };
    }
  }

  /** The key to retry with after `failedVersion` was refused; shared by concurrent refusals. */
  async #recover(failedVersion: string): Promise<ApiKeyCredential | undefined> {
    const recovery = this.#recovery;
    if (recovery?.from === failedVersion) {
      if (recovery.retryAt === undefined) return recovery.result;
      if (this.#now() < recovery.retryAt) return undefined;
    }
    const attempt = recovery?.from === failedVersion ? recovery.attempt + 1 : 1;
    const result = this.#findOther(failedVersion);
    const created: KeyRecovery = { from: failedVersion, result, attempt };
    this.#recovery = created;
    const pause = () => {
      created.retryAt = this.#now() + Math.min(this.#backoffMaxMs, this.#backoffMs * 2 ** (attempt - 1));
    };
    result.then((found) => {
      if (!found) pause();
    }, pause);
    return result;
  }

  async #findOther(failedVersion: string): Promise<ApiKeyCredential | undefined> {
    this.#override = undefined;
    const current = await this.#readCurrentNow();
    let found: CachedSecret | undefined = current.versionId !== failedVersion ? current : undefined;
    if (!found) {
      const pending = await this.#source.stage(this.#secretId, 'AWSPENDING', { maxAgeMs: 0 });
      if (pending && pending.versionId !== failedVersion) found = pending;
    }
    if (!found) return undefined;
    const key = this.#parse(found);
    if (found !== current) this.#override = key;
    return key;
  }

  /**
   * AWSCURRENT read now. A source that honours `maxAgeMs` (the `SecretCache`) fetches without flushing what
   * other consumers share; one that does not is invalidated first.
   */
  async #readCurrentNow(): Promise<CachedSecret> {
    if (!(this.#source instanceof SecretCache)) this.#source.invalidate(this.#secretId);
    return this.#source.current(this.#secretId, { maxAgeMs: 0 });
  }

  #headersFor(key: ApiKeyCredential): Record<string, string> {
    return { [this.#header]: `${this.#scheme}${key.value}` };
  }

  #parse(secret: CachedSecret): ApiKeyCredential {
    const key = readApiKey(secret.secretString, this.#field);
    if (!key) {
      throw new SecretClientError(
        `Secret ${this.#secretId} (version ${secret.versionId}) has no string field '${this.#field}'`,
      );
    }
    return { versionId: secret.versionId, ...key };
  }
}

function responseOf(result: unknown): { response: Response } | undefined {
  return result instanceof Response ? { response: result } : undefined;
}
