/**
 * One worker instance of the job-queue benchmark, in a process of its own
 * (as each app instance is): taskforge's JobWorker, built as plugins/jobs/index.ts
 * builds it (instrumented client, metrics on each outcome, LOG_LEVEL=warn),
 * or a pg-boss worker. It connects, says "ready" over IPC, starts working on
 * "go" and closes on "stop". Every job is a no-op.
 *
 * Settings come as JSON in BENCH_JOB_WORKER.
 */
import PgBoss from 'pg-boss'
import pino from 'pino'
import { createSql } from '../db/client.js'
import { instrumentSql } from '../db/instrumented-sql.js'
import { createQueryObserver } from '../observability/database.js'
import { createMetrics } from '../observability/metrics.js'
import { DONE_RETENTION_MS, RETRY_MAX_MS } from '../plugins/jobs/index.js'
import { JobWorker } from '../plugins/jobs/worker.js'
import { appJobSettings, BENCH_JOB_TYPE, benchCatalog, type JobWorkerSettings, type ParentMessage, type WorkerMessage } from './jobs.js'

interface Instance {
  start: () => Promise<void>
  stop: () => Promise<void>
}

async function taskforgeInstance (settings: JobWorkerSettings): Promise<Instance> {
  const log = pino({ level: 'warn' })
  const metrics = createMetrics()
  const sql = instrumentSql(createSql(settings.databaseUrl, { poolMax: settings.poolMax, statementTimeoutMs: 10_000, log }), createQueryObserver({ tracer: undefined, metrics, log }))
  await sql`select 1`
  const worker = new JobWorker({
    sql,
    catalog: benchCatalog,
    handlers: { [BENCH_JOB_TYPE]: () => Promise.resolve() },
    log,
    concurrency: settings.concurrency,
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
      await boss.work(BENCH_JOB_TYPE, { batchSize: settings.batchSize, pollingIntervalSeconds: settings.pollingIntervalSeconds }, () => Promise.resolve())
    },
    stop: () => boss.stop({ graceful: true, wait: true, timeout: 10_000 })
  }
}

function send (message: WorkerMessage): void {
  process.send?.(message)
}

const settings = JSON.parse(process.env.BENCH_JOB_WORKER ?? '{}') as JobWorkerSettings
const instance = settings.system === 'taskforge' ? await taskforgeInstance(settings) : await pgBossInstance(settings)
process.on('message', (message: ParentMessage) => {
  if (message.kind === 'go') {
    instance.start().catch((error: unknown) => {
      process.stderr.write(`worker failed to start: ${String(error)}\n`)
      process.exit(1)
    })
  } else {
    instance.stop().then(() => {
      process.disconnect()
    }, (error: unknown) => {
      process.stderr.write(`worker failed to stop: ${String(error)}\n`)
      process.exit(1)
    })
  }
})
send({ kind: 'ready' })
