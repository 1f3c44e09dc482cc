/**
 * The layers every request goes through, each a function from a Request to a
 * Response: the caller's fetch, then error answers turned into ApiProblem,
 * then retries of what is safe to repeat; the session (session.ts) wraps these.
 *
 * A layer may use the Request it is given once; a layer that sends more than
 * once keeps it and sends clones.
 */
import { ApiProblem } from './problem.js'

export type Fetch = (request: Request) => Promise<Response>

/** Retries of requests the server makes safe to repeat: reads, and creates that carry an Idempotency-Key. */
export interface RetryOptions {
  /** Tries in all, the first one included; 1 never retries. Default 3. */
  attempts?: number
  /** The first retry's delay in milliseconds; each later one doubles it, with jitter. Default 250. */
  baseDelayMs?: number
  /** The longest wait before one retry; an answer whose Retry-After asks for more is not retried. Default 5000. */
  maxDelayMs?: number
}

const DEFAULT_RETRY = { attempts: 3, baseDelayMs: 250, maxDelayMs: 5000 } satisfies Required<RetryOptions>
// Statuses that say "not now" rather than "not this": overloaded, unavailable, a gateway that lost its upstream.
const TRANSIENT_STATUSES = new Set([429, 502, 503, 504])

/** Sends with fetch and turns every answer outside 2xx into a rejected ApiProblem. */
export function rejectingProblems (fetch: Fetch): Fetch {
  return async (request) => {
    const response = await fetch(request)
    if (!response.ok) throw await ApiProblem.fromResponse(response)
    return response
  }
}

/**
 * Retries a request that can be repeated without doing twice what it does: a
 * GET or HEAD, or a request with an Idempotency-Key (the server answers a
 * repeat with the first answer). Retried on no answer at all (the connection
 * failed, or broke before the answer came) and on 429, 502, 503, 504.
 * Anything else, and every other request, is sent once.
 */
export function retryingSafeRequests (send: Fetch, options: RetryOptions = {}): Fetch {
  const { attempts, baseDelayMs, maxDelayMs } = { ...DEFAULT_RETRY, ...options }
  return async (request) => {
    if (!isSafeToRepeat(request)) return send(request)
    for (let attempt = 1; ; attempt++) {
      try {
        return await send(request.clone())
      } catch (error) {
        const delay = attempt < attempts ? retryDelay(error, request, attempt, baseDelayMs, maxDelayMs) : undefined
        if (delay === undefined) throw error
        await sleep(delay, request.signal)
      }
    }
  }
}

function isSafeToRepeat (request: Request): boolean {
  return request.method === 'GET' || request.method === 'HEAD' || request.headers.has('idempotency-key')
}

/** Milliseconds to wait before trying again after error, or undefined when it is not worth another try. */
function retryDelay (error: unknown, request: Request, attempt: number, baseDelayMs: number, maxDelayMs: number): number | undefined {
  if (request.signal.aborted) return undefined
  const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2))
  if (error instanceof ApiProblem) {
    if (!TRANSIENT_STATUSES.has(error.status)) return undefined
    const asked = retryAfterMs(error.headers.get('retry-after'))
    if (asked === undefined) return backoff
    return asked <= maxDelayMs ? asked : undefined
  }
  // fetch rejects with a TypeError when no answer came; an abort or a time-out is the caller's wish, not a failure.
  return error instanceof TypeError ? backoff : undefined
}

/** Retry-After in milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
function retryAfterMs (value: string | null): number | undefined {
  if (value === null) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason as Error)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
