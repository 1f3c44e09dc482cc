import pino from 'pino'
import t from 'tap'
import { createSql, type Sql } from '../../db/client.js'
import { instrumentSql, type QueryStatement } from '../../db/instrumented-sql.js'
import { createJobsRepository } from '../../db/jobs/jobs-repository.js'
import { createJobQueue } from '../../plugins/jobs/queue.js'
import { createTestDatabase } from '../helpers/database.js'
import { createTestWorker, eventually, jobById, testCatalog } from '../helpers/jobs.js'
import { createTestSql } from '../helpers/sql.js'

t.test('enqueue refuses unknown types and bad payloads', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  await t.rejects(queue.enqueue('no-such-job' as 'test-job', { n: 1 }), { name: 'InvalidJobError', message: /unknown job type "no-such-job"/ })
  await t.rejects(queue.enqueue('test-job', { n: 'one' } as never), { name: 'InvalidJobError', message: /bad payload for job "test-job": \/n/ })
  await t.rejects(queue.enqueue('test-job', { n: 1, extra: true } as never), { name: 'InvalidJobError' })
  const [row] = await sql`select count(*)::int as n from jobs`
  t.equal(row?.n, 0)
  const id = await queue.enqueue('test-job', { n: 1 })
  t.match(await jobById(sql, id), { type: 'test-job', payload: { n: 1 }, state: 'queued', attempts: 0, maxAttempts: 3 }, 'the type\'s own maxAttempts wins')
})

t.test('enqueue inside a transaction commits or rolls back with it', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  await sql.begin(async (tx) => { await queue.enqueue('test-job', { n: 1 }, { sql: tx }) })
  await t.rejects(sql.begin(async (tx) => {
    await queue.enqueue('test-job', { n: 2 }, { sql: tx })
    throw new Error('the caller\'s work failed')
  }))
  const rows = await sql`select payload from jobs`
  t.same(rows.map((row) => row.payload as unknown), [{ n: 1 }])
})

t.test('a job that succeeds is done; one that fails is retried with backoff, then dead with its last error', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  const attempts = new Map<number, number>()
  const outcomes: string[] = []
  const worker = createTestWorker(t, sql, {
    'test-job': async ({ n }) => {
      attempts.set(n, (attempts.get(n) ?? 0) + 1)
      if (n === 2 && (attempts.get(n) ?? 0) < 2) throw new Error('flaky once')
      if (n === 3) throw new Error(`always fails (try ${attempts.get(n) ?? 0})`)
    },
    'slow-job': async () => undefined
  }, { onOutcome: (type, outcome) => outcomes.push(`${type}:${outcome}`) })
  await worker.start()
  const ok = await queue.enqueue('test-job', { n: 1 })
  const flaky = await queue.enqueue('test-job', { n: 2 })
  const doomed = await queue.enqueue('test-job', { n: 3 })

  t.match(await eventually(async () => { const job = await jobById(sql, ok); return job?.state === 'done' && job }), { attempts: 1, lastError: null, finishedAt: Date })
  t.match(await eventually(async () => { const job = await jobById(sql, flaky); return job?.state === 'done' && job }), { attempts: 2 })
  const dead = await eventually(async () => { const job = await jobById(sql, doomed); return job?.state === 'dead' && job })
  t.match(dead, { attempts: 3, lastError: 'always fails (try 3)', finishedAt: Date })
  t.equal(attempts.get(3), 3, 'maxAttempts runs, no more')
  t.same(outcomes.filter((outcome) => outcome.endsWith('dead')), ['test-job:dead'])
  t.ok(outcomes.includes('test-job:retried'))
})

