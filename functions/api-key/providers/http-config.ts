import { ConfigurationError } from '../../rotation';
import { ApiKeyDefaults } from '../constants';
import { isJsonPointer } from './json-pointer';

/** One request of the HTTP provider. Strings may hold placeholders such as `{keyId}` (see each operation). */
export interface HttpRequestTemplate {
  /** HTTP method. Each operation has its default. */
  readonly method?: string;
  /** Absolute `https://` URL, or a path resolved against `baseUrl`. Placeholders are URL-encoded. */
  readonly url: string;
  /** Extra request headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** A JSON body; every string in it may hold placeholders. */
  readonly body?: unknown;
}

/** Where the HTTP provider's admin credential comes from: another secret, sent in a header. */
export interface HttpAdminCredential {
  /** ARN of the secret holding the credential. */
  readonly secretArn: string;
  /** The field of that secret's JSON holding the credential; unset means the whole SecretString. */
  readonly field?: string;
  /** Header carrying it. @default 'Authorization' */
  readonly header?: string;
  /** Written before the credential in the header. @default 'Bearer ' */
  readonly prefix?: string;
}

/**
 * How the HTTP provider talks to a key service, given as JSON in `HTTP_PROVIDER_CONFIG`. Placeholders:
 * `{keyName}` (the name the key is issued under, `<prefix><versionId>`), `{token}` (the rotation token, for
 * idempotency keys), `{keyId}` (the provider's id of the key), `{apiKey}` (the key itself: only in bodies and
 * headers of `issue` and `check`, never in a URL, where it would end up in access logs), `{namePrefix}`
 * (in `list`).
 */
