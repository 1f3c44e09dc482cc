/**
 * The job-queue benchmark: taskforge's queue beside pg-boss and graphile-worker
 * on the same PostgreSQL, in the same run. For each system and each instance
 * count: enqueue N no-op jobs one at a time from one process (a fixed number in
 * flight, the same pool size), with no worker running; then start the worker
 * instances (each a process of its own) and time the drain, from the "go" to
 * the last job marked done. taskforge and pg-boss keep done jobs, so both ends
 * are read from the database's clock; graphile-worker deletes a job as it
 * completes it, so its end is the last completion its workers saw (their
 * `job:complete` event, on the machine's monotonic clock, as is the "go").
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from '@sinclair/typebox'
import PgBoss from 'pg-boss'
import pino from 'pino'
import { loadConfig } from '../config.js'
import { createSql, type Sql } from '../db/client.js'
import { instrumentSql } from '../db/instrumented-sql.js'
import { migrate } from '../db/migrator.js'
import { createQueryObserver } from '../observability/database.js'
import { createMetrics } from '../observability/metrics.js'
import { createJobQueue } from '../plugins/jobs/queue.js'
import { graphileWorkerLine, loadGraphileWorker, quietLogger, type GraphileWorkerLine } from './graphile-worker.js'
import { createDatabase, median, PROJECT_ROOT, round, say, track, watchDatabase, watchResources, type ResourceUse } from './support.js'

export const BENCH_JOB_TYPE = 'bench-noop'

/** The app's job settings (JOBS_*) at their defaults, read the way the app reads them. */
export const appJobSettings = loadConfig({ NODE_ENV: 'production', JWT_SECRET: randomBytes(36).toString('base64url') }).jobs

export const benchCatalog = {
  [BENCH_JOB_TYPE]: { payload: Type.Object({ n: Type.Integer() }, { additionalProperties: false }) }
}

export type QueueSystem = 'taskforge' | 'pg-boss' | 'graphile-worker'

export interface JobWorkerSettings {
  system: QueueSystem
  databaseUrl: string
  /** Pool size of the instance (the app's DB_POOL_MAX, pg-boss's max). */
  poolMax: number
  /** taskforge: JOBS_CONCURRENCY. */
  concurrency: number
  /** taskforge: JOBS_PREFETCH, jobs claimed ahead of a free slot. */
  prefetch: number
  /** taskforge: JOBS_POLL_INTERVAL_MS. */
  pollIntervalMs: number
  /** pg-boss: jobs fetched (and completed) at once by its work() loop. */
  batchSize: number
  /** pg-boss: the work() loop's polling interval (its minimum is 0.5 s). */
  pollingIntervalSeconds: number
  /** graphile-worker: its documented batching (a local queue of batchSize jobs, completions batched). */
  graphileBatched: boolean
}

/**
 * "ready" once connected; after "stop", before exiting, what the worker saw:
 * the jobs it completed and when the last one completed, in nanoseconds of the
 * machine's monotonic clock (process.hrtime.bigint(), the same in every process).
 */
export type WorkerMessage = { kind: 'ready' } | { kind: 'report'; completed: number; lastCompletedAtNs: string | null }
export type ParentMessage = { kind: 'go' } | { kind: 'stop' }

/** One queue set-up under test. */
export interface QueueConfiguration {
  /** Unique in a run, e.g. "pg-boss-1000". */
  id: string
  system: QueueSystem
  /** Jobs a worker instance has in hand at once: taskforge's JOBS_CONCURRENCY, pg-boss's batchSize, graphile-worker's concurrency. */
  inFlight: number
  /** graphile-worker only: with its local queue (inFlight jobs) and batched completions (0.17 and later). */
  batched?: boolean
  /** taskforge only: JOBS_PREFETCH, jobs claimed ahead of a free slot (its counterpart of graphile-worker's local queue). */
  prefetch?: number
  /**
   * taskforge only: the checkout whose worker runs (its bench/job-worker.ts), e.g. an earlier commit
   * for a before/after comparison in one run (--jobs-before DIR); this one's by default.
   */
  root?: string
}

