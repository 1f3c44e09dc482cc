/**
 * The queue's latency: how long after a registration commits does its welcome
 * job start? Registrations go through the app's own users service, wired as
 * plugins/auth.ts wires it (users.register hashes the password, then inserts
 * the user and enqueues "welcome-email" in one transaction, whose commit sends
 * the NOTIFY). One JobWorker, built as plugins/jobs/index.ts builds it with the app's JOBS_* defaults,
 * runs in a process of its own (bench/latency-worker.ts) and says over IPC
 * when each welcome job's handler starts. Both ends are read on the machine's
 * monotonic clock (process.hrtime.bigint(), the same in every process): the
 * commit when users.register returns, i.e. once PostgreSQL has acknowledged the
 * COMMIT, which if anything understates the latency by part of a local round trip.
 *
 * - idle: the worker has nothing else to do. One registration at a time, the
 *   next once the previous welcome job is recorded done: every job is found
 *   through the NOTIFY of its commit (the poll interval is the app's, 2 s).
 * - busy: every slot of the worker is taken. Chains of short jobs keep it
 *   working: each job of a chain enqueues the next one (one insert and commit,
 *   a job that writes one row), and there are twice as many chains as slots,
 *   so that as many jobs wait as run. Registrations again one at a time.
 */
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { join } from 'node:path'
import pino from 'pino'
import { loadConfig } from '../config.js'
import { createUsersRepository } from '../db/auth/users-repository.js'
import { createSql } from '../db/client.js'
import { instrumentSql } from '../db/instrumented-sql.js'
import { migrate } from '../db/migrator.js'
import { unitOfWork } from '../db/transaction.js'
import { createQueryObserver } from '../observability/database.js'
import { createMetrics } from '../observability/metrics.js'
import { createJobQueue } from '../plugins/jobs/queue.js'
import { createPasswordHasher } from '../services/auth/passwords.js'
import { createUsersService } from '../services/auth/users.js'
import { jobCatalog } from '../services/jobs/catalog.js'
import { appJobSettings } from './jobs.js'
import { createDatabase, PROJECT_ROOT, round, say, track } from './support.js'

export type LatencyMode = 'idle' | 'busy'

export interface LatencyWorkerSettings {
  databaseUrl: string
  poolMax: number
  mode: LatencyMode
  /** busy: chains of jobs kept running (twice the worker's concurrency by default). */
  chains: number
}

export type LatencyWorkerMessage =
  | { kind: 'ready' }
  /** A welcome job's handler started, at this monotonic time (ns). */
  | { kind: 'started'; userId: string; atNs: string }
  /** A welcome job was recorded done. */
  | { kind: 'finished'; userId: string }
  | { kind: 'report'; chainJobsRun: number }
export type LatencyParentMessage = { kind: 'stop' }

export interface LatencyOptions {
  adminUrl: string
  databasePrefix: string
  /** Registrations, hence welcome jobs, per mode. */
  jobs: number
  modes: LatencyMode[]
  /** busy: chains of jobs; default twice the worker's concurrency. */
  chains: number
  poolMax: number
}

export interface LatencySummaryRow {
  mode: LatencyMode
  jobs: number
  /** From the commit of a registration to its welcome job's handler starting, ms. */
  medianMs: number
  p90Ms: number
  p99Ms: number
  minMs: number
  maxMs: number
  /** busy: jobs of the chains run meanwhile. */
  chainJobsRun: number | null
  /** Wall time of the mode, s. */
  seconds: number
}

export interface LatencyResults {
  settings: Omit<LatencyOptions, 'adminUrl' | 'databasePrefix'> & { concurrency: number; pollIntervalMs: number }
  summary: LatencySummaryRow[]
}

const WORKER_SCRIPT = join(PROJECT_ROOT, 'bench', 'latency-worker.ts')

/** The value below which `fraction` of the sorted values lie (nearest rank). */
function percentile (sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] ?? Number.NaN
}

/** Messages of the worker, awaitable by kind and user, whether they came before or after the wait began. */
class Mailbox {
  private readonly arrived = new Map<string, LatencyWorkerMessage>()
  private readonly waiting = new Map<string, (message: LatencyWorkerMessage) => void>()

  deliver (message: LatencyWorkerMessage): void {
    const key = Mailbox.key(message)
    const waiter = this.waiting.get(key)
    if (waiter === undefined) {
      this.arrived.set(key, message)
      return
    }
    this.waiting.delete(key)
    waiter(message)
  }

  async next<K extends LatencyWorkerMessage['kind']> (kind: K, userId?: string): Promise<Extract<LatencyWorkerMessage, { kind: K }>> {
    const key = `${kind}/${userId ?? ''}`
    const message = this.arrived.get(key) ?? await new Promise<LatencyWorkerMessage>((resolve) => { this.waiting.set(key, resolve) })
    this.arrived.delete(key)
    return message as Extract<LatencyWorkerMessage, { kind: K }>
  }