t.test('untraced, a job enqueued in a trace continues it: its log lines carry the trace, the jobs it enqueues carry it on', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  const callerTraceId = '4bf92f3577b34da6a3ce929d0e0e4736'
  const first = await createJobsRepository(sql).enqueue({ type: 'test-job', payload: { n: 1 }, maxAttempts: 5, traceparent: `00-${callerTraceId}-00f067aa0ba902b7-01` })
  const lines: Record<string, unknown>[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  let second: string | undefined
  const worker = createTestWorker(t, sql, {
    'test-job': async ({ n }) => { if (n === 1) second = await queue.enqueue('test-job', { n: 2 }) },
    'slow-job': async () => undefined
  }, { log }) // and no tracer: no spans
  await worker.start()
  await eventually(async () => lines.filter((line) => line.msg === 'job done').length === 2 || undefined, 10_000, 'both jobs done')

  const done = (id: string | undefined) => lines.find((line) => line.msg === 'job done' && line.jobId === id)
  const firstRun = done(first)
  const secondRun = done(second)
  t.match(firstRun, { trace_id: callerTraceId, span_id: /^[0-9a-f]{16}$/ }, 'the run carries the trace it was enqueued in')
  t.not(firstRun?.span_id, '00f067aa0ba902b7', 'with a span id of its own')
  t.equal((await jobById(sql, second ?? ''))?.traceparent, `00-${callerTraceId}-${String(firstRun?.span_id)}-01`, 'the job it enqueued has the run as its parent')
  t.match(secondRun, { trace_id: callerTraceId, span_id: /^[0-9a-f]{16}$/ })
  t.not(secondRun?.span_id, firstRun?.span_id)
})

t.test('a failed job waits for its backoff before the next attempt', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  const worker = createTestWorker(t, sql, {
    'test-job': async () => { throw new Error('no') },
    'slow-job': async () => undefined
  }, { backoff: { baseMs: 60_000, maxMs: 60_000 } })
  await worker.start()
  const id = await queue.enqueue('test-job', { n: 1 })
  const job = await eventually(async () => { const found = await jobById(sql, id); return found?.lastError !== null && found?.state === 'queued' && found })
  t.equal(job.attempts, 1)
  const waitMs = job.runAt.getTime() - job.updatedAt.getTime()
  t.ok(waitMs >= 30_000 && waitMs <= 60_000, `retry scheduled ${waitMs} ms later`)
})

t.test('a job whose worker died is run again once its lease expires', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  const id = await queue.enqueue('test-job', { n: 7 })
  // A worker that claimed the job and vanished: running, lease already over.
  await sql`update jobs set state = 'running', attempts = 1, locked_by = 'dead-worker', locked_until = now() - interval '1 second' where id = ${id}`
  const ran: number[] = []
  const worker = createTestWorker(t, sql, { 'test-job': async ({ n }) => { ran.push(n) }, 'slow-job': async () => undefined })
  await worker.start()
  const job = await eventually(async () => { const found = await jobById(sql, id); return found?.state === 'done' && found })
  t.same(ran, [7])
  t.equal(job.attempts, 2, 'the lost attempt counts')
})

/** A statement of the lease protocol, as the worker that sent it saw it: when it went out, and when its answer came. */
interface LeaseStatement {
  worker: string
  kind: 'claim' | 'renew' | 'done' | 'reclaim'
  sentAt: number
  answeredAt?: number
}

interface SlowRun {
  worker: string
  jobId: string
  startedAt: number
}

function leaseStatementKind (statement: QueryStatement): LeaseStatement['kind'] | undefined {
  const text = statement.text ?? ''
  if (text.includes('for update skip locked')) return 'claim'
  if (text.startsWith('update jobs set locked_until')) return 'renew'
  if (text.includes('set state = \'done\'')) return 'done'
  if (text.includes('locked_until < now()')) return 'reclaim'
  return undefined
}

/** The claim that gave a run its job: the last its worker had an answer to before the run began. */
function claimOf (statements: LeaseStatement[], run: SlowRun): LeaseStatement | undefined {
  return statements.filter((statement) => statement.worker === run.worker && statement.kind === 'claim' &&
    statement.answeredAt !== undefined && statement.answeredAt <= run.startedAt).at(-1)
}

/**
 * The longest the run's lease can have gone unrenewed while the run held the
 * job: from its claim to the end of its hold (the statement that recorded it
 * done, or else the claim that gave the job to the next run). The claim and
 * each renewal set the lease to the database's now() + the lease, a now()
 * between the statement going out and its answer (same host, same clock); so
 * the gap between two is at most the next one's answer minus the previous
 * one's sending, +2 ms for the clocks' rounding. Undefined until the end has its answer.
 */