export interface JobsBenchOptions {
  adminUrl: string
  /** The run's database is <prefix>_jobs_<hex>. */
  databasePrefix: string
  jobs: number
  instances: number[]
  repetitions: number
  /** Enqueue calls in flight at once. */
  enqueueConcurrency: number
  poolMax: number
  /** The first is taskforge's; every other is compared with it. */
  configurations: QueueConfiguration[]
  /** taskforge: JOBS_POLL_INTERVAL_MS (NOTIFY and finished jobs wake the worker sooner). */
  taskforgePollIntervalMs: number
  /** pg-boss: the work() loop's polling interval; 0.5 s is its minimum. */
  pgBossPollingIntervalSeconds: number
  /** Longest a drain may take before the run fails. */
  drainTimeoutMs: number
}

export interface JobsRun {
  configuration: string
  system: QueueSystem
  instances: number
  repetition: number
  enqueueSeconds: number
  enqueuePerSecond: number
  drainSeconds: number
  processedPerSecond: number
  /** Jobs not done at the end (0 unless the drain timed out). */
  unfinished: number
  /** Per worker process. */
  workers: ResourceUse[]
  /** CPU time of all worker processes over the drain, per job. */
  workerCpuMicrosPerJob: number | null
  /** CPU time of the PostgreSQL backends over the enqueue and over the drain, per job. */
  databaseCpuMicrosPerJob: { enqueue: number; drain: number }
}

export interface JobsSummaryRow {
  configuration: string
  system: QueueSystem
  inFlight: number
  /** Jobs claimed ahead, waiting for a slot: taskforge's prefetch, graphile-worker's local queue (absent in older results). */
  aheadOfSlots?: number
  instances: number
  enqueuePerSecond: number
  processedPerSecond: number
  /** taskforge / this configuration, same instance count (on pg-boss rows). */
  processedRatio: number | null
  enqueueRatio: number | null
  peakWorkerRssMiB: number | null
  /** All worker processes together, over the drain, in percent of one core. */
  workerCpuPercent: number | null
  workerCpuMicrosPerJob: number | null
  databaseCpuMicrosPerJob: { enqueue: number; drain: number }
}

export interface JobsResults {
  settings: Omit<JobsBenchOptions, 'adminUrl' | 'databasePrefix'> & { pgBossVersion: string; graphileWorkerVersion: string }
  runs: JobsRun[]
  summary: JobsSummaryRow[]
}

const WORKER_SCRIPT = join(PROJECT_ROOT, 'bench', 'job-worker.ts')

/** Runs `count` calls of `call`, `concurrency` at a time. */
async function inParallel (count: number, concurrency: number, call: (index: number) => Promise<unknown>): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next
      next += 1
      await call(index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane))
}

interface WorkerProcess { child: ChildProcess; watch: { stop: () => ResourceUse } | undefined }

/** Starts `count` worker processes and waits until each is ready; if one fails, ends them all (the ready ones gracefully) and rethrows. */
async function startWorkers (count: number, settings: JobWorkerSettings, root = PROJECT_ROOT): Promise<WorkerProcess[]> {
  const workers: WorkerProcess[] = Array.from({ length: count }, () => {
    const child = track(fork(root === PROJECT_ROOT ? WORKER_SCRIPT : join(root, 'bench', 'job-worker.ts'), [], {
      cwd: root,
      execArgv: ['--import', 'tsx'],
      env: { PATH: process.env.PATH, NODE_ENV: 'production', BENCH_JOB_WORKER: JSON.stringify(settings) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    }))
    return { child, watch: undefined }
  })
  const ready = new Set<WorkerProcess>()
  try {
    await Promise.all(workers.map((worker) => new Promise<void>((resolve, reject) => {
      // "ready" is the first message a worker sends (WorkerMessage).
      worker.child.once('message', () => {
        ready.add(worker)
        resolve()
      })
      worker.child.once('exit', (code) => { reject(new Error(`a ${settings.system} worker exited with ${String(code)} before it was ready`)) })
    })))
  } catch (error) {
    // A worker not ready yet may not listen for "stop": it is killed.
    await Promise.all([
      stopWorkers([...ready]),
      ...workers.filter((worker) => !ready.has(worker)).map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = once(child, 'exit')
        child.kill('SIGKILL')
        await exited
      })
    ])
    throw error
  }
  return workers
}

