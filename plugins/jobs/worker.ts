import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { context, SpanKind, trace, type Span, type Tracer } from '@opentelemetry/api'
import { suppressTracing } from '@opentelemetry/core'
import type { FastifyBaseLogger } from 'fastify'
import type { Sql } from '../../db/client.js'
import { createJobsRepository, JOBS_CHANNEL, type ClaimedJob } from '../../db/jobs/jobs-repository.js'
import { runInLogScope, type LogScope } from '../../observability/log-context.js'
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
  /**
   * Jobs claimed ahead, waiting in this worker for a free slot (0: none, a
   * job is claimed only for a free slot). With many short jobs the next batch
   * is then claimed while this one runs, instead of after it. Their leases are
   * renewed as the running jobs' are; one is started only while its lease
   * outlasts the next renewal, and the ones still waiting at close() are
   * handed back. A crash costs them an attempt, as it does the running ones.
   */
  prefetch?: number
  /** How often to look for due jobs when no notification came. */
  pollIntervalMs: number
  /** How long a claim holds without renewal; renewed every third of it while the job is held. */
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
const INFO_ENABLED = new Set(['trace', 'debug', 'info'])

/**
 * Drains the jobs table: claims due jobs in batches (SKIP LOCKED, so any
 * number of instances share one queue), runs them with bounded concurrency,
 * renews the leases of the jobs it holds, and records each outcome.
 *
 * A job is held from its claim until its outcome is recorded: waiting for a
 * slot (prefetched), running (a slot taken until its handler settles), then
 * being recorded (successes of one turn of the event loop in one statement).
 * One timer renews every held job's lease in one statement.
 */
export class JobWorker<C extends JobCatalog> {
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  private readonly jobs
  private readonly prefetch: number
  /**
   * Every job this worker holds, with the time (performance.now()) until which
   * its lease surely holds: counted from when the claim or renewal was sent.
   */
  private readonly held = new Map<string, number>()
  /** Claimed, waiting for a slot, oldest first. */
  private prefetched: ClaimedJob[] = []
  /** Handlers in progress: each holds a slot. */
  private readonly running = new Map<string, Run>()
  /** Runs started this turn, whose time-out timers are armed at the next one if they still run. */
  private unarmed: Run[] = []
  /** Runs not yet over (outcome not recorded yet): close() waits for them. */
  private unsettled = 0
  private onSettled: (() => void) | undefined
  private onSlotsEmpty: (() => void) | undefined
  /** Jobs whose handler succeeded, for the next flush to record done. */
  private pendingDone: { id: string; recorded: (ok: boolean) => void }[] = []
  private state: 'idle' | 'started' | 'stopping' | 'stopped' = 'idle'
  /**
   * Due jobs may be waiting in the table: set by a notification, the poll
   * interval and a claim that got all it asked for; cleared as a claim goes
   * out, so that a notification during the claim is not lost.
   */
  private due = true
  private wakeUp: (() => void) | undefined
  /** Set by wake(): the next sleep is skipped. */
  private woken = false
  private wakeScheduled = false
  private fillScheduled = false
  private loop: Promise<void> | undefined
  private unlisten: (() => Promise<void>) | undefined
  private renewal: NodeJS.Timeout | undefined
  private renewing = false
  /** Hand-backs of jobs whose lease ran short, under way: close() waits for them. */
  private readonly handingBack = new Set<Promise<void>>()
  private lastHousekeeping = 0
  private lastReclaim = 0
  private lastScheduled = 0

  constructor (private readonly options: WorkerOptions<C>) {
    this.jobs = createJobsRepository(options.sql)
    this.prefetch = options.prefetch ?? 0
  }

  async start (): Promise<void> {
    if (this.state !== 'idle') return
    this.state = 'started'
    await this.subscribe()
    // The polling itself is not traced (a claim query every poll interval would bury everything else); each run of a job is.
    const untraced = suppressTracing(context.active())
    await context.with(untraced, () => this.scheduleRecurring())
    if (this.closing()) return // close() came meanwhile
    const renewEveryMs = Math.max(100, Math.floor(this.options.leaseMs / 3))
    this.renewal = setInterval(() => { context.with(untraced, () => { void this.renewLeases() }) }, renewEveryMs)
    this.loop = context.with(untraced, () => this.run())
    this.options.log.info({ workerId: this.id, concurrency: this.options.concurrency, prefetch: this.prefetch }, 'job worker started')
  }