function longestLeaseGap (statements: LeaseStatement[], run: SlowRun, next: SlowRun | undefined): number | undefined {
  const claim = claimOf(statements, run)
  const end = next === undefined
    ? statements.find((statement) => statement.worker === run.worker && statement.kind === 'done' && statement.sentAt >= run.startedAt)
    : claimOf(statements, next)
  if (claim === undefined || end?.answeredAt === undefined) return undefined
  const renewals = statements.filter((statement) => statement.worker === run.worker && statement.kind === 'renew' &&
    statement.sentAt >= claim.sentAt && statement.sentAt < end.sentAt)
  const chain = [claim, ...renewals, end]
  return Math.max(...chain.slice(1).map((statement, index) =>
    (statement.answeredAt ?? Number.POSITIVE_INFINITY) - (chain[index]?.sentAt ?? 0) + 2))
}

t.test('a long job keeps its lease while it runs: no second run', async (t) => {
  // Renewed every third of the lease: a pause of up to two thirds of it loses nothing.
  const LEASE_MS = 1000
  const JOB_MS = 3500
  const ROUNDS = 3
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  let statements: LeaseStatement[] = []
  const runs: SlowRun[] = []
  const worker = (name: string) => createTestWorker(t, instrumentSql(sql, {
    start: (statement) => {
      const kind = leaseStatementKind(statement)
      if (kind === undefined) return () => undefined
      const entry: LeaseStatement = { worker: name, kind, sentAt: Date.now() }
      statements.push(entry)
      return () => { entry.answeredAt = Date.now() }
    }
  }), {
    'test-job': async () => undefined,
    'slow-job': async ({ ms }, { jobId }) => {
      runs.push({ worker: name, jobId, startedAt: Date.now() })
      await new Promise((resolve) => setTimeout(resolve, ms))
    }
  }, { leaseMs: LEASE_MS })
  for (const each of [worker('first'), worker('second')]) await each.start()

  // Only a lease the machine let be renewed in time can be held to: on 2 loaded cores a pause longer
  // than the lease lets it lapse, and then a second run is the queue doing its job. So each round
  // measures the longest gap between renewals: a round whose lease could have lapsed proves nothing
  // either way and is run again; a round renewed in time must see one run, whatever the machine did.
  const lapsed: string[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    statements = []
    const id = await queue.enqueue('slow-job', { ms: JOB_MS })
    const job = await eventually(async () => {
      const found = await jobById(sql, id)
      return (found?.state === 'done' || found?.state === 'dead') && found
    }, 30_000, 'the slow job to be done')
    const [run, ...again] = runs.filter((each) => each.jobId === id)
    if (run === undefined) throw new Error('the job ran nowhere')
    const gap = await eventually(async () => longestLeaseGap(statements, run, again[0]), 5000, 'the answer to the statement that ended the run\'s hold')
    if (gap >= LEASE_MS) {
      const renewed = statements.filter((statement) => statement.worker === run.worker && statement.kind === 'renew').length
      lapsed.push(`${gap} ms (renewed ${renewed} times)`)
      t.comment(`round ${round}: the lease went ${gap} ms without renewal, so it could lapse: not counted`)
      continue
    }
    t.equal(again.length, 0, `ran once, though it outlived its lease three times over (never ${gap} ms without renewal)`)
    t.match(job, { state: 'done', attempts: 1 })
    const thief = run.worker === 'first' ? 'second' : 'first'
    const firstLeaseOver = (claimOf(statements, run)?.answeredAt ?? Number.POSITIVE_INFINITY) + LEASE_MS
    const looked = statements.filter((statement) => statement.worker === thief && statement.kind === 'reclaim' && statement.sentAt > firstLeaseOver).length
    t.ok(looked >= 2, `the other worker looked for expired leases ${looked} times after the first lease would have run out`)
    return
  }
  t.fail(`in ${ROUNDS} rounds the lease was never renewed in time (lease ${LEASE_MS} ms); longest gaps: ${lapsed.join(', ')}`)
})

