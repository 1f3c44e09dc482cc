import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import type { Sql } from '../../db/client.js'
import { createTestSql } from '../helpers/sql.js'
import { readTestServerState } from '../helpers/test-server.js'

// scripts/patch-postgres-driver.mjs (the postinstall) fixes how postgres.js 3.4.9 handles a connection that dies: what it fixes.

/**
 * A pool of one connection, as the app configures its pool, so that the next query must reuse the one that
 * died; and an admin session that can watch and terminate its backend.
 */
async function oneConnectionAndAdmin (t: Test): Promise<{ sql: Sql; admin: postgres.Sql }> {
  const sql = await createTestSql(t, { poolMax: 1 })
  const admin = postgres(readTestServerState().adminUrl, { max: 1, onnotice: () => undefined })
  t.teardown(async () => { await admin.end({ timeout: 1 }) })
  return { sql, admin }
}

/** Until the backend `pid()` names runs its pg_sleep (the pid is known once the session has asked for it). */
async function untilSleeping (admin: postgres.Sql, pid: () => number): Promise<void> {
  for (;;) {
    const sleeping = await admin`select 1 from pg_stat_activity where pid = ${pid()} and query like '%pg_sleep%' and state = 'active'`
    if (sleeping.length === 1) return
    await sleep(10)
  }
}

t.test('a transaction whose connection dies mid-query fails with a connection error; the process and the pool carry on', async (t) => {
  const { sql, admin } = await oneConnectionAndAdmin(t)

  const uncaught: unknown[] = []
  const onUncaught = (error: unknown): void => { uncaught.push(error) }
  process.prependListener('uncaughtException', onUncaught)
  t.teardown(() => { process.removeListener('uncaughtException', onUncaught) })

  let backendPid = 0
  const transaction = sql.begin(async (tx) => {
    const [backend] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`
    backendPid = backend?.pid ?? 0
    await tx`select pg_sleep(5)`
  })
  const settled = transaction.then(() => 'committed', (error: unknown) => error)
  await untilSleeping(admin, () => backendPid)
  // What a PostgreSQL restart does to each backend: FATAL 57P01, then the socket closes. The driver then sends
  // the transaction's ROLLBACK on the closed connection; unpatched, that write's deferred flush throws
  // "Cannot read properties of null (reading 'write')" where nothing can catch it.
  await admin`select pg_terminate_backend(${backendPid})`
  const outcome = await settled
  t.not(outcome, 'committed')
  t.match(outcome, { code: /^(CONNECTION_CLOSED|57P01|ECONNRESET)$/ }, 'the transaction rejects with a connection error')

  // The same (only) connection answers again: it reconnects and its writes are flushed (unpatched, a stale
  // timer could leave every later write buffered and the query waiting for ever).
  const answer = await Promise.race([sql`select 1 as one`, sleep(10_000).then(() => 'no answer within 10 s')])
  t.same(answer, [{ one: 1 }], 'the pool answers a query on the reconnected connection')
  await sleep(50)
  t.same(uncaught, [], 'no uncaught exception')
})

t.test('after a query\'s backend is terminated, the next query on that connection gets an answer, not the old error', async (t) => {
  const { sql, admin } = await oneConnectionAndAdmin(t)

  const [backend] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`
  const backendPid = backend?.pid ?? 0
  const sleeping = sql`select pg_sleep(5)`.then(() => 'answered', (error: unknown) => error)
  await untilSleeping(admin, () => backendPid)
  await admin`select pg_terminate_backend(${backendPid})`
  t.match(await sleeping, { code: /^(CONNECTION_CLOSED|57P01|ECONNRESET)$/ }, 'the terminated query rejects')
  // Unpatched, the reconnected connection hands this query the dead one's FATAL 57P01.
  t.same(await sql`select 1 as one`, [{ one: 1 }], 'the next query is answered')
})

t.test('the installed driver is the version the patch is for, and patched', async (t) => {
  const driverPackage = JSON.parse(readFileSync('node_modules/postgres/package.json', 'utf8')) as { version: string }
  const projectPackage = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> }
  t.equal(projectPackage.dependencies.postgres, driverPackage.version, 'package.json pins the exact version the patch was written for')
  t.doesNotThrow(() => execFileSync(process.execPath, ['scripts/patch-postgres-driver.mjs', '--check'], { stdio: 'pipe' }), 'the check passes')
})

/** The driver's queue (src/queue.js, the build the app loads), as the pool uses it for its connections and its waiting queries. */
interface DriverQueue<T> {
  readonly length: number
  push: (item: T) => T
  shift: () => T | undefined
  remove: (item: T) => T | null
}

t.test('the pool\'s queues do not slow down while they never empty: remove() does not search what shift() left behind', async (t) => {
  const module = await import(pathToFileURL(join(process.cwd(), 'node_modules', 'postgres', 'src', 'queue.js')).href) as { default: <T>() => DriverQueue<T> }
  const queue = module.default<{ id: number }>()
  const connections = Array.from({ length: 10 }, (_, id) => ({ id }))
  for (const connection of connections) queue.push(connection)
  // A pool busier than its connections: the one at the front is taken and put back at the end, and the queue never empties.
  for (let turn = 0; turn < 100_000; turn += 1) {
    const front = queue.shift()
    if (front !== undefined) queue.push(front)
  }

  const target = connections[5]
  if (target === undefined) throw new Error('no connection 5')
  // Every array's indexOf, for the moment of one remove(): how far each search could go.
  const searched: number[] = []
  const indexOf = Array.prototype.indexOf
  // eslint-disable-next-line no-extend-native -- put back right after the one call
  Array.prototype.indexOf = function (this: unknown[], item: unknown, from?: number): number {
    if (item === target) searched.push(this.length - (from ?? 0))
    return indexOf.call(this, item, from)
  }
  let removed: { id: number } | null
  try {
    removed = queue.remove(target)
  } finally {
    Array.prototype.indexOf = indexOf // eslint-disable-line no-extend-native -- the original
  }
  t.equal(removed, target, 'the connection is found and removed')
  t.ok(searched.length > 0 && searched.every((length) => length <= 2048), `each search looks at the queue, not at 100,000 turns of its past (${searched.join(', ')} entries)`)

  // Still a queue: first in, first out, the removed one gone.
  t.equal(queue.length, 9)
  const order = Array.from({ length: 9 }, () => queue.shift()?.id)
  t.same(order, connections.map(({ id }) => id).filter((id) => id !== 5), 'the rest come out in order')
  t.equal(queue.length, 0)
})