  private closing (): boolean {
    return this.state !== 'started'
  }

  /** Look for work now rather than at the next poll. */
  wake (): void {
    this.due = true
    this.resume()
  }

  /**
   * Stops claiming, hands back the jobs still waiting for a slot, waits up to
   * timeoutMs for running jobs, then aborts the rest and hands them back to
   * the queue for another worker or the next start. Jobs already run are
   * recorded done before it returns.
   */
  async close (timeoutMs: number): Promise<void> {
    if (this.state !== 'started') return
    this.state = 'stopping'
    this.resume()
    await this.loop
    const waiting = this.prefetched
    this.prefetched = []
    await this.handBack(waiting.map((job) => job.id), 'could not hand back jobs claimed ahead; their leases will expire')
    await this.unlisten?.().catch(() => undefined)
    const slotsEmpty = this.running.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => { this.onSlotsEmpty = resolve })
    const timedOut = await Promise.race([slotsEmpty.then(() => false), sleep(timeoutMs).then(() => true)])
    if (timedOut) {
      const unfinished = [...this.running.values()]
      for (const run of unfinished) run.abort(new Error('the worker is shutting down'))
      const ids = unfinished.map((run) => run.job.id)
      await this.handBack(ids, 'could not release unfinished jobs; their leases will expire')
      this.options.log.warn({ jobIds: ids }, 'shut down with jobs unfinished: released to the queue')
    }
    // The aborted runs end at once; the others only wait for their outcome to be recorded.
    if (this.unsettled > 0) await new Promise<void>((resolve) => { this.onSettled = resolve })
    await Promise.all(this.handingBack)
    clearInterval(this.renewal)
    this.state = 'stopped'
    this.options.log.info({ workerId: this.id }, 'job worker stopped')
  }

  private async run (): Promise<void> {
    while (this.state === 'started') {
      this.woken = false
      let failed = false
      try {
        await this.keepHouse()
        if (this.due && this.roomToClaim() > 0) await this.claim()
      } catch (error) {
        // The database may be away for a while: log, wait a poll, try again.
        failed = true
        this.due = true
        this.options.log.error({ err: error }, 'job worker could not reach the queue')
      }
      if (failed || !this.due || this.roomToClaim() === 0) {
        const polled = await this.sleepUntilWoken(this.options.pollIntervalMs)
        if (polled) this.due = true
      }
    }
  }

  /**
   * How many jobs to claim now: 0 while jobs claimed ahead would still wait
   * after the free slots take theirs; else the free slots' worth, or a
   * prefetch's worth when that is more, within concurrency + prefetch held.
   */
  private roomToClaim (): number {
    const freeSlots = this.options.concurrency - this.running.size - this.prefetched.length
    if (freeSlots < 0) return 0
    const room = this.options.concurrency + this.prefetch - this.running.size - this.prefetched.length
    return Math.min(room, Math.max(this.prefetch, freeSlots))
  }

  private async claim (): Promise<void> {
    const limit = this.roomToClaim()
    this.due = false
    const sentAt = performance.now()
    const claimed = await this.jobs.claim(this.id, limit, this.options.leaseMs)
    if (claimed.length === limit) this.due = true // a full batch suggests more is due
    if (claimed.length === 0) return
    const leaseUntil = sentAt + this.options.leaseMs
    for (const job of claimed) this.held.set(job.id, leaseUntil)
    this.prefetched.push(...claimed)
    this.options.log.debug({ count: claimed.length, workerId: this.id }, 'jobs claimed')
    // Started after the next claim, if there is room for one, has gone out
    // (postgres.js writes a query at the next setImmediate): the database
    // works on it while these run.
    if (!this.fillScheduled) {
      this.fillScheduled = true
      setImmediate(() => setImmediate(() => {
        this.fillScheduled = false
        this.fillSlots()
      }))
    }
  }

  /** Starts waiting jobs in the free slots; a job whose lease would not outlast the next renewal is handed back instead. */
  private fillSlots (): void {
    if (this.state !== 'started') return
    const renewalMs = this.options.leaseMs / 3
    let stale: string[] | undefined
    const now = performance.now()
    while (this.running.size < this.options.concurrency) {
      const job = this.prefetched.shift()
      if (job === undefined) break
      const leaseUntil = this.held.get(job.id)
      if (leaseUntil === undefined || leaseUntil - now < renewalMs) {
        // Its lease may lapse before it is renewed, and another worker would run it too.
        (stale ??= []).push(job.id)
        this.held.delete(job.id)
        continue
      }
      this.startRun(job)
    }
    if (stale !== undefined) {
      this.options.log.warn({ jobIds: stale }, 'jobs claimed ahead held no lease long enough to start: handed back')
      const handing = this.handBack(stale, 'could not hand back jobs whose lease ran short; they will run once it expires')
      this.handingBack.add(handing)
      void handing.finally(() => this.handingBack.delete(handing))
    }
    if (this.due && this.roomToClaim() > 0) this.resume()
  }

  private startRun (job: ClaimedJob): void {
    const timeoutMs = this.options.catalog[job.type]?.timeoutMs ?? this.options.timeoutMs
    const run = new Run(job, performance.now() + timeoutMs)
    this.running.set(job.id, run)
    this.unsettled += 1
    // Its time-out is armed at the next turn of the event loop if it still runs then: a job done at once needs no timer.
    if (this.unarmed.length === 0) setImmediate(() => { this.armTimeouts() })
    this.unarmed.push(run)
    void this.execute(run)
  }

  /** The run is over, its outcome recorded (or left to its lease): the job is no longer held. */
  private settled (run: Run): void {
    this.held.delete(run.job.id)
    this.unsettled -= 1
    if (this.unsettled === 0) this.onSettled?.()
  }

  private armTimeouts (): void {
    const runs = this.unarmed
    this.unarmed = []
    const now = performance.now()
    for (const run of runs) {
      if (this.running.get(run.job.id) !== run) continue
      run.timer = setTimeout(() => { run.abort(new Error('the job ran out of time')) }, Math.max(0, run.deadline - now))
    }
  }

  /** The handler settled: its slot goes to the next waiting job, or to the next claim. */
  private freeSlot (run: Run): void {
    clearTimeout(run.timer)
    if (this.running.get(run.job.id) !== run) return
    this.running.delete(run.job.id)
    if (this.state !== 'started') {
      if (this.running.size === 0) this.onSlotsEmpty?.()
      return
    }
    if (this.prefetched.length > 0 && !this.fillScheduled) this.fillSlots()
    else if (this.due && this.roomToClaim() > 0) this.resume()
  }

  /**
   * Runs a job in a span of its own, a child of the span that enqueued it,
   * with a logger that carries the job's ids and trace ids: the handler's
   * queries and log lines (the mailer's) belong to this run. With tracing
   * off, a job enqueued in a trace still continues it (no span, the ids only):
   * in its log lines and in the jobs it enqueues in turn.
   */
  private async execute (run: Run): Promise<void> {
    const { job } = run
    const definition = this.options.catalog[job.type]
    const { span, runContext, scope } = this.observeRun(job, definition)
    const started = performance.now()
    try {
      const recorded = await context.with(runContext, () => runInLogScope(scope, () => this.runHandler(run, definition)))
      if (!recorded) { // the flush failed and logged it; the job stays running until its lease expires, then runs again
        span?.setAttribute('taskforge.job.outcome', 'unrecorded')
        return
      }
      if (INFO_ENABLED.has(this.options.log.level)) scope.log.info({ durationMs: Math.round(performance.now() - started) }, 'job done')
      span?.setAttribute('taskforge.job.outcome', 'succeeded')
      this.options.onOutcome?.(job.type, 'succeeded', performance.now() - started)
    } catch (error) {
      if (this.state !== 'started' && run.aborted) { // released by close()
        span?.setAttribute('taskforge.job.outcome', 'released')
        return
      }
      if (span !== undefined) recordSpanFailure(span, error)
      await context.with(runContext, () => this.recordFailure(job, error, scope.log, performance.now() - started, span))
    } finally {
      span?.end()
      this.settled(run)
    }
  }

  /** The span (when traced), the context and the log scope a run of this job happens in. */
  private observeRun (job: ClaimedJob, definition: JobDefinition | undefined) {
    const enqueuedIn = contextFromTraceparent(job.traceparent)
    // A recurring job belongs to no request: like the rest of the queue's upkeep it is not traced (metrics and logs show its runs).
    const tracer = definition?.every === undefined ? this.options.tracer : undefined
    const span = tracer?.startSpan(`job ${job.type}`, {
      kind: SpanKind.CONSUMER,
      attributes: { 'taskforge.job.id': job.id, 'taskforge.job.type': job.type, 'taskforge.job.attempt': job.attempts }
    }, enqueuedIn)
    const runContext = span === undefined ? context.active() : trace.setSpan(enqueuedIn, span)
    const traceContext = span?.spanContext() ?? (job.traceparent === null ? undefined : continueTrace(job.traceparent))
    // The run's logger is made the first time something logs through it: most runs of a quiet job log nothing.
    const base = this.options.log
    let runLog: FastifyBaseLogger | undefined
    const scope: LogScope = {
      get log () {
        return (runLog ??= base.child({ jobId: job.id, jobType: job.type, attempt: job.attempts, ...traceLogFields(traceContext) }))
      },
      traceContext
    }
    return { span, runContext, scope }
  }

  /** The job's handler, its slot freed as soon as it settles, then its record as done: whether that was committed. */
  private async runHandler (run: Run, definition: JobDefinition | undefined): Promise<boolean> {
    const { job } = run
    try {
      const handler = this.options.handlers[job.type]
      if (definition === undefined || handler === undefined) throw new Error(`no handler for job type "${job.type}"`)
      await run.outcome(handler(job.payload, run.handlerContext()))
    } finally {
      this.freeSlot(run)
    }
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
      for (const id of ids) this.held.delete(id)
      this.options.log.error({ err: error, jobIds: ids }, 'could not record jobs done; their leases will expire and they will run again')
    }
    for (const entry of batch) entry.recorded(ok)
  }

  private async recordFailure (
    job: ClaimedJob, error: unknown, log: FastifyBaseLogger, durationMs: number, span: Span | undefined
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
   * Renews the lease of every job held, in one statement. A running job whose
   * lease was lost (it ran out and another worker requeued the job) is
   * aborted; a waiting one is dropped. If the renewal fails, the leases run
   * on: waiting jobs whose lease runs short are not started (fillSlots).
   */
  private async renewLeases (): Promise<void> {
    if (this.renewing || this.held.size === 0) return
    this.renewing = true
    const ids = [...this.held.keys()]
    const sentAt = performance.now()
    try {
      const kept = new Set(await this.jobs.renewLeases(ids, this.id, this.options.leaseMs))
      const leaseUntil = sentAt + this.options.leaseMs
      for (const id of ids) {
        if (kept.has(id)) {
          if (this.held.has(id)) this.held.set(id, leaseUntil)
          continue
        }
        // Recorded meanwhile, or lost.
        if (!this.held.delete(id)) continue
        this.running.get(id)?.abort(new Error('lost the lease on this job'))
      }
      if (this.prefetched.some((job) => !this.held.has(job.id))) this.prefetched = this.prefetched.filter((job) => this.held.has(job.id))
    } catch (error) {
      this.options.log.warn({ err: error }, 'could not renew job leases')
    } finally {
      this.renewing = false
    }
  }

  /** Hands jobs back to the queue, their attempt not counted; if that fails, their leases expire and they are requeued then. */
  private async handBack (ids: string[], failure: string): Promise<void> {
    if (ids.length === 0) return
    for (const id of ids) this.held.delete(id)
    await this.jobs.release(ids, this.id).catch((error: unknown) => {
      this.options.log.error({ err: error, jobIds: ids }, failure)
    })
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

  /**
   * Now and then, before a claim: listen if not yet, requeue jobs of dead
   * workers, purge old done jobs, enqueue recurring jobs. (Run beside the
   * claims instead, it took a second connection of the pool, shared with the
   * app's requests, for a round trip saved every poll interval.)
   */
  private async keepHouse (): Promise<void> {
    if (this.unlisten === undefined) await this.subscribe()
    const now = Date.now()
    // The loop comes here once per claim, i.e. once per batch of finished jobs under load; leases run out far
    // more slowly than that, so looking for expired ones more often than this finds nothing new.
    if (now - this.lastReclaim >= Math.min(this.options.pollIntervalMs, this.options.leaseMs / 2)) {
      this.lastReclaim = now
      const reclaimed = await this.jobs.reclaimExpired()
      if (reclaimed > 0) {
        this.due = true
        this.options.log.warn({ count: reclaimed }, 'requeued jobs whose worker stopped (lease expired)')
      }
    }
    if (now - this.lastScheduled >= HOUSEKEEPING_INTERVAL_MS) await this.scheduleRecurring()
    if (now - this.lastHousekeeping < HOUSEKEEPING_INTERVAL_MS) return
    this.lastHousekeeping = now
    const purged = await this.jobs.purgeFinished(this.options.retentionMs)
    if (purged > 0) this.options.log.debug({ count: purged }, 'purged finished jobs')
  }

  /**
   * Ends the loop's sleep, at the end of this turn of the event loop: slots
   * freed together (a batch of short jobs) make one claim, not one each.
   */
  private resume (): void {
    this.woken = true
    if (this.wakeScheduled || this.wakeUp === undefined) return
    this.wakeScheduled = true
    setImmediate(() => {
      this.wakeScheduled = false
      this.wakeUp?.()
    })
  }

  /** Sleeps until resume() or ms; true if the time ran out. */
  private async sleepUntilWoken (ms: number): Promise<boolean> {
    if (this.state !== 'started' || this.woken) return false
    const polled = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { finish(true) }, ms)
      this.wakeUp = () => { finish(false) }
      function finish (timedOut: boolean): void {
        clearTimeout(timer)
        resolve(timedOut)
      }
    })
    this.wakeUp = undefined
    return polled
  }
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms).unref() })
}