t.test('app.close() waits for a running job; a job past the time-out is released to the queue', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  const started: number[] = []
  const worker = createTestWorker(t, sql, {
    'test-job': async () => undefined,
    'slow-job': async ({ ms }) => { started.push(ms); await new Promise((resolve) => setTimeout(resolve, ms)) }
  })
  await worker.start()
  const short = await queue.enqueue('slow-job', { ms: 400 })
  const long = await queue.enqueue('slow-job', { ms: 4000 })
  await eventually(async () => started.length === 2 || undefined)
  const closing = Date.now()
  await worker.close(1000)
  const took = Date.now() - closing
  t.ok(took >= 300 && took < 2500, `close waited for the running job, then gave up (${took} ms)`)
  t.match(await jobById(sql, short), { state: 'done' }, 'the job that fit in the time-out finished')
  t.match(await jobById(sql, long), { state: 'queued', attempts: 0, lockedBy: null }, 'the other is queued again for the next worker, its attempt not counted')
})

t.test('two workers on one database handle 500 jobs exactly once', async (t) => {
  const database = await createTestDatabase(t, { dropOnTeardown: false })
  const pools = [0, 1, 2].map(() => createSql(database.url, { poolMax: 4, statementTimeoutMs: 10_000, log: pino({ level: 'silent' }) }))
  t.teardown(async () => {
    await Promise.all(pools.map((pool) => pool.end()))
    await database.drop()
  })
  const [producer, firstPool, secondPool] = pools as [typeof pools[0], typeof pools[0], typeof pools[0]]
  const handled = new Map<number, string[]>()
  const handlerFor = (name: string) => ({
    'test-job': async ({ n }: { n: number }) => { handled.set(n, [...(handled.get(n) ?? []), name]) },
    'slow-job': async () => undefined
  })
  const a = createTestWorker(t, firstPool, handlerFor('a'), { concurrency: 8 })
  const b = createTestWorker(t, secondPool, handlerFor('b'), { concurrency: 8 })
  await Promise.all([a.start(), b.start()])
  const queue = createJobQueue(testCatalog, { sql: producer, maxAttempts: 5 })
  for (let n = 0; n < 500; n++) await queue.enqueue('test-job', { n })

  await eventually(async () => {
    const [row] = await producer`select count(*)::int as n from jobs where state = 'done'`
    return row?.n === 500 || undefined
  }, 30_000, '500 jobs done')
  t.equal(handled.size, 500, 'every job ran')
  t.ok([...handled.values()].every((runs) => runs.length === 1), 'none ran twice')
  const byWorker = [...handled.values()].flat().reduce<Record<string, number>>(
    (counts, name) => ({ ...counts, [name]: (counts[name] ?? 0) + 1 }), {}
  )
  t.ok((byWorker.a ?? 0) > 0 && (byWorker.b ?? 0) > 0, `both workers took a share (${JSON.stringify(byWorker)})`)
})

/** The same client, counting the statements that match. */
function counting (sql: Sql, matches: (statement: QueryStatement) => boolean): { sql: Sql; count: () => number } {
  let count = 0
  const observed = instrumentSql(sql, { start: (statement) => { if (matches(statement)) count += 1; return () => undefined } })
  return { sql: observed, count: () => count }
}

const recordsDone = (statement: QueryStatement) => statement.text?.includes('set state = \'done\'') === true

t.test('jobs that finish together are recorded done together: one statement for the batch, not one per job', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  await sql.begin(async (tx) => { for (let n = 0; n < 40; n++) await queue.enqueue('test-job', { n }, { sql: tx }) })
  const observed = counting(sql, recordsDone)
  const succeeded: string[] = []
  const worker = createTestWorker(t, observed.sql, { 'test-job': async () => undefined, 'slow-job': async () => undefined }, {
    concurrency: 40,
    onOutcome: (_type, outcome) => { if (outcome === 'succeeded') succeeded.push(outcome) }
  })
  await worker.start()
  await eventually(async () => succeeded.length === 40 || undefined, 10_000, '40 jobs succeeded')
  const [row] = await sql`select count(*)::int as n from jobs where state = 'done' and finished_at is not null and locked_by is null and locked_until is null`
  t.equal(row?.n, 40, 'a job is counted done only once its completion is committed')
  t.ok(observed.count() <= 2, `40 jobs claimed at once, recorded done in ${observed.count()} statement(s)`)
})

