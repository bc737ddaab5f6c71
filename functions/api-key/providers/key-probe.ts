import { ApiKeyCheckError } from '../errors';

/** A request that proves a key works. */
export interface KeyProbe {
  readonly provider: string;
  readonly fetch: typeof fetch;
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Statuses that mean "works"; unset means any 2xx. */
  readonly expectStatus?: readonly number[];
  readonly timeoutMs: number;
  /** Attempts in all; 401 and 403 are retried (a new key can take a moment to propagate). */
  readonly attempts: number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Delay before the second attempt; doubles, with full jitter, up to 4 s. @default 500 */
  readonly baseDelayMs?: number;
}

/**
 * Sends the probe until it passes, a status other than 401/403 fails it, or the attempts run out. Never
 * follows redirects (a credential must not travel to another host) and never quotes the response body.
 *
 * @throws ApiKeyCheckError naming the status.
 */
export async function probeKey(probe: KeyProbe): Promise<void> {
  let lastStatus = 0;
  for (let attempt = 1; attempt <= probe.attempts; attempt++) {
    if (attempt > 1) {
      const ceiling = Math.min(4000, (probe.baseDelayMs ?? 500) * 2 ** (attempt - 2));
      await probe.sleep(Math.round(Math.random() * ceiling));
    }
    let response: Response;
    try {
      response = await probe.fetch(probe.url, {
        method: probe.method,
        headers: probe.headers,
        ...(probe.body !== undefined ? { body: probe.body } : {}),
        redirect: 'manual',
        signal: AbortSignal.timeout(probe.timeoutMs),
      });
    } catch (error) {
      throw new ApiKeyCheckError(probe.provider, `the check request failed (${failureCode(error)})`, {
        cause: error,
      });
    }
    await response.body?.cancel().catch(() => undefined);
    lastStatus = response.status;
    const passes = probe.expectStatus
      ? probe.expectStatus.includes(response.status)
      : response.status >= 200 && response.status < 300;
    if (passes) return;
    if (response.status !== 401 && response.status !== 403) {
      throw new ApiKeyCheckError(probe.provider, `the check request answered HTTP ${response.status}`);
    }
  }
  throw new ApiKeyCheckError(
    probe.provider,
    `the check request answered HTTP ${lastStatus} ${probe.attempts} time(s) in a row`,
  );
}

/** A network error's code (ECONNREFUSED, TimeoutError), never its message. */
export function failureCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  return error instanceof Error ? error.name : typeof error;
}
