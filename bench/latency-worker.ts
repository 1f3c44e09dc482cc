/**
 * The worker of the latency benchmark (bench/latency.ts), in a process of its
 * own: taskforge's JobWorker, built as plugins/jobs/index.ts builds it, with the
 * app's catalog and JOBS_* defaults (concurrency, poll interval, lease). The
 * welcome job's handler tells the parent when it starts; it sends no email.
 * Busy mode adds a job type whose every run enqueues its successor.
 *
 * Settings come as JSON in BENCH_LATENCY_WORKER.
 */
import { Type } from '@sinclair/typebox'
import pino from 'pino'
import { createSql } from '../db/client.js'
import { instrumentSql } from '../db/instrumented-sql.js'
import { createQueryObserver } from '../observability/database.js'
import { createMetrics } from '../observability/metrics.js'
import { DONE_RETENTION_MS, RETRY_MAX_MS } from '../plugins/jobs/index.js'
import { createJobQueue } from '../plugins/jobs/queue.js'
import { JobWorker } from '../plugins/jobs/worker.js'
import { jobCatalog } from '../services/jobs/catalog.js'
import { appJobSettings } from './jobs.js'
import type { LatencyParentMessage, LatencyWorkerMessage, LatencyWorkerSettings } from './latency.js'

const CHAIN_JOB_TYPE = 'bench-chain'

function send (message: LatencyWorkerMessage, sent?: () => void): void {
  process.send?.(message, undefined, {}, () => sent?.())
}

const settings = JSON.parse(process.env.BENCH_LATENCY_WORKER ?? '{}') as LatencyWorkerSettings
const log = pino({ level: 'warn' })
const metrics = createMetrics()
const sql = instrumentSql(
  createSql(settings.databaseUrl, { poolMax: settings.poolMax, statementTimeoutMs: 10_000, log }),
  createQueryObserver({ tracer: undefined, metrics, log })
)
const catalog = { ...jobCatalog, [CHAIN_JOB_TYPE]: { payload: Type.Object({ chain: Type.Integer() }, { additionalProperties: false }) } }
const queue = createJobQueue(catalog, { sql, maxAttempts: appJobSettings.maxAttempts })

let chaining = settings.mode === 'busy'
let chainJobsRun = 0
/** Busy: ready once the chains have gone round a few times, i.e. the worker is in its steady state. */
let steady: (() => void) | undefined
const steadyAfter = settings.chains * 4
/** Idle: the one welcome job running, for "finished". */
let currentUserId: string | undefined

const worker = new JobWorker({
  sql,
  catalog,
  handlers: {
    'welcome-email': (payload) => {
      const atNs = process.hrtime.bigint()
      currentUserId = payload.userId
      send({ kind: 'started', userId: payload.userId, atNs: atNs.toString() })
      return Promise.resolve()
    },
    'purge-expired': () => Promise.resolve(),
    'webhook-delivery': () => Promise.resolve(),
    'webhook-disabled-email': () => Promise.resolve(),
    [CHAIN_JOB_TYPE]: async (payload: { chain: number }) => {
      chainJobsRun += 1
      if (chainJobsRun >= steadyAfter) steady?.()
      if (chaining) await queue.enqueue(CHAIN_JOB_TYPE, { chain: payload.chain })
    }
  },
  log,
  concurrency: appJobSettings.concurrency,
  pollIntervalMs: appJobSettings.pollIntervalMs,
  leaseMs: appJobSettings.leaseMs,
  backoff: { baseMs: appJobSettings.retryBaseMs, maxMs: RETRY_MAX_MS },
  timeoutMs: appJobSettings.leaseMs,
  retentionMs: DONE_RETENTION_MS,
  onOutcome: (type, outcome, durationMs) => {
    metrics.jobRun(type, outcome, durationMs / 1000)
    if (type !== 'welcome-email') return
    if (outcome !== 'succeeded') {
      process.stderr.write(`latency worker: a welcome job ${outcome}\n`)
      process.exit(1)
    }
    if (settings.mode === 'idle' && currentUserId !== undefined) send({ kind: 'finished', userId: currentUserId })
  }
})

await worker.start()
if (settings.mode === 'busy') {
  const reached = new Promise<void>((resolve) => { steady = resolve })
  for (let chain = 0; chain < settings.chains; chain += 1) await queue.enqueue(CHAIN_JOB_TYPE, { chain })
  await reached
}
// The only message is "stop" (LatencyParentMessage).
process.once('message', (_message: LatencyParentMessage) => {
  chaining = false
  worker.close(10_000).then(async () => {
    await sql.end({ timeout: 5 })
    send({ kind: 'report', chainJobsRun }, () => { process.disconnect() })
  }, (error: unknown) => {
    process.stderr.write(`latency worker failed to stop: ${String(error)}\n`)
    process.exit(1)
  })
})
send({ kind: 'ready' })
