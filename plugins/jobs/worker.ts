import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { context, SpanKind, trace, type Span, type Tracer } from '@opentelemetry/api'
import { suppressTracing } from '@opentelemetry/core'
import type { FastifyBaseLogger } from 'fastify'
import type { Sql } from '../../db/client.js'
import { createJobsRepository, JOBS_CHANNEL, type Job } from '../../db/jobs/jobs-repository.js'
import { runInLogScope } from '../../observability/log-context.js'
import { contextFromTraceparent, continueTrace, recordSpanFailure, traceLogFields } from '../../observability/tracing.js'
import { retryDelayMs, type BackoffOptions } from './backoff.js'
import type { JobCatalog, JobDefinition, JobHandlers } from './definitions.js'

export type JobOutcome = 'succeeded' | 'retried' | 'dead'

export interface WorkerOptions<C extends JobCatalog> {
  sql: Sql
  catalog: C
  handlers: JobHandlers<C>
  log: FastifyBaseLogger
  /** Jobs run at once by this worker. */
  concurrency: number
  /** How often to look for due jobs when no notification came. */
  pollIntervalMs: number
  /** How long a claim holds without renewal; renewed every third of it while the job runs. */
  leaseMs: number
  backoff: BackoffOptions
  /** Default per-run time limit for types that set none. */
  timeoutMs: number
  /** How long done jobs are kept before they are purged. */
  retentionMs: number
  /**
   * Enqueues the recurring jobs due (queue.scheduleRecurring): called at start
   * and then once a minute, by every instance's worker; the queue makes sure a
   * slot gets one job however many call it.
   */
  scheduleRecurring?: () => Promise<string[]>
  /** Called after every run, e.g. for metrics. */
  onOutcome?: (type: string, outcome: JobOutcome, durationMs: number) => void
  /** Traces each run (recurring jobs aside) as a span in the trace of the request that enqueued the job. Unset: no spans. */
  tracer?: Tracer | undefined
}

const HOUSEKEEPING_INTERVAL_MS = 60_000

/**
 * Drains the jobs table: claims due jobs in batches (SKIP LOCKED, so any
 * number of instances share one queue), runs them with bounded concurrency,
 * renews their leases while they run, and records each outcome.
 */
export class JobWorker<C extends JobCatalog> {
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  private readonly jobs
  /** Claimed jobs, each holding a slot until its outcome is recorded (for a success: until the flush that records it commits). */
  private readonly running = new Map<string, { job: Job; abort: AbortController; done: Promise<void> }>()
  /** Jobs whose handler succeeded, for the next flush to record done. */
  private pendingDone: { id: string; recorded: (ok: boolean) => void }[] = []
  /** Jobs whose handler succeeded and whose flush is pending or in flight: close() must not release them. */
  private readonly recording = new Set<string>()
  private state: 'idle' | 'started' | 'stopping' | 'stopped' = 'idle'
  private wakeUp: (() => void) | undefined
  /** Set by wake(): work may be due, so the next sleep is skipped (a notification during a claim is not lost). */
  private woken = false
  private loop: Promise<void> | undefined
  private unlisten: (() => Promise<void>) | undefined
  private lastHousekeeping = 0
  private lastReclaim = 0
  private lastScheduled = 0

  constructor (private readonly options: WorkerOptions<C>) {
    this.jobs = createJobsRepository(options.sql)
  }

  async start (): Promise<void> {
    if (this.state !== 'idle') return
    this.state = 'started'
    await this.subscribe()
    // The polling itself is not traced (a claim query every poll interval would bury everything else); each run of a job is.
    const untraced = suppressTracing(context.active())
    await context.with(untraced, () => this.scheduleRecurring())
    this.loop = context.with(untraced, () => this.run())
    this.options.log.info({ workerId: this.id, concurrency: this.options.concurrency }, 'job worker started')
  }

  /** Look for work now rather than at the next poll. */
  wake (): void {
    this.woken = true
    this.wakeUp?.()
  }

