/** The HTTP scenarios and one autocannon run against one server. */
import autocannon from 'autocannon'
import type { Seed } from './seed.js'
import { round, watchDatabase, watchResources, type ResourceUse, type ServerHandle } from './support.js'

/** taskforge as the bench runs it, one of its variants, or the bare twin. */
export type Target = 'taskforge' | VariantId | 'baseline'

export interface ScenarioContext {
  seed: Seed
  readerToken: string
  writerToken: string
  /** The hooked user's: their task changes each go to a webhook (bench/webhooks.ts). */
  hookedToken: string
  /**
   * A personal access token of the reader's (tasks:read), for the PAT
   * variant; undefined on a build without them (POST /auth/tokens, issue 14).
   */
  readerPersonalToken?: string | undefined
  /** GET /tasks?status=todo&priority=high: the cursor of page `FILTERED_PAGE`, and where the page before it ended (for the baseline). */
  filteredCursor: { cursor: string; afterCreatedAt: string; afterId: string }
}

export interface Scenario {
  id: string
  title: string
  /** Has a twin on the bare baseline server. */
  baseline: boolean
  /** Everything autocannon sends, for taskforge or its twin; a variant changes the headers (requestsFor). */
  requests: (context: ScenarioContext, target: 'taskforge' | 'baseline') => autocannon.Request[]
}

export type VariantId = 'taskforge-redis' | 'taskforge-traceparent' | 'taskforge-pat'

/**
 * taskforge with something more that a production deployment may have,
 * measured on the scenarios with a baseline twin, beside that twin, in the
 * same repetitions: reported, without a target (issue 19).
 */
export interface Variant {
  id: VariantId
  title: string
  /** A server of its own, started with this on top of the standard environment; otherwise the standard server. */
  ownServer: boolean
  /** What each request carries instead of, or beside, the scenario's own headers; undefined: the variant cannot run it. */
  headers: (context: ScenarioContext, scenarioHeaders: Record<string, string>) => Record<string, string> | undefined
}

/** A W3C traceparent: a sampled trace the caller started. With tracing off (no exporter), the app only continues its ids. */
export const BENCH_TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

export const VARIANTS: Variant[] = [
  {
    id: 'taskforge-redis',
    title: 'REDIS_URL set: rate limits counted in Redis',
    ownServer: true,
    headers: (_context, headers) => headers
  },
  {
    id: 'taskforge-traceparent',
    title: 'a traceparent header on every request, tracing off (no exporter)',
    ownServer: false,
    headers: (_context, headers) => ({ ...headers, traceparent: BENCH_TRACEPARENT })
  },
  {
    id: 'taskforge-pat',
    title: 'a personal access token instead of a session\'s access token',
    ownServer: false,
    // Only where the scenario authenticates, and only on a build that has personal access tokens.
    headers: ({ readerPersonalToken }, headers) =>
      readerPersonalToken === undefined || headers.authorization === undefined ? undefined : { ...headers, authorization: `Bearer ${readerPersonalToken}` }
  }
]

/** What autocannon sends for a scenario to a target; undefined when a variant does not apply to it. */
export function requestsFor (scenario: Scenario, context: ScenarioContext, target: Target): autocannon.Request[] | undefined {
  if (target === 'taskforge' || target === 'baseline') return scenario.requests(context, target)
  const variant = VARIANTS.find((entry) => entry.id === target)
  const requests = scenario.requests(context, 'taskforge').map((request) => {
    const headers = variant?.headers(context, request.headers ?? {})
    return headers === undefined ? undefined : { ...request, headers }
  })
  return requests.every((request) => request !== undefined) ? requests : undefined
}

/** The page of the filtered list that the cursor scenario reads (1-based). */
export const FILTERED_PAGE = 10
export const FILTERED_QUERY = 'status=todo&priority=high'

const json = { 'content-type': 'application/json' }
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** One request entry whose path walks through `paths` in turn, shared by every connection. */
function rotating (method: string, paths: string[], headers: Record<string, string>, body?: string): autocannon.Request[] {
  let next = 0
  return [{
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    setupRequest: (request) => {
      const path = paths[next % paths.length]
      next += 1
      return { ...request, path: path ?? '/' }
    }
  }]
}