t.test('a job whose completion cannot be recorded stays running under its lease, then runs again: nothing is lost', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  // Every statement works but the one that records jobs done, as if the database went away just then.
  const failingDone = new Proxy(sql, {
    apply (target, thisArgument, args: unknown[]): unknown {
      const strings = args[0]
      if (Array.isArray(strings) && strings.join('$').includes('set state = \'done\'')) return Promise.reject(new Error('connection lost'))
      return Reflect.apply(target, thisArgument, args) as unknown
    }
  })
  const errors: string[] = []
  const log = pino({ level: 'error' }, { write: (line: string) => { errors.push((JSON.parse(line) as { msg: string }).msg) } })
  const ran: string[] = []
  const succeeded: string[] = []
  const handlers = (name: string) => ({ 'test-job': async () => { ran.push(name) }, 'slow-job': async () => undefined })
  const failing = createTestWorker(t, failingDone, handlers('failing'), { log, leaseMs: 1000, onOutcome: (_type, outcome) => succeeded.push(outcome) })
  await failing.start()
  const id = await queue.enqueue('test-job', { n: 1 })
  await eventually(async () => errors.some((message) => message.startsWith('could not record jobs done')) || undefined, 10_000, 'the failed flush')
  t.match(await jobById(sql, id), { state: 'running', attempts: 1, lockedBy: failing.id, lockedUntil: Date }, 'still running under its lease')
  t.same(succeeded, [], 'not counted as a success, nor as a failure')
  await failing.close(1000)

  const rescuer = createTestWorker(t, sql, handlers('rescuer'), { leaseMs: 600 })
  await rescuer.start()
  const job = await eventually(async () => { const found = await jobById(sql, id); return found?.state === 'done' && found })
  t.same(ran, ['failing', 'rescuer'], 'run again once the lease expired')
  t.equal(job.attempts, 2)
})

t.test('expired leases are looked for once per poll interval, not on every turn of the loop', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  await sql.begin(async (tx) => { for (let n = 0; n < 200; n++) await queue.enqueue('test-job', { n }, { sql: tx }) })
  const observed = counting(sql, (statement) => statement.text?.includes('locked_until < now()') === true)
  const claims = counting(observed.sql, (statement) => statement.text?.includes('for update skip locked') === true)
  const worker = createTestWorker(t, claims.sql, { 'test-job': async () => undefined, 'slow-job': async () => undefined }, { concurrency: 2, pollIntervalMs: 1000 })
  const started = Date.now()
  await worker.start()
  await eventually(async () => {
    const [row] = await sql`select count(*)::int as n from jobs where state = 'done'`
    return row?.n === 200 || undefined
  }, 20_000, '200 jobs done')
  const allowed = Math.floor((Date.now() - started) / 1000) + 1
  t.ok(claims.count() >= 100, `the loop went round ${claims.count()} times`)
  t.ok(observed.count() <= allowed, `expired leases looked for ${observed.count()} times in that while (at most ${allowed})`)
})

t.test('a job past its time limit is aborted and counts as a failed attempt, whether its handler heeds the signal or not', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  const heard: string[] = []
  const worker = createTestWorker(t, sql, {
    'test-job': async ({ n }, { signal }) => {
      if (n === 3) return
      if (n === 2) return await new Promise<void>(() => undefined) // deaf to its signal: hangs for ever
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          heard.push(signal.reason instanceof Error ? signal.reason.message : String(signal.reason))
          resolve()
        })
      })
    },
    'slow-job': async () => undefined
  }, { concurrency: 2, timeoutMs: 300 })
  await worker.start()
  const heeding = await queue.enqueue('test-job', { n: 1 })
  const deaf = await queue.enqueue('test-job', { n: 2 })
  for (const id of [heeding, deaf]) {
    const job = await eventually(async () => { const found = await jobById(sql, id); return found?.state === 'dead' && found }, 20_000, 'the job to be dead')
    t.match(job, { attempts: 3, lastError: 'the job ran out of time' }, 'every attempt timed out')
  }
  t.same(heard, ['the job ran out of time', 'the job ran out of time', 'the job ran out of time'], 'the heeding handler heard each abort, and why')
  const after = await queue.enqueue('test-job', { n: 3 })
  await eventually(async () => (await jobById(sql, after))?.state === 'done' || undefined, 10_000, 'a job after them')
  t.pass('the hung handler holds no slot')
})