  /**
   * Stops claiming, waits up to timeoutMs for running jobs, then aborts the
   * rest and hands them back to the queue for another worker or the next start.
   * Jobs already run are recorded done before it returns (their slots wait for the flush).
   */
  async close (timeoutMs: number): Promise<void> {
    if (this.state !== 'started') return
    this.state = 'stopping'
    this.wake()
    await this.loop
    await this.unlisten?.().catch(() => undefined)
    const finished = Promise.all([...this.running.values()].map((run) => run.done))
    const timedOut = await Promise.race([finished.then(() => false), sleep(timeoutMs).then(() => true)])
    if (timedOut) {
      const unfinished = [...this.running.values()].filter((run) => !this.recording.has(run.job.id))
      for (const run of unfinished) run.abort.abort(new Error('the worker is shutting down'))
      await this.jobs.release(unfinished.map((run) => run.job.id), this.id).catch((error: unknown) => {
        this.options.log.error({ err: error }, 'could not release unfinished jobs; their leases will expire')
      })
      this.options.log.warn({ jobIds: unfinished.map((run) => run.job.id) }, 'shut down with jobs unfinished: released to the queue')
      // The aborted runs end at once; the others only wait for their flush, already under way.
      await Promise.all([...this.running.values()].map((run) => run.done))
    }
    this.state = 'stopped'
    this.options.log.info({ workerId: this.id }, 'job worker stopped')
  }

  private async run (): Promise<void> {
    while (this.state === 'started') {
      let claimed = 0
      this.woken = false
      try {
        await this.housekeeping()
        claimed = await this.claimAndStart()
      } catch (error) {
        // The database may be away for a while: log, wait a poll, try again.
        this.options.log.error({ err: error }, 'job worker could not reach the queue')
      }
      // A full batch suggests more is due: go again at once unless every slot is busy.
      const busy = this.running.size >= this.options.concurrency
      if (claimed === 0 || busy) await this.sleepUntilWoken(this.options.pollIntervalMs)
    }
  }

  private async claimAndStart (): Promise<number> {
    const free = this.options.concurrency - this.running.size
    if (free <= 0) return 0
    const claimed = await this.jobs.claim(this.id, free, this.options.leaseMs)
    for (const job of claimed) this.startRun(job)
    if (claimed.length > 0) this.options.log.debug({ count: claimed.length, workerId: this.id }, 'jobs claimed')
    return claimed.length
  }

  private startRun (job: Job): void {
    const abort = new AbortController()
    const done = this.execute(job, abort).finally(() => {
      this.running.delete(job.id)
      this.wake() // a slot is free
    })
    this.running.set(job.id, { job, abort, done })
  }

  /**
   * Runs a job in a span of its own, a child of the span that enqueued it,
   * with a logger that carries the job's ids and trace ids: the handler's
   * queries and log lines (the mailer's) belong to this run. With tracing
   * off, a job enqueued in a trace still continues it (no span, the ids only):
   * in its log lines and in the jobs it enqueues in turn.
   */
  private async execute (job: Job, abort: AbortController): Promise<void> {
    const definition = this.options.catalog[job.type]
    const { span, runContext, traceContext, log } = this.observeRun(job, definition)
    const started = performance.now()
    const stopWatching = this.watchRun(job, abort, definition, log)
    try {
      const recorded = await context.with(runContext, () =>
        runInLogScope({ log, traceContext }, () => this.runHandler(job, definition, abort)))
      if (!recorded) { // the flush failed and logged it; the job stays running until its lease expires, then runs again
        span?.setAttribute('taskforge.job.outcome', 'unrecorded')
        return
      }
      log.info({ durationMs: Math.round(performance.now() - started) }, 'job done')
      span?.setAttribute('taskforge.job.outcome', 'succeeded')
      this.options.onOutcome?.(job.type, 'succeeded', performance.now() - started)
    } catch (error) {
      if (this.state !== 'started' && abort.signal.aborted) { // released by close()
        span?.setAttribute('taskforge.job.outcome', 'released')
        return
      }
      if (span !== undefined) recordSpanFailure(span, error)
      await context.with(runContext, () => this.recordFailure(job, error, log, performance.now() - started, span))
    } finally {
      stopWatching()
      span?.end()
    }
  }