/**
 * A job in a slot, and how to abort it. The AbortController is made only if
 * the handler reads its signal: most never do, and one per run was a
 * noticeable share of a short job's cost.
 */
class Run {
  private controller: AbortController | undefined
  private reason: Error | undefined
  /** Ends the wait for the handler's outcome (set while it is awaited). */
  private interrupt: ((reason: Error) => void) | undefined
  timer: NodeJS.Timeout | undefined

  constructor (readonly job: ClaimedJob, readonly deadline: number) {}

  get aborted (): boolean {
    return this.reason !== undefined
  }

  get signal (): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.reason !== undefined) this.controller.abort(this.reason)
    }
    return this.controller.signal
  }

  /** What the handler gets: its signal is made when it first reads it. */
  handlerContext (): { jobId: string; attempt: number; signal: AbortSignal } {
    const signal = (): AbortSignal => this.signal
    return { jobId: this.job.id, attempt: this.job.attempts, get signal () { return signal() } }
  }

  abort (reason: Error): void {
    if (this.reason !== undefined) return
    this.reason = reason
    this.controller?.abort(reason)
    this.interrupt?.(reason)
  }

  /** Settles with the handler's work, or rejects once the run is aborted: a handler that ignores its signal cannot hold the worker. */
  outcome (work: Promise<void>): Promise<void> {
    if (this.reason !== undefined) return Promise.reject(this.reason)
    return new Promise((resolve, reject) => {
      this.interrupt = reject
      work.then(resolve, reject)
    })
  }
}
