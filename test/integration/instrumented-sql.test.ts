import t from 'tap'
import { instrumentSql, type QueryObserver } from '../../db/instrumented-sql.js'
import { createTestSql } from '../helpers/sql.js'

interface Observation { summary: string; text: string | undefined; settled: boolean; failed: boolean }

function recorder (): { observer: QueryObserver; seen: Observation[] } {
  const seen: Observation[] = []
  return {
    seen,
    observer: {
      start (statement) {
        const observation = { summary: statement.summary, text: statement.text, settled: false, failed: false }
        seen.push(observation)
        return (error) => {
          observation.settled = true
          observation.failed = error !== undefined
        }
      }
    }
  }
}

t.test('each query the client runs is observed once, by its shape, never its values', async (t) => {
  const { observer, seen } = recorder()
  const sql = instrumentSql(await createTestSql(t), observer)
  const email = 'parameter@example.io'

  const rows = await sql`select id from users ${sql`where email = ${email}`}`
  t.same(rows, [])
  t.same(seen, [{ summary: 'SELECT users', text: 'select id from users $1', settled: true, failed: false }], 'a nested fragment is part of its query, not a query of its own')

  const query = sql`select 1 as one`
  await query
  await query
  const neverAwaited = sql`select 'never awaited'`
  t.ok(neverAwaited)
  await Promise.all([sql`select 2`, sql`select 3`])
  t.equal(seen.length, 4, 'awaiting a query twice runs it once; a query never awaited never runs')

  await t.rejects(sql`select * from no_such_table`)
  t.match(seen.at(-1), { summary: 'SELECT no_such_table', settled: true, failed: true })

  await sql.unsafe(`select '${email}' as spliced`)
  t.match(seen.at(-1), { summary: 'SELECT', text: undefined }, 'unsafe() text may hold values: it is not kept')

  t.notOk(JSON.stringify(seen).includes(email), 'no value anywhere')
})

t.test('no query gets a `then` of its own: V8 would slow every await in the process for it', async (t) => {
  const { observer, seen } = recorder()
  const sql = instrumentSql(await createTestSql(t), observer)
  const query = sql`select 1 as one`
  const fragment = sql`where true`
  await query
  t.equal(seen.length, 1)
  for (const promise of [query, fragment, sql.unsafe('select 2')]) {
    t.notOk(Object.getOwnPropertyNames(promise).includes('then'), 'observed through its class, not the instance')
  }
})

t.test('queries in transactions and savepoints are observed too', async (t) => {
  const { observer, seen } = recorder()
  const sql = instrumentSql(await createTestSql(t), observer)
  await sql.begin(async (tx) => {
    await tx`select count(*) from users`
    await tx.savepoint(async (savepoint) => { await savepoint`select count(*) from tasks` })
  })
  await sql.begin('read only', async (tx) => { await tx`select count(*) from jobs` })
  t.same(seen.map((observation) => observation.summary), ['SELECT users', 'SELECT tasks', 'SELECT jobs'])
  t.ok(seen.every((observation) => observation.settled && !observation.failed))
})