export interface HttpProviderConfig {
  /** Base of relative URLs. */
  readonly baseUrl?: string;
  /** Timeout of each request, 100 to 60000 ms. @default 5000 */
  readonly timeoutMs?: number;
  /** The admin credential of `issue`, `revoke` and `list`. @default - none: requests are sent without one */
  readonly auth?: HttpAdminCredential;
  /**
   * Issues a key. With `keyValuePointer` the provider generates the key (issued in createSecret); without it
   * the function generates it and sends it as `{apiKey}` (issued in setSecret, found again by name through
   * `list`, which is then required). Default method POST.
   */
  readonly issue: HttpRequestTemplate & {
    /** JSON pointer (RFC 6901) to the new key's id in the response, e.g. `/id`. */
    readonly keyIdPointer: string;
    /** JSON pointer to the key the provider generated, e.g. `/key`. */
    readonly keyValuePointer?: string;
  };
  /**
   * Proves a key works, without side effects. The key is sent in `keyHeader` (and may appear in the body as
   * `{apiKey}`). Default method GET; a status in `expectStatus` (default any 2xx) passes; 401 and 403 are
   * retried a few times (a new key can take a moment to propagate), anything else fails.
   */
  readonly check: HttpRequestTemplate & {
    /** Header carrying the key; empty string sends none. @default 'x-api-key' */
    readonly keyHeader?: string;
    /** Written before the key in that header, e.g. `Bearer `. @default '' */
    readonly keyPrefix?: string;
    /** Also send the admin credential (an admin endpoint that verifies keys). @default false */
    readonly withAdminCredential?: boolean;
    /** Statuses that mean the key works. @default - any 2xx */
    readonly expectStatus?: readonly number[];
  };
  /** Revokes a key by `{keyId}`. Default method DELETE; 2xx revoked, `absentStatus` means already gone. */
  readonly revoke: HttpRequestTemplate & {
    /** @default [404, 410] */
    readonly absentStatus?: readonly number[];
  };
  /** Lists keys, so that retries and sweeps find keys by name. Default method GET; one page. */
  readonly list?: HttpRequestTemplate & {
    /** Pointer to the array of keys in the response, e.g. `/keys` (`""` for a top-level array). */
    readonly itemsPointer: string;
    /** Pointer to a key's id within an item, e.g. `/id`. */
    readonly keyIdPointer: string;
    /** Pointer to a key's name within an item, e.g. `/name`. */
    readonly namePointer: string;
  };
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const PLACEHOLDER = /\{([A-Za-z]+)\}/g;

/** Placeholders each operation may use; `{apiKey}` never in a URL. */
const ALLOWED = {
  issue: ['keyName', 'token', 'apiKey'],
  check: ['keyId', 'keyName', 'token', 'apiKey'],
  revoke: ['keyId', 'keyName', 'token'],
  list: ['namePrefix'],
} as const;

type Operation = keyof typeof ALLOWED;

/**
 * Parses and validates `HTTP_PROVIDER_CONFIG` (or a construct prop holding the same shape). Every error names
 * the field under `label`, e.g. `HTTP_PROVIDER_CONFIG.issue.url`.
 *
 * @param options.requireAuthArn - whether `auth.secretArn` must be a literal ARN (false in CDK, where it is a token).
 * @throws ConfigurationError naming the field and the problem.
 */
export function parseHttpProviderConfig(
  raw: unknown,
  label = 'HTTP_PROVIDER_CONFIG',
  options: { readonly requireAuthArn?: boolean } = {},
): HttpProviderConfig {
  const config = object(raw, label);
  const baseUrl = optionalString(config, 'baseUrl', label);
  if (baseUrl !== undefined) checkAbsoluteUrl(baseUrl, `${label}.baseUrl`);
  const timeoutMs = config.timeoutMs;
  if (
    timeoutMs !== undefined &&
    (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000)
  ) {
    throw new ConfigurationError(`${label}.timeoutMs must be an integer from 100 to 60000`);
  }
  const auth = config.auth === undefined ? undefined : parseAuth(config.auth, `${label}.auth`, options);
  const issue = request(config.issue, `${label}.issue`, 'issue', baseUrl);
  const keyIdPointer = pointer(issue.keyIdPointer, `${label}.issue.keyIdPointer`);
  const keyValuePointer =
    issue.keyValuePointer === undefined
      ? undefined
      : pointer(issue.keyValuePointer, `${label}.issue.keyValuePointer`);
  const check = request(config.check, `${label}.check`, 'check', baseUrl);
  const revoke = request(config.revoke, `${label}.revoke`, 'revoke', baseUrl);
  const list = config.list === undefined ? undefined : request(config.list, `${label}.list`, 'list', baseUrl);
  const issueUsesKey = usesPlaceholder({ headers: issue.headers, body: issue.body }, 'apiKey');
  if (keyValuePointer === undefined && !issueUsesKey) {
    throw new ConfigurationError(
      `${label}.issue must either read the provider's key with keyValuePointer or send ours as {apiKey} in its body or headers`,
    );
  }
  if (keyValuePointer !== undefined && issueUsesKey) {
    throw new ConfigurationError(
      `${label}.issue uses {apiKey} and keyValuePointer: the key is either the provider's or ours, not both`,
    );
  }
  if (keyValuePointer === undefined && list === undefined) {
    throw new ConfigurationError(
      `${label}.list is required when ${label}.issue sends our key ({apiKey}): setSecret finds the key it issued by name on a retry`,
    );
  }
  const checkHeader = optionalString(check, 'keyHeader', `${label}.check`);
  if (checkHeader === '' && !usesPlaceholder({ headers: check.headers, body: check.body }, 'apiKey')) {
    throw new ConfigurationError(
      `${label}.check sends the key nowhere: set keyHeader, or use {apiKey} in its body or headers`,
    );
  }
  if (checkHeader) checkHeaderName(checkHeader, `${label}.check.keyHeader`);
  const expectStatus = statuses(check.expectStatus, `${label}.check.expectStatus`);
  const absentStatus = statuses(revoke.absentStatus, `${label}.revoke.absentStatus`);
  const withAdmin = check.withAdminCredential;
  if (withAdmin !== undefined && typeof withAdmin !== 'boolean') {
    throw new ConfigurationError(`${label}.check.withAdminCredential must be true or false`);
  }
  return {
    ...(baseUrl !== undefined ? { baseUrl } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs: timeoutMs as number } : {}),
    ...(auth ? { auth } : {}),
    issue: {
      ...template(issue),
      keyIdPointer,
      ...(keyValuePointer !== undefined ? { keyValuePointer } : {}),
    },
    check: {
      ...template(check),
      ...(checkHeader !== undefined ? { keyHeader: checkHeader } : {}),
      ...(typeof check.keyPrefix === 'string' ? { keyPrefix: check.keyPrefix } : {}),
      ...(withAdmin !== undefined ? { withAdminCredential: withAdmin } : {}),
      ...(expectStatus ? { expectStatus } : {}),
    },
    revoke: { ...template(revoke), ...(absentStatus ? { absentStatus } : {}) },
    ...(list
      ? {
          list: {
            ...template(list),
            itemsPointer: pointer(list.itemsPointer, `${label}.list.itemsPointer`),
            keyIdPointer: pointer(list.keyIdPointer, `${label}.list.keyIdPointer`),
            namePointer: pointer(list.namePointer, `${label}.list.namePointer`),
          },
        }
      : {}),
  };
}

/** The default timeout of the provider's requests. */
export function timeoutOf(config: HttpProviderConfig): number {
  return config.timeoutMs ?? ApiKeyDefaults.HTTP_TIMEOUT_MS;
}

/** Whether a URL may carry credentials: https, or http to this machine only (local mode and tests). */
export function isSecureUrl(url: URL): boolean {
  if (url.protocol === 'https:') return true;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return url.protocol === 'http:' && (host === 'localhost' || host === '::1' || /^127\./.test(host));
}

