/**
 * Retry settings of every AWS SDK client a rotation function builds. A fleet of secrets rotating on the same
 * schedule shares one account's Secrets Manager quotas, so throttling is expected rather than exceptional:
 * the SDK's default of three attempts turns a busy minute into failed rotations that Secrets Manager only
 * retries hours later. Six attempts with the standard retry mode's backoff (a base of 500 ms for throttling
 * errors, capped at 20 s) fit inside the function's timeout and carry a rotation through a throttled burst;
 * `bench:fleet` measures it.
 */
export const SDK_RETRY_CONFIG = { maxAttempts: 6, retryMode: 'standard' } as const;