export const SCENARIOS: Scenario[] = [
  {
    id: 'health-live',
    title: 'GET /health/live (framework floor)',
    baseline: true,
    requests: () => [{ method: 'GET', path: '/health/live' }]
  },
  {
    id: 'tasks-list',
    title: 'GET /tasks (first page, 20 items)',
    baseline: true,
    requests: ({ readerToken }) => [{ method: 'GET', path: '/tasks', headers: bearer(readerToken) }]
  },
  {
    id: 'tasks-list-filtered',
    title: `GET /tasks?${FILTERED_QUERY} (page ${FILTERED_PAGE}, by cursor)`,
    baseline: true,
    requests: ({ readerToken, filteredCursor }, target) => [{
      method: 'GET',
      path: target === 'taskforge'
        ? `/tasks?${FILTERED_QUERY}&cursor=${encodeURIComponent(filteredCursor.cursor)}`
        : `/tasks?${FILTERED_QUERY}&afterCreatedAt=${encodeURIComponent(filteredCursor.afterCreatedAt)}&afterId=${filteredCursor.afterId}`,
      headers: bearer(readerToken)
    }]
  },
  {
    id: 'tasks-get',
    title: 'GET /tasks/:id (1,000 ids in turn)',
    baseline: true,
    requests: ({ readerToken, seed }) => rotating('GET', seed.readerTaskIds.map((id) => `/tasks/${id}`), bearer(readerToken))
  },
  {
    id: 'tasks-create',
    title: 'POST /tasks',
    baseline: false,
    requests: ({ writerToken }) => [{
      method: 'POST',
      path: '/tasks',
      headers: { ...json, ...bearer(writerToken) },
      body: JSON.stringify({ title: 'Written by the benchmark', description: 'A task of the benchmark', priority: 'high', tags: ['bench', 'load'] })
    }]
  },
  {
    id: 'tasks-patch',
    title: 'PATCH /tasks/:id (1,000 ids in turn)',
    baseline: false,
    requests: ({ writerToken, seed }) => rotating('PATCH', seed.writerTaskIds.map((id) => `/tasks/${id}`), { ...json, ...bearer(writerToken) },
      JSON.stringify({ title: 'Changed by the benchmark', priority: 'low' }))
  },
  {
    id: 'tasks-patch-webhook',
    title: 'PATCH /tasks/:id, one webhook subscribed (1,000 ids in turn)',
    baseline: false,
    requests: ({ hookedToken, seed }) => rotating('PATCH', seed.hookedTaskIds.map((id) => `/tasks/${id}`), { ...json, ...bearer(hookedToken) },
      JSON.stringify({ title: 'Changed by the benchmark', priority: 'low' }))
  },
  {
    id: 'auth-login',
    title: 'POST /auth/login (argon2id verify)',
    baseline: false,
    requests: ({ seed }) => [{
      method: 'POST',
      path: '/auth/login',
      headers: json,
      body: JSON.stringify({ email: seed.reader.email, password: seed.reader.password })
    }]
  }
]

export interface HttpRun extends ResourceUse {
  scenario: string
  target: Target
  connections: number
  repetition: number
  durationSeconds: number
  requests: number
  requestsPerSecond: number
  latencyMs: { average: number; p50: number; p90: number; p99: number; max: number }
  errors: number
  timeouts: number
  non2xx: number
  statusCodes: Record<string, number>
  /** Lines the server logged (at warn or above) during the run. */
  serverWarnings: number
  /** Server CPU time per answered request: what a request costs the server, whatever else the machine does. */
  cpuMicrosPerRequest: number | null
  /** CPU time of the database's PostgreSQL backends per request. */
  databaseCpuMicrosPerRequest: number | null
}

/** One autocannon run: `durationSeconds` of `connections` connections, nothing pipelined. */
export async function measure (
  server: ServerHandle, requests: autocannon.Request[],
  { scenario, target, connections, repetition, durationSeconds, database }: {
    scenario: string
    target: Target
    connections: number
    repetition: number
    durationSeconds: number
    /** Its PostgreSQL backends' CPU is counted too. */
    database: string
  }
): Promise<HttpRun> {
  const warningsBefore = server.warnings()
  const resources = watchResources(server.pid)
  const databaseUse = watchDatabase(database)
  let result: autocannon.Result
  let used: ResourceUse
  let databaseSeconds: number
  try {
    result = await autocannon({ url: server.url, connections, duration: durationSeconds, pipelining: 1, timeout: 10, requests })
  } finally {
    used = resources.stop()
    databaseSeconds = databaseUse.stop()
  }
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]))
  return {
    scenario,
    target,
    connections,
    repetition,
    durationSeconds: result.duration,
    requests: result.requests.total,
    requestsPerSecond: round(result['2xx'] / result.duration),
    latencyMs: {
      average: round(result.latency.average, 2),
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max
    },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
    serverWarnings: server.warnings() - warningsBefore,
    cpuMicrosPerRequest: used.cpuSeconds === null || result.requests.total === 0
      ? null
      : round(used.cpuSeconds / result.requests.total * 1e6),
    databaseCpuMicrosPerRequest: result.requests.total === 0 ? null : round(databaseSeconds / result.requests.total * 1e6),
    ...used
  }
}
