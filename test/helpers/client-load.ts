import { setMaxListeners } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'

/** What one request got, as its client saw it. */
export interface Outcome {
  title: string
  /** Date.now() just before the request was sent. */
  sentAt: number
  /** The answer's status, or the error that came instead. */
  status?: number
  /**
   * Answers: the Connection header; errors: the problem type (or the start of a body
   * that is no problem, e.g. a proxy's page) and Retry-After.
   */
  connection?: string | null
  problemType?: unknown
  retryAfter?: string | null
  /** No answer: the error's code (ECONNREFUSED: nothing was sent; ECONNRESET, UND_ERR_SOCKET: sent, then cut), or "unanswered". */
  error?: string
}

export interface TaskLoad {
  outcomes: Outcome[]
  /** Outcomes with an HTTP answer so far. */
  answered: () => number
  /** Ends the loops (a client waiting out a Retry-After stops at once) and resolves when they have. */
  stop: () => Promise<void>
}

/** A request with no answer after this long counts as unanswered. */
const ANSWER_TIMEOUT_MS = 20_000
/** A client that could not connect tries again after this. */
const RECONNECT_PAUSE_MS = 20

/**
 * `clients` loops creating tasks (titled load-<client>-<n>) as fast as they
 * get answers, with fetch (undici, keep-alive: its pool reuses connections and
 * opens more as it sees fit). Each records every outcome. A client that is
 * answered 503 with Retry-After waits that long, as a client told to retry
 * should; one that cannot connect tries again shortly.
 */
export function startTaskLoad ({ baseUrl, accessToken, clients }: { baseUrl: string; accessToken: string; clients: number }): TaskLoad {
  const outcomes: Outcome[] = []
  const stopping = new AbortController()
  // Every client waiting out a Retry-After listens to it.
  setMaxListeners(clients + 10, stopping.signal)
  let answered = 0
  const client = async (index: number) => {
    for (let n = 0; !stopping.signal.aborted; n++) {
      const title = `load-${index}-${n}`
      const outcome: Outcome = { title, sentAt: Date.now() }
      let pauseMs = 0
      try {
        const response = await fetch(`${baseUrl}/tasks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
          body: JSON.stringify({ title }),
          signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS)
        })
        const body = await response.text()
        outcome.status = response.status
        outcome.connection = response.headers.get('connection')
        if (response.status >= 400) {
          outcome.retryAfter = response.headers.get('retry-after')
          outcome.problemType = response.headers.get('content-type')?.startsWith('application/problem+json') === true ? (JSON.parse(body) as { type?: unknown }).type : body.slice(0, 100)
          pauseMs = Number(outcome.retryAfter ?? 0) * 1000
        }
        answered++
      } catch (error) {
        const { name, cause } = error as Error & { cause?: { code?: string } }
        outcome.error = name === 'TimeoutError' ? 'unanswered' : cause?.code ?? String(error)
        pauseMs = RECONNECT_PAUSE_MS
      }
      outcomes.push(outcome)
      if (pauseMs > 0) await sleep(pauseMs, undefined, { signal: stopping.signal }).catch(() => undefined)
    }
  }
  const running = Promise.all(Array.from({ length: clients }, (_, index) => client(index)))
  return {
    outcomes,
    answered: () => answered,
    stop: async () => {
      stopping.abort()
      await running
    }
  }
}

/** Outcomes that are neither an HTTP answer nor a refused connection: a reset, a hang-up, no answer at all. */
export function failuresOf (outcomes: Outcome[]): string[] {
  return outcomes.filter((outcome) => outcome.error !== undefined && outcome.error !== 'ECONNREFUSED').map((outcome) => `${outcome.title}: ${String(outcome.error)}`)
}

/** How many outcomes of each kind: statuses and error codes. */
export function countOutcomes (outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const outcome of outcomes) {
    const key = outcome.error ?? String(outcome.status)
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}