  private static key (message: LatencyWorkerMessage): string {
    return `${message.kind}/${'userId' in message ? message.userId : ''}`
  }
}

async function measureMode (
  options: LatencyOptions, mode: LatencyMode, databaseUrl: string, register: (email: string) => Promise<string>
): Promise<LatencySummaryRow> {
  const settings: LatencyWorkerSettings = { databaseUrl, poolMax: options.poolMax, mode, chains: options.chains }
  const child = track(fork(WORKER_SCRIPT, [], {
    cwd: PROJECT_ROOT,
    execArgv: ['--import', 'tsx'],
    env: { PATH: process.env.PATH, NODE_ENV: 'production', BENCH_LATENCY_WORKER: JSON.stringify(settings) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  }))
  const mailbox = new Mailbox()
  child.on('message', (message: LatencyWorkerMessage) => { mailbox.deliver(message) })
  const exited = once(child, 'exit')
  const failed = exited.then(([code]) => { throw new Error(`the latency worker exited with ${String(code)}`) })
  failed.catch(() => undefined)
  const started = performance.now()
  const latencies: number[] = []
  let chainJobsRun: number | null = null
  try {
    await Promise.race([mailbox.next('ready'), failed])
    const prefix = randomBytes(4).toString('hex')
    for (let index = 0; index < options.jobs; index += 1) {
      const userId = await register(`latency-${mode}-${prefix}-${String(index)}@bench.example`)
      const committedAt = process.hrtime.bigint()
      const start = await Promise.race([mailbox.next('started', userId), failed])
      latencies.push(Number(BigInt(start.atNs) - committedAt) / 1e6)
      // Idle means idle: the next registration waits until this job is recorded done.
      if (mode === 'idle') await Promise.race([mailbox.next('finished', userId), failed])
    }
    const report = mailbox.next('report')
    child.send({ kind: 'stop' } satisfies LatencyParentMessage)
    chainJobsRun = mode === 'busy' ? (await Promise.race([report, failed])).chainJobsRun : null
    await exited
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  const sorted = [...latencies].sort((a, b) => a - b)
  return {
    mode,
    jobs: latencies.length,
    medianMs: round(percentile(sorted, 0.5), 2),
    p90Ms: round(percentile(sorted, 0.9), 2),
    p99Ms: round(percentile(sorted, 0.99), 2),
    minMs: round(sorted[0] ?? Number.NaN, 2),
    maxMs: round(sorted.at(-1) ?? Number.NaN, 2),
    chainJobsRun,
    seconds: round((performance.now() - started) / 1000, 1)
  }
}

export async function runLatencyBench (options: LatencyOptions): Promise<LatencyResults> {
  const database = await createDatabase(options.adminUrl, `${options.databasePrefix}_latency`)
  const log = pino({ level: 'warn' })
  const sql = createSql(database.url, { poolMax: 2, statementTimeoutMs: 60_000, log })
  // The registering side as the app has it: an instrumented pool, the app's users service and queue.
  const poolSql = instrumentSql(
    createSql(database.url, { poolMax: options.poolMax, statementTimeoutMs: 10_000, log }),
    createQueryObserver({ tracer: undefined, metrics: createMetrics(), log })
  )
  // Cheap password hashes: hashing happens before the transaction, outside what is measured,
  // and 2,000 of them at the app's cost would take minutes.
  const config = loadConfig({ NODE_ENV: 'development', JWT_SECRET: randomBytes(36).toString('base64url'), ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' })
  const jobs = createJobQueue(jobCatalog, { sql: poolSql, maxAttempts: config.jobs.maxAttempts })
  const users = createUsersService({
    users: createUsersRepository(poolSql),
    inTransaction: unitOfWork(poolSql, (tx) => ({ users: createUsersRepository(tx), jobs: jobs.within(tx) })),
    passwords: createPasswordHasher(config.auth.argon2),
    log
  })
  const register = async (email: string) => (await users.register({ email, password: 'latency bench password', name: null })).id
  try {
    await migrate(sql, { log })
    const summary: LatencySummaryRow[] = []
    for (const mode of options.modes) {
      await sql`truncate jobs`
      const row = await measureMode(options, mode, database.url, register)
      say(`latency ${mode}: ${row.jobs} welcome jobs, median ${row.medianMs} ms, p99 ${row.p99Ms} ms, max ${row.maxMs} ms${row.chainJobsRun === null ? '' : `, ${row.chainJobsRun} chain jobs run meanwhile`}`)
      summary.push(row)
    }
    const { adminUrl: _adminUrl, databasePrefix: _prefix, ...settings } = options
    return { settings: { ...settings, concurrency: appJobSettings.concurrency, pollIntervalMs: appJobSettings.pollIntervalMs }, summary }
  } finally {
    await poolSql.end({ timeout: 5 })
    await sql.end({ timeout: 5 })
    await database.drop()
  }
}
