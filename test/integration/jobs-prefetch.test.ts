import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import pino from 'pino'
import postgres from 'postgres'
import t from 'tap'
import type { Sql } from '../../db/client.js'
import { createJobQueue } from '../../plugins/jobs/queue.js'
import { jobCatalog } from '../../services/jobs/catalog.js'
import { buildTestApp } from '../helpers/app.js'
import { createTestDatabase } from '../helpers/database.js'
import { createTestWorker, eventually, jobById, testCatalog } from '../helpers/jobs.js'
import { LOAD_TEST_ENVIRONMENT, startServerProcess } from '../helpers/server-process.js'
import { startSilentServer, startSmtpServer } from '../helpers/smtp.js'
import { createTestSql } from '../helpers/sql.js'

/** Jobs whose lease this worker holds, as the database sees them. */
async function heldBy (sql: Sql, workerId: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from jobs where state = 'running' and locked_by = ${workerId}`
  return row?.n ?? 0
}

t.test('with a prefetch, a worker claims jobs ahead of its free slots, and never holds more than concurrency + prefetch', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  const ran: number[] = []
  const handled = new Set<string>()
  const worker = createTestWorker(t, sql, {
    'test-job': async ({ n }, { jobId }) => {
      ran.push(n)
      await new Promise((resolve) => setTimeout(resolve, 30))
      handled.add(jobId)
    },
    'slow-job': async () => undefined
  }, { concurrency: 2, prefetch: 4 })
  await sql.begin(async (tx) => { for (let n = 0; n < 40; n++) await queue.enqueue('test-job', { n }, { sql: tx }) })
  await worker.start()
  // Held: claimed by this worker and not yet handled. (A handled job stays "running" in the table
  // until the statement that records it done, batched, commits: it no longer holds a slot.)
  let most = 0
  while (ran.length < 40) {
    const claimed = await sql<{ id: string }[]>`select id from jobs where state = 'running' and locked_by = ${worker.id}`
    most = Math.max(most, claimed.filter((row) => !handled.has(row.id)).length)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  t.ok(most > 2, `held up to ${most} jobs: more than its 2 slots`)
  t.ok(most <= 6, `never more than 2 + 4 (${most})`)
  await eventually(async () => {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from jobs where state = 'done' and attempts = 1`
    return row?.n === 40 || undefined
  }, 10_000, '40 jobs done, each at its first attempt')
  t.same([...ran].sort((a, b) => a - b), Array.from({ length: 40 }, (_, n) => n), 'each ran once')
})

t.test('close() hands back the jobs claimed ahead at once, their attempt not counted, and waits for the running one', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  const ran: string[] = []
  const worker = createTestWorker(t, sql, {
    'test-job': async ({ n }) => { ran.push(`test ${n}`) },
    'slow-job': async ({ ms }) => {
      ran.push('slow')
      await new Promise((resolve) => setTimeout(resolve, ms))
    }
  }, { concurrency: 1, prefetch: 3 })
  // One claim of 3: the slow job takes the slot, the other two wait behind it.
  const slow = await queue.enqueue('slow-job', { ms: 800 })
  const waiting = await sql.begin(async (tx) => Promise.all([1, 2].map((n) => queue.enqueue('test-job', { n }, { sql: tx }))))
  await worker.start()
  await eventually(async () => (ran.includes('slow') && (await heldBy(sql, worker.id)) === 3) || undefined, 10_000, 'the slow job running and 2 jobs claimed ahead')
  await worker.close(5000)
  t.same(ran, ['slow'], 'only the job in the slot ran')
  t.match(await jobById(sql, slow), { state: 'done', attempts: 1 }, 'the running job finished')
  for (const id of waiting) t.match(await jobById(sql, id), { state: 'queued', attempts: 0, lockedBy: null, lockedUntil: null }, 'handed back, its attempt not counted')
})

