/**
 * One worker instance of the job-queue benchmark, in a process of its own
 * (as each app instance is): taskforge's JobWorker, built as plugins/jobs/index.ts
 * builds it (instrumented client, metrics on each outcome, LOG_LEVEL=warn),
 * a pg-boss worker or a graphile-worker runner. It connects, says "ready" over
 * IPC, starts working on "go", and on "stop" closes, reports what it saw and
 * exits. Every job is a no-op.
 *
 * Settings come as JSON in BENCH_JOB_WORKER.
 */
import { EventEmitter } from 'node:events'
import PgBoss from 'pg-boss'
import pino from 'pino'
import { createSql } from '../db/client.js'
import { instrumentSql } from '../db/instrumented-sql.js'
import { createQueryObserver } from '../observability/database.js'
import { createMetrics } from '../observability/metrics.js'
import { DONE_RETENTION_MS, RETRY_MAX_MS } from '../plugins/jobs/index.js'
import { JobWorker } from '../plugins/jobs/worker.js'
import { graphileWorkerLine, loadGraphileWorker, quietLogger, type GraphileWorkerModule } from './graphile-worker.js'
import { appJobSettings, BENCH_JOB_TYPE, benchCatalog, type JobWorkerSettings, type ParentMessage, type WorkerMessage } from './jobs.js'

interface Instance {
  start: () => Promise<void>
  stop: () => Promise<void>
}

/** Jobs completed in this process and when the last one was, on the monotonic clock every process shares. */
const seen = { completed: 0, lastCompletedAt: null as bigint | null }

async function taskforgeInstance (settings: JobWorkerSettings): Promise<Instance> {
  const log = pino({ level: 'warn' })
  const metrics = createMetrics()
  const sql = instrumentSql(
    createSql(settings.databaseUrl, { poolMax: settings.poolMax, statementTimeoutMs: 10_000, log }),
    createQueryObserver({ tracer: undefined, metrics, log })
  )
  await sql`select 1`
  const worker = new JobWorker({
    sql,
    catalog: benchCatalog,
    handlers: { [BENCH_JOB_TYPE]: () => Promise.resolve() },
    log,
    concurrency: settings.concurrency,
    prefetch: settings.prefetch,
    pollIntervalMs: settings.pollIntervalMs,
    leaseMs: appJobSettings.leaseMs,
    backoff: { baseMs: appJobSettings.retryBaseMs, maxMs: RETRY_MAX_MS },
    timeoutMs: appJobSettings.leaseMs,
    retentionMs: DONE_RETENTION_MS,
    onOutcome: (type, outcome, durationMs) => { metrics.jobRun(type, outcome, durationMs / 1000) }
  })
  return {
    start: () => worker.start(),
    stop: async () => {
      await worker.close(10_000)
      await sql.end({ timeout: 5 })
    }
  }
}

async function pgBossInstance (settings: JobWorkerSettings): Promise<Instance> {
  const boss = new PgBoss({ connectionString: settings.databaseUrl, max: settings.poolMax, supervise: false, schedule: false })
  boss.on('error', (error: Error) => { process.stderr.write(`pg-boss: ${error.message}\n`) })
  await boss.start()
  return {
    start: async () => {
      await boss.work(
        BENCH_JOB_TYPE,
        { batchSize: settings.batchSize, pollingIntervalSeconds: settings.pollingIntervalSeconds },
        () => Promise.resolve()
      )
    },
    stop: () => boss.stop({ graceful: true, wait: true, timeout: 10_000 })
  }
}

/**
 * graphile-worker with as many jobs in hand (its concurrency), the same pool
 * size and poll interval, its default console logger replaced by one that keeps
 * warnings and errors only. Batched: its local queue holds as many jobs again,
 * and completions are batched (completeJobBatchDelay 0: within one tick), as its
 * performance guide suggests for high throughput.
 */
async function graphileWorkerInstance (settings: JobWorkerSettings): Promise<Instance> {
  const graphile: GraphileWorkerModule = await loadGraphileWorker(graphileWorkerLine())
  const events = new EventEmitter()
  events.on('job:complete', () => {
    seen.completed += 1
    seen.lastCompletedAt = process.hrtime.bigint()
  })
  let runner: Awaited<ReturnType<GraphileWorkerModule['run']>> | undefined
  return {
    start: async () => {
      runner = await graphile.run({
        connectionString: settings.databaseUrl,
        concurrency: settings.batchSize,
        maxPoolSize: settings.poolMax,
        pollInterval: settings.pollIntervalMs,
        noHandleSignals: true,
        logger: quietLogger(graphile, 'graphile-worker'),
        events,
        taskList: { [BENCH_JOB_TYPE]: () => Promise.resolve() },
        ...(settings.graphileBatched
          ? { preset: { worker: { localQueue: { size: settings.batchSize }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } }
          : {})
      })
    },
    stop: async () => { await runner?.stop() }
  }
}

function send (message: WorkerMessage, sent?: () => void): void {
  process.send?.(message, undefined, {}, () => sent?.())
}

const settings = JSON.parse(process.env.BENCH_JOB_WORKER ?? '{}') as JobWorkerSettings
const instance = settings.system === 'taskforge'
  ? await taskforgeInstance(settings)
  : settings.system === 'pg-boss' ? await pgBossInstance(settings) : await graphileWorkerInstance(settings)
process.on('message', (message: ParentMessage) => {
  if (message.kind === 'go') {
    instance.start().catch((error: unknown) => {
      process.stderr.write(`worker failed to start: ${String(error)}\n`)
      process.exit(1)
    })
  } else {
    instance.stop().then(() => {
      // Disconnect once the report is out, so that it is not lost with the channel.
      send({ kind: 'report', completed: seen.completed, lastCompletedAtNs: seen.lastCompletedAt?.toString() ?? null }, () => { process.disconnect() })
    }, (error: unknown) => {
      process.stderr.write(`worker failed to stop: ${String(error)}\n`)
      process.exit(1)
    })
  }
})
send({ kind: 'ready' })
