/** Delay in ms before retry number `attempt` (1 for the first retry). */
export type RetryPolicy = (attempt: number) => number;

export interface BackoffOptions {
  /** Upper bound in ms of the first delay. */
  readonly initialMs: number;
  /** Upper bound in ms of any delay. */
  readonly maxMs: number;
  /** Source of uniform numbers in [0, 1). */
  readonly random?: () => number;
}

/**
 * Exponential backoff with full jitter: a uniform delay between 0 and
 * min(maxMs, initialMs * 2^(attempt - 1)). Jitter spreads the retries of many requests
 * that failed together, so that they do not hit the broker again at the same instant.
 */
export function exponentialBackoff(options: BackoffOptions): RetryPolicy {
  const random = options.random ?? Math.random;
  return (attempt) => {
    const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** (attempt - 1));
    return Math.floor(random() * ceiling);
  };
}