t.test('a job claimed ahead whose lease would lapse before it is renewed is not started: it runs once, after the lease', async (t) => {
  const LEASE_MS = 600
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  // This worker's lease renewals fail, as if the database were out of reach for that statement only.
  const unrenewable = new Proxy(sql, {
    apply (target, thisArgument, args: unknown[]): unknown {
      const strings = args[0]
      if (Array.isArray(strings) && strings.join('$').trim().startsWith('update jobs set locked_until')) return Promise.reject(new Error('connection lost'))
      return Reflect.apply(target, thisArgument, args) as unknown
    }
  })
  const warnings: string[] = []
  const log = pino({ level: 'warn' }, { write: (line: string) => { warnings.push((JSON.parse(line) as { msg: string }).msg) } })
  const runs: number[] = []
  let slowRuns = 0
  const worker = createTestWorker(t, unrenewable, {
    'test-job': async ({ n }) => { runs.push(n) },
    // Outlasts the lease the first time only: it keeps the slot while the job behind it waits.
    'slow-job': async ({ ms }) => { if (slowRuns++ === 0) await new Promise((resolve) => setTimeout(resolve, ms)) }
  }, { concurrency: 1, prefetch: 1, leaseMs: LEASE_MS, log })
  await queue.enqueue('slow-job', { ms: 3 * LEASE_MS })
  const behind = await queue.enqueue('test-job', { n: 1 })
  await worker.start()
  await eventually(async () => (await heldBy(sql, worker.id)) === 2 || undefined, 10_000, 'the slow job running and the other claimed ahead')
  const job = await eventually(async () => { const found = await jobById(sql, behind); return found?.state === 'done' && found }, 20_000, 'the job behind')
  t.same(runs, [1], 'it ran once: not from the claim whose lease had lapsed, only once claimed again')
  t.equal(job.attempts, 2, 'the lapsed claim counted as an attempt, as a crash would')
  t.ok(warnings.includes('could not renew job leases'), 'the renewals failed')
})

t.test('SIGKILL while jobs are claimed ahead: another instance runs every one of them once their leases expire', async (t) => {
  const database = await createTestDatabase(t, { dropOnTeardown: false })
  t.teardown(() => database.drop())
  // The first instance's welcome emails hang on an SMTP server that never answers: one job holds its one
  // slot, and the three claimed with it (one claim of JOBS_PREFETCH) wait behind it.
  const silentSmtp = await startSilentServer(t)
  const server = await startServerProcess(t, {
    ...LOAD_TEST_ENVIRONMENT,
    DATABASE_URL: database.url,
    SMTP_URL: `smtp://127.0.0.1:${silentSmtp}`,
    JOBS_CONCURRENCY: '1',
    JOBS_PREFETCH: '4',
    JOBS_LEASE_MS: '1000'
  })
  const sql = postgres(database.url, { max: 1, onnotice: () => undefined })
  t.teardown(() => sql.end())
  const jobsOf = (type: string) => sql<{ state: string; attempts: number }[]>`select state, attempts from jobs where type = ${type}`
  // The hourly purge it enqueued as it started is out of the way first: the four welcome jobs are all the worker holds.
  await eventually(async () => (await jobsOf('purge-expired'))[0]?.state === 'done' || undefined, 20_000, 'the purge enqueued at start')
  const emails = [1, 2, 3, 4].map((n) => `prefetched-${n}@example.io`)
  const queue = createJobQueue(jobCatalog, { sql, maxAttempts: 5 })
  await sql.begin(async (tx) => {
    for (const email of emails) await queue.within(tx).enqueue('welcome-email', { userId: randomUUID(), email, name: null })
  })
  await eventually(async () => {
    const jobs = await jobsOf('welcome-email')
    return jobs.every((job) => job.state === 'running') || undefined
  }, 20_000, 'one welcome job running and three claimed ahead')
  server.child.kill('SIGKILL')
  await once(server.child, 'exit')

  const smtp = await startSmtpServer(t)
  const { app } = await buildTestApp(t, { SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, JOBS_POLL_INTERVAL_MS: '100' }, { database })
  await app.ready() // its worker starts
  await eventually(async () => (await jobsOf('welcome-email')).every((job) => job.state === 'done') || undefined, 20_000, 'every welcome job done')
  t.same(smtp.received.flatMap((mail) => mail.to).sort(), emails, 'each got their welcome email, once')
  t.same((await jobsOf('welcome-email')).map((job) => job.attempts), [2, 2, 2, 2], 'the crash cost each held job an attempt, as it does a running one')
})