type WorkerReport = Extract<WorkerMessage, { kind: 'report' }>

/** Stops the workers gracefully (killed after 20 s) and returns the reports of those that sent one. */
async function stopWorkers (workers: WorkerProcess[]): Promise<WorkerReport[]> {
  const reports: WorkerReport[] = []
  await Promise.all(workers.map(async ({ child }) => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.on('message', (message: WorkerMessage) => { if (message.kind === 'report') reports.push(message) })
    child.send({ kind: 'stop' } satisfies ParentMessage)
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    await exited
    clearTimeout(timer)
  }))
  return reports
}

interface QueueUnderTest {
  reset: () => Promise<void>
  enqueue: (n: number) => Promise<unknown>
  /** Jobs done, and the database time the last one finished (null where the database does not keep it). */
  progress: () => Promise<{ done: number; lastFinishedAt: Date | null }>
  /** Where the drain's end is read: the database's clock (done jobs are kept), or the workers' reports. */
  drainEnd: 'database' | 'workers'
}

function taskforgeQueue (sql: Sql, poolSql: Sql): QueueUnderTest {
  const queue = createJobQueue(benchCatalog, { sql: poolSql, maxAttempts: appJobSettings.maxAttempts })
  return {
    drainEnd: 'database',
    reset: async () => { await sql`truncate jobs` },
    enqueue: (n) => queue.enqueue(BENCH_JOB_TYPE, { n }),
    progress: async () => {
      const [row] = await sql<{ done: number; lastFinishedAt: Date | null }[]>`
        select count(*)::int as done, max(finished_at) as last_finished_at from jobs where state = 'done'`
      return row ?? { done: 0, lastFinishedAt: null }
    }
  }
}

function pgBossQueue (sql: Sql, boss: PgBoss): QueueUnderTest {
  return {
    drainEnd: 'database',
    reset: async () => { await sql`truncate pgboss.job` },
    enqueue: (n) => boss.send(BENCH_JOB_TYPE, { n }),
    progress: async () => {
      const [row] = await sql<{ done: number; lastFinishedAt: Date | null }[]>`
        select count(*)::int as done, max(completed_on) as last_finished_at
        from pgboss.job where name = ${BENCH_JOB_TYPE} and state = 'completed'`
      return row ?? { done: 0, lastFinishedAt: null }
    }
  }
}

/** graphile-worker deletes each job as it completes it: the jobs done are the jobs gone. */
function graphileWorkerQueue (sql: Sql, addJob: (identifier: string, payload: unknown) => Promise<unknown>, jobs: number): QueueUnderTest {
  return {
    drainEnd: 'workers',
    reset: async () => { await sql`truncate graphile_worker._private_jobs` },
    enqueue: (n) => addJob(BENCH_JOB_TYPE, { n }),
    progress: async () => {
      const [row] = await sql<{ left: number }[]>`select count(*)::int as left from graphile_worker._private_jobs`
      return { done: jobs - (row?.left ?? jobs), lastFinishedAt: null }
    }
  }
}