t.test('the leases of all the jobs a worker holds are renewed by one statement, not one per job', async (t) => {
  const LEASE_MS = 600
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  const renewals = counting(sql, (statement) => statement.text?.startsWith('update jobs set locked_until') === true)
  const worker = createTestWorker(t, renewals.sql, {
    'test-job': async () => undefined,
    'slow-job': async ({ ms }) => { await new Promise((resolve) => setTimeout(resolve, ms)) }
  }, { concurrency: 3, leaseMs: LEASE_MS })
  const ids = await sql.begin(async (tx) => Promise.all([1, 2, 3].map(() => queue.enqueue('slow-job', { ms: 1500 }, { sql: tx }))))
  const started = Date.now()
  await worker.start()
  for (const id of ids) {
    t.match(await eventually(async () => { const found = await jobById(sql, id); return found?.state === 'done' && found }, 10_000), { attempts: 1 })
  }
  const ticks = Math.floor((Date.now() - started) / (LEASE_MS / 3)) + 1
  t.ok(renewals.count() >= 2, `renewed ${renewals.count()} times while they ran`)
  t.ok(renewals.count() <= ticks, `${renewals.count()} renewal statements for 3 jobs held together, at most one per third of the lease (${ticks})`)
})

t.test('a slot is free as soon as its job\'s handler is done, before the completion is committed', async (t) => {
  const sql = await createTestSql(t)
  const queue = createJobQueue(testCatalog, { sql, maxAttempts: 5 })
  const events: string[] = []
  // The statement that records jobs done takes 500 ms more to answer.
  const slowDone = new Proxy(sql, {
    apply (target, thisArgument, args: unknown[]): unknown {
      const query = Reflect.apply(target, thisArgument, args) as PromiseLike<unknown>
      const strings = args[0]
      if (!Array.isArray(strings) || !strings.join('$').includes('set state = \'done\'')) return query
      return new Promise((resolve) => setTimeout(resolve, 500)).then(() => query).then((result) => {
        events.push('done recorded')
        return result
      })
    }
  })
  const worker = createTestWorker(t, slowDone, {
    'test-job': async ({ n }) => { events.push(`run ${n}`) },
    'slow-job': async () => undefined
  }, { concurrency: 1 })
  await sql.begin(async (tx) => { for (const n of [1, 2]) await queue.enqueue('test-job', { n }, { sql: tx }) })
  await worker.start()
  await eventually(async () => events.filter((event) => event === 'done recorded').length === 2 || undefined, 10_000, 'both recorded')
  t.same(events.slice(0, 2), ['run 1', 'run 2'], 'the second job ran while the first one\'s completion was still being recorded')
})

t.test('the claim finds its jobs by primary key: no scan of the whole table, however many done jobs it keeps', async (t) => {
  const sql = await createTestSql(t, { poolMax: 1 })
  await sql`insert into jobs (type, payload, max_attempts, state, finished_at) select 'test-job', '{"n": 0}', 3, 'done', now() from generate_series(1, 20000)`
  await sql`insert into jobs (type, payload, max_attempts) select 'test-job', jsonb_build_object('n', g), 3 from generate_series(1, 400) g`
  await sql`analyze jobs`
  const sequentialScans = async () => {
    await sql`select pg_stat_force_next_flush()`
    await sql`select pg_stat_clear_snapshot()`
    const [row] = await sql<{ n: number }[]>`select seq_scan::int as n from pg_stat_user_tables where relname = 'jobs'`
    return row?.n ?? 0
  }
  const before = await sequentialScans()
  const claimed = await createJobsRepository(sql).claim('a-worker', 200, 60_000)
  t.equal(claimed.length, 200)
  t.equal(await sequentialScans(), before, 'the jobs table was not scanned')
})
