/** Bounded exponential backoff with full jitter. */
export interface RetryOptions {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** Delay before the second attempt, before jitter. */
  readonly baseDelayMs: number;
  /** Upper bound of any one delay. */
  readonly maxDelayMs: number;
  /** Whether an error is worth another attempt. */
  readonly retryable: (error: unknown) => boolean;
  /** Sleeps; injectable so tests do not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before each new attempt. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `operation`, retrying retryable failures with bounded backoff and jitter. */
export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= options.attempts || !options.retryable(error)) throw error;
      const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
      const delayMs = Math.round(Math.random() * ceiling);
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs);
    }
  }
}
