import fp from 'fastify-plugin'
import { jobCatalog } from '../services/jobs/catalog.js'
import { createJobHandlers } from '../services/jobs/handlers.js'
import { createJobQueue, type JobQueue } from '../services/jobs/queue.js'
import { JobWorker, type JobOutcome } from '../services/jobs/worker.js'

declare module 'fastify' {
  interface FastifyInstance {
    jobs: JobQueue<typeof jobCatalog>
    jobWorker: JobWorker<typeof jobCatalog> | null
  }
}

export interface JobsPluginOptions {
  /** Called after every job run (metrics hook in). */
  onOutcome?: (type: string, outcome: JobOutcome, durationMs: number) => void
}

const SHUTDOWN_TIMEOUT_MS = 10_000
const RETRY_MAX_MS = 3_600_000
const DONE_RETENTION_MS = 7 * 24 * 3_600_000

/**
 * The durable job channel: app.jobs.enqueue writes into the caller's
 * transaction; this instance's worker (unless JOBS_CONCURRENCY is 0) drains
 * the queue from app start until app close.
 */
export default fp<JobsPluginOptions>((app, options, done) => {
  const settings = app.config.jobs
  app.decorate('jobs', createJobQueue(jobCatalog, { sql: app.sql, maxAttempts: settings.maxAttempts }))

  const worker = settings.concurrency === 0
    ? null
    : new JobWorker({
      sql: app.sql,
      catalog: jobCatalog,
      handlers: createJobHandlers({ mailer: app.mailer }),
      log: app.log.child({ component: 'jobs' }),
      concurrency: settings.concurrency,
      pollIntervalMs: settings.pollIntervalMs,
      leaseMs: settings.leaseMs,
      backoff: { baseMs: settings.retryBaseMs, maxMs: RETRY_MAX_MS },
      timeoutMs: settings.leaseMs,
      retentionMs: DONE_RETENTION_MS,
      ...(options.onOutcome === undefined ? {} : { onOutcome: options.onOutcome })
    })
  app.decorate('jobWorker', worker)
  if (worker !== null) {
    app.addHook('onReady', () => worker.start())
    // Registered after the database, so closed before it: running jobs can still record their outcome.
    app.addHook('onClose', () => worker.close(SHUTDOWN_TIMEOUT_MS))
  }
  done()
}, { name: 'jobs', dependencies: ['config', 'db', 'mailer'] })
