import fp from 'fastify-plugin'
import { createPersonalAccessTokensRepository } from '../../db/auth/personal-access-tokens-repository.js'
import { createRefreshTokensRepository } from '../../db/auth/refresh-tokens-repository.js'
import { createJobsRepository } from '../../db/jobs/jobs-repository.js'
import { createIdempotencyRepository } from '../../db/tasks/idempotency-repository.js'
import { unitOfWork } from '../../db/transaction.js'
import { createDeliveriesRepository } from '../../db/webhooks/deliveries-repository.js'
import { createWebhooksRepository } from '../../db/webhooks/webhooks-repository.js'
import { systemClock, type Clock } from '../../services/clock.js'
import { jobCatalog, type AppJobCatalog } from '../../services/jobs/catalog.js'
import { createJobHandlers } from '../../services/jobs/handlers.js'
import { systemResolver, type HostResolver } from '../../services/webhooks/address-policy.js'
import { createWebhookDeliverer } from '../../services/webhooks/delivery.js'
import { createJobQueue, type JobQueue } from './queue.js'
import { JobWorker } from './worker.js'

/** The job channel as the app sees it: the queue of its job types, and a way to stop this instance's worker. */
export interface Jobs extends JobQueue<AppJobCatalog> {
  /**
   * Stops this instance's worker, if it runs one: it claims nothing more, its
   * running jobs get timeoutMs to finish, and the others go back to the queue.
   * The shutdown calls it as draining starts; closing the app stops it anyway.
   */
  stopWorker: (timeoutMs: number) => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** enqueue(type, payload), or within(tx).enqueue in a transaction of yours; stopWorker at shutdown. */
    jobs: Jobs
  }
}

export interface JobsPluginOptions {
  /** The time jobs see (what has expired); tests move it, as they do the services'. */
  clock?: Clock
  /** How webhook deliveries resolve host names (the system's resolver by default); tests inject one. */
  resolveHost?: HostResolver
}

const SHUTDOWN_TIMEOUT_MS = 10_000
/** Longest wait between two attempts of a job. */
export const RETRY_MAX_MS = 3_600_000
/** How long a done job stays in the table. */
export const DONE_RETENTION_MS = 7 * 24 * 3_600_000

/**
 * The durable job channel: decorates app.jobs, the queue (which writes into
 * the caller's transaction) and stopWorker; this instance's worker (unless
 * JOBS_CONCURRENCY is 0) drains the queue from app start until app close, and
 * enqueues the recurring jobs (the hourly purge-expired) when their time
 * comes. The app's jobs (services/jobs/) send mail through app.mailer, purge
 * with the auth, tasks and webhooks repositories, and deliver webhooks.
 */
export default fp<JobsPluginOptions>(async (app, { clock = systemClock, resolveHost = systemResolver }) => {
  const settings = app.config.jobs
  const { metrics, tracer, log } = app.observability
  const queue = createJobQueue(jobCatalog, {
    sql: app.sql,
    maxAttempts: settings.maxAttempts,
    onEnqueued: (type) => { metrics.jobEnqueued(type) }
  })
  const repository = createJobsRepository(app.sql)
  metrics.watchQueue(async () => {
    try {
      return await repository.countUnfinished()
    } catch (error) {
      log.warn({ err: error }, 'metrics: could not count the jobs in the queue')
      return {}
    }
  })

  const webhooks = app.config.webhooks
  const deliverWebhook = createWebhookDeliverer({
    inTransaction: unitOfWork(app.sql, (tx) => ({
      deliveries: createDeliveriesRepository(tx), webhooks: createWebhooksRepository(tx), jobs: queue.within(tx)
    })),
    policy: { allowPrivate: webhooks.allowPrivateUrls, resolve: resolveHost },
    settings: webhooks,
    clock,
    log,
    onAttempt: (outcome) => { metrics.webhookAttempt(outcome) }
  })

  const worker = settings.concurrency === 0
    ? null
    : new JobWorker({
      sql: app.sql,
      catalog: jobCatalog,
      handlers: createJobHandlers({
        mailer: app.mailer,
        refreshTokens: createRefreshTokensRepository(app.sql),
        personalAccessTokens: createPersonalAccessTokensRepository(app.sql),
        idempotencyKeys: createIdempotencyRepository(app.sql),
        webhookDeliveries: createDeliveriesRepository(app.sql),
        deliverWebhook,
        clock,
        log
      }),
      scheduleRecurring: () => queue.scheduleRecurring(),
      tracer,
      log: app.log.child({ component: 'jobs' }),
      concurrency: settings.concurrency,
      prefetch: settings.prefetch,
      pollIntervalMs: settings.pollIntervalMs,
      leaseMs: settings.leaseMs,
      backoff: { baseMs: settings.retryBaseMs, maxMs: RETRY_MAX_MS },
      timeoutMs: settings.leaseMs,
      retentionMs: DONE_RETENTION_MS,
      onOutcome: (type, outcome, durationMs) => { metrics.jobRun(type, outcome, durationMs / 1000) }
    })
  app.decorate('jobs', { ...queue, stopWorker: async (timeoutMs: number) => { await worker?.close(timeoutMs) } })
  if (worker !== null) {
    app.addHook('onReady', () => worker.start())
    // Registered after the database, so closed before it: running jobs can still record their outcome.
    app.addHook('onClose', () => worker.close(SHUTDOWN_TIMEOUT_MS))
  }
}, { name: 'jobs', dependencies: ['config', 'observability', 'db', 'mailer'] })
