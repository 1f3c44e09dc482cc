import pino from 'pino'
import t from 'tap'
import { createSql, pingDatabase } from '../../db/client.js'
import { buildTestApp } from '../helpers/app.js'
import { startSilentServer } from '../helpers/smtp.js'

t.test('live and ready answer 200 while the database answers', async (t) => {
  const { app } = await buildTestApp(t)
  const live = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(live.statusCode, 200)
  t.match(live.headers['content-type'], /^application\/json; charset=utf-8/)
  t.same(live.json(), { status: 'ok' })

  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok', checks: { database: 'ok' } })
})

t.test('ready answers 503 problem when the database is gone; live stays 200', async (t) => {
  const { app, database } = await buildTestApp(t)
  await database.drop()

  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(ready.json(), {
    type: 'https://taskforge.dev/problems/not-ready',
    status: 503,
    checks: { database: 'fail' }
  })
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200)
})

t.test('the database ping gives up after its time-out when the server never answers', async (t) => {
  // A server that accepts connections and says nothing: the worst case for a probe.
  const port = await startSilentServer(t)
  const sql = createSql(`postgres://u:p@127.0.0.1:${port}/db`, { poolMax: 1, statementTimeoutMs: 1000, log: pino({ level: 'silent' }) })
  t.teardown(() => sql.end({ timeout: 0 }))

  const started = Date.now()
  await t.rejects(pingDatabase(sql, 300), /no answer within 300 ms/)
  t.ok(Date.now() - started < 3000, 'bounded by the ping time-out, not the connect time-out')
})