  /** The span (when traced), the context and the logger a run of this job happens in. */
  private observeRun (job: Job, definition: JobDefinition | undefined) {
    const enqueuedIn = contextFromTraceparent(job.traceparent)
    // A recurring job belongs to no request: like the rest of the queue's upkeep it is not traced (metrics and logs show its runs).
    const tracer = definition?.every === undefined ? this.options.tracer : undefined
    const span = tracer?.startSpan(`job ${job.type}`, {
      kind: SpanKind.CONSUMER,
      attributes: { 'taskforge.job.id': job.id, 'taskforge.job.type': job.type, 'taskforge.job.attempt': job.attempts }
    }, enqueuedIn)
    const runContext = span === undefined ? context.active() : trace.setSpan(enqueuedIn, span)
    const traceContext = span?.spanContext() ?? (job.traceparent === null ? undefined : continueTrace(job.traceparent))
    const log = this.options.log.child({ jobId: job.id, jobType: job.type, attempt: job.attempts, ...traceLogFields(traceContext) })
    return { span, runContext, traceContext, log }
  }

  /** Renews the job's lease while it runs and aborts it when the lease is lost or its time is up; returns what stops both. */
  private watchRun (job: Job, abort: AbortController, definition: JobDefinition | undefined, log: FastifyBaseLogger): () => void {
    const renewal = setInterval(() => {
      this.jobs.renewLease(job.id, this.id, this.options.leaseMs).then((held) => {
        if (!held) abort.abort(new Error('lost the lease on this job'))
      }, (error: unknown) => { log.warn({ err: error }, 'could not renew a job lease') })
    }, Math.max(100, Math.floor(this.options.leaseMs / 3)))
    const timeout = setTimeout(() => { abort.abort(new Error('the job ran out of time')) }, definition?.timeoutMs ?? this.options.timeoutMs)
    return () => {
      clearInterval(renewal)
      clearTimeout(timeout)
    }
  }

  /** The job's handler, then its record as done: whether that was committed. */
  private async runHandler (job: Job, definition: JobDefinition | undefined, abort: AbortController): Promise<boolean> {
    const handler = this.options.handlers[job.type]
    if (definition === undefined || handler === undefined) throw new Error(`no handler for job type "${job.type}"`)
    await raceAbort(handler(job.payload as never, { jobId: job.id, attempt: job.attempts, signal: abort.signal }), abort.signal)
    return this.recordDone(job.id)
  }

  /**
   * Queues a succeeded job to be recorded done, and resolves once that is
   * committed (true) or has failed (false, logged here). Every job that
   * succeeds in one turn of the event loop is recorded by one statement and
   * one commit, instead of one each. The flush runs in the async context of
   * the job that opened the batch: a job alone in its batch (a quiet queue)
   * has its completion traced and logged as part of its own run.
   */
  private recordDone (id: string): Promise<boolean> {
    this.recording.add(id)
    return new Promise((resolve) => {
      if (this.pendingDone.length === 0) setImmediate(() => { void this.flushDone() })
      this.pendingDone.push({ id, recorded: resolve })
    })
  }

  private async flushDone (): Promise<void> {
    const batch = this.pendingDone
    this.pendingDone = []
    const ids = batch.map((entry) => entry.id)
    let ok = true
    try {
      await this.jobs.markDone(ids, this.id)
    } catch (error) {
      // Nothing is lost: the jobs stay running under a lease no one renews, so they are requeued when it expires (at-least-once).
      ok = false
      this.options.log.error({ err: error, jobIds: ids }, 'could not record jobs done; their leases will expire and they will run again')
    }
    for (const id of ids) this.recording.delete(id)
    for (const entry of batch) entry.recorded(ok)
  }

