import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { JobState } from '../db/jobs/jobs-repository.js'
import type { JobOutcome } from '../plugins/jobs/worker.js'
import { LabelledHistogram } from './histogram.js'

const HTTP_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const QUERY_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]
const JOB_SECONDS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300]

/** Label of requests that matched no route: a 404 must not add a series per URL tried. */
export const UNMATCHED_ROUTE = 'unmatched'

// The job outcomes as the metrics name them: a failed attempt is retried, a dead job is out of attempts.
const OUTCOME_LABELS: Record<JobOutcome, string> = { succeeded: 'succeeded', retried: 'failed', dead: 'dead' }

let processRegistry: Registry | undefined

/** Process and event-loop figures (CPU, memory, handles, GC, loop lag) belong to the process: collected once, shared by every app in it. */
function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/**
 * A `_total` counter read off a histogram's `_count` at scrape time: the same
 * figure under its conventional name, without a second update per event.
 */
function countOf<T extends string> (
  histogram: Histogram<T>, histogramName: string, counter: { name: string; help: string; labelNames: readonly T[]; registers: Registry[] }
): Counter<T> {
  const countName = `${histogramName}_count`
  return new Counter({
    ...counter,
    async collect () {
      this.reset()
      for (const sample of (await histogram.get()).values) {
        if (sample.metricName === countName) this.inc(sample.labels, sample.value)
      }
    }
  })
}

export const WEBHOOK_ATTEMPT_OUTCOMES = ['delivered', 'retried', 'failed'] as const
export type WebhookAttemptOutcome = typeof WEBHOOK_ATTEMPT_OUTCOMES[number]

export type QueueDepth = () => Promise<Partial<Record<JobState, number>>>

export type AppMetrics = ReturnType<typeof createMetrics>

/** The app's Prometheus metrics, in a registry of its own (two apps in one process never share counters). */
export function createMetrics () {
  const registry = new Registry()
  const registers = [registry]
  let queueDepth: QueueDepth | undefined

  // Observed once per request and once per query: our own histogram, not prom-client's (observability/histogram.ts).
  const httpDuration = new LabelledHistogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to the end of its response, by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: HTTP_SECONDS,
    counter: { name: 'http_requests_total', help: 'HTTP requests answered, by method, route template and status code' }
  })
  const jobsEnqueued = new Counter({
    name: 'taskforge_jobs_enqueued_total',
    help: 'Jobs enqueued, by type (counted at enqueue: a job whose transaction rolls back is counted too)',
    labelNames: ['type'] as const,
    registers
  })
  const jobLabels = ['type', 'outcome'] as const
  const jobDuration = new Histogram({
    name: 'taskforge_job_run_duration_seconds',
    help: 'Time a job run took, by type and outcome',
    labelNames: jobLabels,
    buckets: JOB_SECONDS,
    registers
  })
  countOf(jobDuration, 'taskforge_job_run_duration_seconds', {
    name: 'taskforge_job_runs_total',
    help: 'Job runs, by type and outcome: succeeded; failed (a retry is scheduled); dead (out of attempts)',
    labelNames: jobLabels,
    registers
  })
  // eslint-disable-next-line no-new -- prom-client's constructor registers it in `registers`, where each scrape reads it
  new Gauge({
    name: 'taskforge_jobs',
    help: 'Jobs in the queue by state (queued: waiting or scheduled for a retry; running; dead: kept for inspection), read from the database at each scrape',
    labelNames: ['state'] as const,
    registers,
    async collect () {
      if (queueDepth === undefined) return
      this.reset()
      for (const [state, count] of Object.entries(await queueDepth())) this.set({ state }, count)
    }
  })
  const queryDuration = new LabelledHistogram({
    name: 'taskforge_db_query_duration_seconds',
    help: 'Database query time, waiting for a pooled connection included, by operation, first table and outcome',
    labelNames: ['operation', 'table', 'outcome'],
    buckets: QUERY_SECONDS
  })
  // A number, read at each scrape: a prom-client gauge would look its labels up twice per query.
  let queriesInFlight = 0
  // eslint-disable-next-line no-new -- prom-client's constructor registers it in `registers`, where each scrape reads it
  new Gauge({
    name: 'taskforge_db_queries_in_flight',
    help: 'Queries running or waiting for a pooled connection',
    registers,
    collect () {
      this.set(queriesInFlight)
    }
  })
  const poolMax = new Gauge({
    name: 'taskforge_db_pool_max_connections',
    help: 'Connections the database pool may open (DB_POOL_MAX)',
    registers
  })

  const rateLimitStoreErrors = new Counter({
    name: 'taskforge_rate_limit_store_errors_total',
    help: 'Rate-limit counter operations that Redis failed, answered from this instance\'s memory instead, by limiter',
    labelNames: ['limiter'] as const,
    registers
  })

  const webhookAttempts = new Counter({
    name: 'taskforge_webhook_attempts_total',
    help: 'Webhook delivery attempts, by outcome: delivered (a 2xx); retried (failed, another attempt scheduled); failed (failed, the last attempt)',
    labelNames: ['outcome'] as const,
    registers
  })
  // Every series from 0, so that the first failure is an increase an alert sees.
  for (const outcome of WEBHOOK_ATTEMPT_OUTCOMES) webhookAttempts.inc({ outcome }, 0)

  const exposed = Registry.merge([processMetrics(), registry])

  return {
    contentType: exposed.contentType,
    /** The Prometheus text exposition of every metric. */
    render: async () => [await exposed.metrics(), ...httpDuration.render(), ...queryDuration.render()].join('\n'),
    httpRequest (method: string, route: string | undefined, statusCode: number, seconds: number): void {
      httpDuration.observe([method, route ?? UNMATCHED_ROUTE, String(statusCode)], seconds)
    },
    jobEnqueued (type: string): void {
      jobsEnqueued.inc({ type })
    },
    jobRun (type: string, outcome: JobOutcome, seconds: number): void {
      jobDuration.observe({ type, outcome: OUTCOME_LABELS[outcome] }, seconds)
    },
    webhookAttempt (outcome: WebhookAttemptOutcome): void {
      webhookAttempts.inc({ outcome })
    },
    /** Where taskforge_jobs reads the queue's depth at scrape time. */
    watchQueue (depth: QueueDepth): void {
      queueDepth = depth
    },
    databasePool (max: number): void {
      poolMax.set(max)
    },
    queryStarted (): void {
      queriesInFlight++
    },
    queryFinished (operation: string, table: string | undefined, failed: boolean, seconds: number): void {
      queriesInFlight--
      queryDuration.observe([operation, table ?? '', failed ? 'error' : 'ok'], seconds)
    },
    /** What a limiter calls when its store failed; its series starts at 0, so that the first error is an increase Prometheus sees. */
    rateLimitStoreErrorCounter (limiter: string): () => void {
      const series = rateLimitStoreErrors.labels({ limiter })
      series.inc(0)
      return () => { series.inc() }
    }
  }
}