function parseAuth(
  raw: unknown,
  label: string,
  options: { readonly requireAuthArn?: boolean },
): HttpAdminCredential {
  const auth = object(raw, label);
  const secretArn = auth.secretArn;
  if (typeof secretArn !== 'string' || secretArn.trim() === '') {
    throw new ConfigurationError(
      `${label}.secretArn is required: the ARN of the secret holding the credential`,
    );
  }
  if ((options.requireAuthArn ?? true) && !/^arn:aws[a-z-]*:secretsmanager:/.test(secretArn)) {
    throw new ConfigurationError(
      `${label}.secretArn must be a Secrets Manager secret ARN, got '${secretArn}'`,
    );
  }
  const field = optionalString(auth, 'field', label);
  const header = optionalString(auth, 'header', label);
  if (header !== undefined) checkHeaderName(header, `${label}.header`);
  const prefix = optionalString(auth, 'prefix', label);
  return {
    secretArn,
    ...(field !== undefined ? { field } : {}),
    ...(header !== undefined ? { header } : {}),
    ...(prefix !== undefined ? { prefix } : {}),
  };
}

function request(
  raw: unknown,
  label: string,
  operation: Operation,
  baseUrl: string | undefined,
): Record<string, unknown> & HttpRequestTemplate {
  if (raw === undefined) throw new ConfigurationError(`${label} is required`);
  const op = object(raw, label);
  const url = op.url;
  if (typeof url !== 'string' || url.trim() === '') throw new ConfigurationError(`${label}.url is required`);
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    checkAbsoluteUrl(url.replace(PLACEHOLDER, 'x'), `${label}.url`);
  } else if (!url.startsWith('/')) {
    throw new ConfigurationError(
      `${label}.url must be an absolute https URL or a path starting with /, got '${url}'`,
    );
  } else if (baseUrl === undefined) {
    throw new ConfigurationError(`${label}.url is a path, so baseUrl is required`);
  }
  if (op.method !== undefined) {
    if (typeof op.method !== 'string' || !(METHODS as readonly string[]).includes(op.method.toUpperCase())) {
      throw new ConfigurationError(`${label}.method must be one of ${METHODS.join(', ')}`);
    }
  }
  if (op.headers !== undefined) {
    const headers = object(op.headers, `${label}.headers`);
    for (const [name, value] of Object.entries(headers)) {
      checkHeaderName(name, `${label}.headers`);
      if (typeof value !== 'string')
        throw new ConfigurationError(`${label}.headers.${name} must be a string`);
    }
  }
  const allowed: readonly string[] = ALLOWED[operation];
  for (const found of placeholdersIn(url)) {
    if (found === 'apiKey') {
      throw new ConfigurationError(
        `${label}.url must not contain {apiKey}: a key in a URL ends up in access logs; send it in a header or the body`,
      );
    }
    if (!allowed.includes(found)) throw unknownPlaceholder(`${label}.url`, found, allowed);
  }
  for (const found of placeholdersIn(JSON.stringify({ h: op.headers ?? {}, b: op.body ?? null }))) {
    if (!allowed.includes(found)) throw unknownPlaceholder(`${label}.headers/body`, found, allowed);
  }
  return op as Record<string, unknown> & HttpRequestTemplate;
}

function template(op: HttpRequestTemplate): HttpRequestTemplate {
  return {
    url: op.url,
    ...(op.method !== undefined ? { method: op.method.toUpperCase() } : {}),
    ...(op.headers !== undefined ? { headers: op.headers } : {}),
    ...(op.body !== undefined ? { body: op.body } : {}),
  };
}

function unknownPlaceholder(label: string, found: string, allowed: readonly string[]): ConfigurationError {
  return new ConfigurationError(
    `${label} uses {${found}}, which this operation does not know; it may use ${allowed.map((p) => `{${p}}`).join(', ')}`,
  );
}

function placeholdersIn(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1] as string);
}

function usesPlaceholder(value: unknown, name: string): boolean {
  return placeholdersIn(JSON.stringify(value ?? null)).includes(name);
}

function checkAbsoluteUrl(value: string, label: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError(`${label} is not a valid URL: '${value}'`);
  }
  if (!isSecureUrl(url)) {
    throw new ConfigurationError(
      `${label} must use https (http only to localhost/127.0.0.1/::1), got '${url.protocol}//${url.host}'`,
    );
  }
}

function checkHeaderName(name: string, label: string): void {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw new ConfigurationError(`${label}: '${name}' is not a valid header name`);
  }
}

function pointer(value: unknown, label: string): string {
  if (typeof value !== 'string' || !isJsonPointer(value)) {
    throw new ConfigurationError(
      `${label} must be a JSON pointer such as "/id", got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function statuses(value: unknown, label: string): number[] | undefined {
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((s) => Number.isInteger(s) && s >= 100 && s <= 599)
  ) {
    throw new ConfigurationError(`${label} must be a non-empty array of HTTP statuses (100 to 599)`);
  }
  return value as number[];
}

function object(value: unknown, label: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(`${label} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function optionalString(value: Record<string, unknown>, key: string, label: string): string | undefined {
  const field = value[key];
  if (field === undefined) return undefined;
  if (typeof field !== 'string') throw new ConfigurationError(`${label}.${key} must be a string`);
  return field;
}