  private async recordFailure (
    job: Job, error: unknown, log: FastifyBaseLogger, durationMs: number, span: Span | undefined
  ): Promise<void> {
    const message = error instanceof Error ? error.message : String(error)
    const lastAttempt = job.attempts >= job.maxAttempts
    const retryInMs = lastAttempt ? null : retryDelayMs(job.attempts, this.options.backoff)
    try {
      await this.jobs.markFailed(job.id, this.id, message.slice(0, 2000), retryInMs)
    } catch (recordError) {
      log.error({ err: recordError }, 'could not record a job failure; its lease will expire and it will run again')
      return
    }
    const outcome = retryInMs === null ? 'dead' : 'retried'
    span?.setAttribute('taskforge.job.outcome', outcome)
    if (retryInMs === null) log.error({ err: error, attempts: job.attempts }, 'job dead: out of attempts')
    else log.warn({ err: error, retryInMs }, 'job failed; will retry')
    this.options.onOutcome?.(job.type, outcome, durationMs)
  }

  /**
   * LISTEN for enqueue notifications. Without them the worker still finds
   * every job by polling, so a failure here is logged and retried, never fatal.
   */
  private async subscribe (): Promise<void> {
    try {
      const subscription = await this.options.sql.listen(JOBS_CHANNEL, () => { this.wake() })
      this.unlisten = () => subscription.unlisten()
    } catch (error) {
      this.options.log.warn({ err: error }, 'job worker cannot listen for notifications yet; polling meanwhile')
    }
  }

  /** Enqueues recurring jobs now due. Like LISTEN, never fatal: the next housekeeping tries again. */
  private async scheduleRecurring (): Promise<void> {
    if (this.options.scheduleRecurring === undefined) return
    this.lastScheduled = Date.now()
    try {
      const enqueued = await this.options.scheduleRecurring()
      if (enqueued.length > 0) this.options.log.debug({ types: enqueued }, 'recurring jobs enqueued')
    } catch (error) {
      this.options.log.warn({ err: error }, 'could not enqueue recurring jobs; will try again')
    }
  }

  /** Now and then: listen if not yet, requeue jobs of dead workers, purge old done jobs, enqueue recurring jobs. */
  private async housekeeping (): Promise<void> {
    if (this.unlisten === undefined) await this.subscribe()
    const now = Date.now()
    // The loop comes here once per claim, i.e. once per batch of finished jobs under load; leases run out far
    // more slowly than that, so looking for expired ones more often than this finds nothing new.
    if (now - this.lastReclaim >= Math.min(this.options.pollIntervalMs, this.options.leaseMs / 2)) {
      this.lastReclaim = now
      const reclaimed = await this.jobs.reclaimExpired()
      if (reclaimed > 0) this.options.log.warn({ count: reclaimed }, 'requeued jobs whose worker stopped (lease expired)')
    }
    if (now - this.lastScheduled >= HOUSEKEEPING_INTERVAL_MS) await this.scheduleRecurring()
    if (now - this.lastHousekeeping < HOUSEKEEPING_INTERVAL_MS) return
    this.lastHousekeeping = now
    const purged = await this.jobs.purgeFinished(this.options.retentionMs)
    if (purged > 0) this.options.log.debug({ count: purged }, 'purged finished jobs')
  }

  private async sleepUntilWoken (ms: number): Promise<void> {
    if (this.state !== 'started' || this.woken) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, ms)
      this.wakeUp = finish
      function finish (): void {
        clearTimeout(timer)
        resolve()
      }
    })
    this.wakeUp = undefined
  }
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms).unref() })
}

/** Settles with the work, or rejects when the signal aborts first (a handler that ignores its signal cannot hold the worker). */
function raceAbort<T> (work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => { reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')) }
    if (signal.aborted) { onAbort(); return }
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}