async function measureOnce (
  queue: QueueUnderTest, sql: Sql, database: string, options: JobsBenchOptions, configuration: QueueConfiguration,
  settings: JobWorkerSettings, instances: number, repetition: number
): Promise<JobsRun> {
  await queue.reset()
  const workers = await startWorkers(instances, settings, configuration.root)
  let reports: WorkerReport[] = []
  try {
    const enqueueStarted = performance.now()
    const enqueueDatabase = watchDatabase(database)
    await inParallel(options.jobs, options.enqueueConcurrency, (n) => queue.enqueue(n))
    const enqueueDatabaseSeconds = enqueueDatabase.stop()
    const enqueueSeconds = (performance.now() - enqueueStarted) / 1000

    const [clock] = await sql<{ now: Date }[]>`select clock_timestamp() as now`
    const goAt = clock?.now ?? new Date()
    const goAtNs = process.hrtime.bigint()
    const drainDatabase = watchDatabase(database)
    let progress: Awaited<ReturnType<QueueUnderTest['progress']>>
    let drainDatabaseSeconds: number
    let resources: ResourceUse[]
    try {
      for (const worker of workers) {
        if (worker.child.pid !== undefined) worker.watch = watchResources(worker.child.pid)
        worker.child.send({ kind: 'go' } satisfies ParentMessage)
      }
      const deadline = Date.now() + options.drainTimeoutMs
      progress = await queue.progress()
      while (progress.done < options.jobs && Date.now() < deadline) {
        await sleep(50)
        progress = await queue.progress()
      }
    } finally {
      drainDatabaseSeconds = drainDatabase.stop()
      resources = workers.flatMap((worker) => worker.watch === undefined ? [] : [worker.watch.stop()])
    }
    reports = await stopWorkers(workers)
    const lastCompletedAtNs = reports.reduce<bigint | null>((last, report) => {
      if (report.lastCompletedAtNs === null) return last
      const at = BigInt(report.lastCompletedAtNs)
      return last === null || at > last ? at : last
    }, null)
    const drainSeconds = queue.drainEnd === 'database'
      ? (progress.lastFinishedAt === null ? Number.NaN : (progress.lastFinishedAt.getTime() - goAt.getTime()) / 1000)
      : (lastCompletedAtNs === null ? Number.NaN : Number(lastCompletedAtNs - goAtNs) / 1e9)
    return {
      configuration: configuration.id,
      system: configuration.system,
      instances,
      repetition,
      enqueueSeconds: round(enqueueSeconds, 3),
      enqueuePerSecond: round(options.jobs / enqueueSeconds),
      drainSeconds: round(drainSeconds, 3),
      processedPerSecond: round(progress.done / drainSeconds),
      unfinished: options.jobs - progress.done,
      workers: resources,
      workerCpuMicrosPerJob: resources.some((use) => use.cpuSeconds === null) || progress.done === 0
        ? null
        : round(resources.reduce((sum, use) => sum + (use.cpuSeconds ?? 0), 0) / progress.done * 1e6),
      databaseCpuMicrosPerJob: {
        enqueue: round(enqueueDatabaseSeconds / options.jobs * 1e6),
        drain: round(drainDatabaseSeconds / Math.max(progress.done, 1) * 1e6)
      }
    }
  } finally {
    // Already stopped unless the drain failed.
    await stopWorkers(workers)
  }
}

function summarize (runs: JobsRun[], options: JobsBenchOptions): JobsSummaryRow[] {
  const rows: JobsSummaryRow[] = []
  for (const instances of options.instances) {
    const medians = (configuration: QueueConfiguration) => {
      const selected = runs.filter((run) => run.configuration === configuration.id && run.instances === instances)
      const peaks = selected.flatMap((run) => run.workers.map((worker) => worker.peakRssMiB ?? Number.NaN))
      const cpu = selected.map((run) => run.workers.reduce((sum, worker) => sum + (worker.cpuPercent ?? Number.NaN), 0))
      return {
        configuration: configuration.id,
        system: configuration.system,
        inFlight: configuration.inFlight,
        aheadOfSlots: configuration.prefetch ?? (configuration.batched === true ? configuration.inFlight : 0),
        instances,
        enqueuePerSecond: round(median(selected.map((run) => run.enqueuePerSecond))),
        processedPerSecond: round(median(selected.map((run) => run.processedPerSecond))),
        peakWorkerRssMiB: peaks.length === 0 ? null : round(Math.max(...peaks), 1),
        workerCpuPercent: cpu.length === 0 ? null : round(median(cpu)),
        workerCpuMicrosPerJob: round(median(selected.map((run) => run.workerCpuMicrosPerJob ?? Number.NaN))),
        databaseCpuMicrosPerJob: {
          enqueue: round(median(selected.map((run) => run.databaseCpuMicrosPerJob.enqueue))),
          drain: round(median(selected.map((run) => run.databaseCpuMicrosPerJob.drain)))
        }
      }
    }
    const [taskforge, ...others] = options.configurations
    if (taskforge === undefined) continue
    const ours = medians(taskforge)
    rows.push({ ...ours, processedRatio: null, enqueueRatio: null })
    for (const other of others) {
      const theirs = medians(other)
      rows.push({
        ...theirs,
        processedRatio: round(ours.processedPerSecond / theirs.processedPerSecond, 2),
        enqueueRatio: round(ours.enqueuePerSecond / theirs.enqueuePerSecond, 2)
      })
    }
  }
  return rows
}

