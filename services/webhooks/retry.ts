/** Each wait is this many times the one before. */
export const RETRY_GROWTH = 4
/** The longest wait between two attempts. */
export const RETRY_MAX_MS = 6 * 3_600_000

/**
 * The wait after a delivery's `failedAttempts`-th failed attempt: baseMs,
 * then 4 times longer each time, at most 6 hours, give or take 25% (jitter,
 * so that deliveries that failed together do not all come back together).
 * With the defaults (15 s, 10 attempts): 15 s, 1 min, 4 min, 16 min, 64 min,
 * 4 h 16 min, then 6 h three times: the tenth attempt comes about 23 h 41 min
 * after the first.
 */
export function webhookRetryDelayMs (failedAttempts: number, baseMs: number, random: () => number = Math.random): number {
  const delay = Math.min(RETRY_MAX_MS, baseMs * RETRY_GROWTH ** Math.max(0, failedAttempts - 1))
  return Math.round(delay * (0.75 + random() * 0.5))
}
