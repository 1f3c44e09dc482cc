export interface BackoffOptions {
  /** Delay before the first retry, before jitter. */
  baseMs: number
  /** Longest delay, before jitter. */
  maxMs: number
}

/**
 * Delay before retrying after the given failed attempt (1 = the first try
 * failed): doubling from baseMs up to maxMs, then "equal jitter" (a random
 * point in the upper half) so that jobs that failed together do not all come
 * back together.
 */
export function retryDelayMs (attempt: number, { baseMs, maxMs }: BackoffOptions, random: () => number = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(exponential / 2 + random() * (exponential / 2))
}