export async function runJobsBench (
  options: JobsBenchOptions, pgBossVersion: string, graphile: GraphileWorkerLine = graphileWorkerLine()
): Promise<JobsResults> {
  const batchedWithout = options.configurations.find((configuration) => configuration.batched === true && !graphile.batching)
  if (batchedWithout !== undefined) throw new Error(`${batchedWithout.id} needs graphile-worker 0.17 or later; this runtime runs ${graphile.version}`)
  const database = await createDatabase(options.adminUrl, `${options.databasePrefix}_jobs`)
  const log = pino({ level: 'warn' })
  const sql = createSql(database.url, { poolMax: 2, statementTimeoutMs: 60_000, log })
  // The enqueuing side as the app has it: an instrumented pool of DB_POOL_MAX connections.
  const poolSql = instrumentSql(
    createSql(database.url, { poolMax: options.poolMax, statementTimeoutMs: 10_000, log }),
    createQueryObserver({ tracer: undefined, metrics: createMetrics(), log })
  )
  const boss = new PgBoss({ connectionString: database.url, max: options.poolMax, supervise: false, schedule: false })
  boss.on('error', (error: Error) => { say(`pg-boss: ${error.message}`) })
  // graphile-worker's enqueuing side: its WorkerUtils (addJob) on a pool of as many connections.
  const graphileWorker = await loadGraphileWorker(graphile)
  const graphileUtils = await graphileWorker.makeWorkerUtils({ connectionString: database.url, maxPoolSize: options.poolMax, logger: quietLogger(graphileWorker, 'graphile-worker') })
  try {
    await migrate(sql, { log })
    await boss.start()
    await boss.createQueue(BENCH_JOB_TYPE)
    await graphileUtils.migrate()
    const queues: Record<QueueSystem, QueueUnderTest> = {
      taskforge: taskforgeQueue(sql, poolSql),
      'pg-boss': pgBossQueue(sql, boss),
      'graphile-worker': graphileWorkerQueue(sql, (identifier, payload) => graphileUtils.addJob(identifier, payload), options.jobs)
    }
    const runs: JobsRun[] = []
    for (let repetition = 1; repetition <= options.repetitions; repetition += 1) {
      for (const instances of options.instances) {
        // Alternate the order, so that no configuration always runs on the warmer (or more bloated) server.
        const ordered = repetition % 2 === 1 ? options.configurations : [...options.configurations].reverse()
        for (const configuration of ordered) {
          const settings: JobWorkerSettings = {
            system: configuration.system,
            databaseUrl: database.url,
            poolMax: options.poolMax,
            concurrency: configuration.inFlight,
            prefetch: configuration.prefetch ?? 0,
            pollIntervalMs: options.taskforgePollIntervalMs,
            batchSize: configuration.inFlight,
            pollingIntervalSeconds: options.pgBossPollingIntervalSeconds,
            graphileBatched: configuration.batched === true
          }
          const result = await measureOnce(
            queues[configuration.system], sql, database.name, options, configuration, settings, instances, repetition
          )
          say(`jobs ${configuration.id} ×${instances} #${repetition}: enqueue ${result.enqueuePerSecond}/s, processed ${result.processedPerSecond}/s${result.unfinished > 0 ? `, ${result.unfinished} UNFINISHED` : ''}`)
          runs.push(result)
        }
      }
    }
    const { adminUrl: _adminUrl, databasePrefix: _prefix, ...settings } = options
    return { settings: { ...settings, pgBossVersion, graphileWorkerVersion: graphile.version }, runs, summary: summarize(runs, options) }
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 5000 }).catch(() => undefined)
    await Promise.resolve(graphileUtils.release()).catch(() => undefined)
    await poolSql.end({ timeout: 5 })
    await sql.end({ timeout: 5 })
    await database.drop()
  }
}
