import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import postgres from 'postgres'
import type { Test } from 'tap'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { bearer, registerUser } from '../helpers/auth.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { tasksClient } from '../helpers/tasks.js'
import { createToken } from '../helpers/tokens.js'

const PROBLEM = 'application/problem+json; charset=utf-8'

/** The app on a fresh database that it reaches through a TCP proxy the test can cut, restore or make hang up. */
async function appBehindProxy (
  t: Test, environment: NodeJS.ProcessEnv = {}
): Promise<{ app: FastifyInstance; proxy: TcpProxy; database: TestDatabase }> {
  const database = await createTestDatabase(t)
  const direct = new URL(database.url)
  const proxy = await startTcpProxy(t, { host: direct.hostname, port: Number(direct.port === '' ? 5432 : direct.port) })
  const viaProxy = new URL(database.url)
  viaProxy.hostname = '127.0.0.1'
  viaProxy.port = String(proxy.port)
  const { app } = await buildTestApp(
    t, { DATABASE_URL: viaProxy.toString(), ...environment }, { database: { ...database, url: viaProxy.toString() } }
  )
  return { app, proxy, database }
}

t.test('the database goes away and comes back: 503 problems, quickly; the process survives; nothing committed is lost', async (t) => {
  const { app, proxy } = await appBehindProxy(t, { JOBS_POLL_INTERVAL_MS: '200' })

  const user = await registerUser(app)
  const tasks = tasksClient(app, user.accessToken)
  const before = await tasks.createTask({ title: 'committed before the outage' })

  await proxy.cut()
  const requests = [
    () => app.inject({ method: 'GET', url: '/tasks', headers: bearer(user.accessToken) }),
    () => app.inject({ method: 'POST', url: '/tasks', headers: bearer(user.accessToken), payload: { title: 'during the outage' } }),
    () => app.inject({ method: 'GET', url: `/tasks/${before.id}`, headers: bearer(user.accessToken) }),
    () => app.inject({ method: 'POST', url: '/auth/login', payload: { email: user.user.email, password: user.password } })
  ]
  for (const request of requests) {
    const started = Date.now()
    const response = await request()
    const took = Date.now() - started
    t.equal(response.statusCode, 503, `${response.statusCode} ${response.body.slice(0, 120)}`)
    t.equal(response.headers['content-type'], PROBLEM)
    t.equal(response.json().type, 'https://taskforge.dev/problems/service-unavailable')
    t.ok(response.headers['retry-after'], 'Retry-After')
    t.notMatch(response.body, /ECONNREFUSED|postgres|127\.0\.0\.1/i, 'no driver details')
    t.ok(took < 7000, `answered in ${took} ms (bounded by the connect time-out)`)
  }
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200, 'the process stays up')

  await proxy.restore()
  let readyAgain = 0
  for (let i = 0; i < 50 && readyAgain !== 200; i++) {
    readyAgain = (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode
    if (readyAgain !== 200) await sleep(100)
  }
  t.equal(readyAgain, 200, 'ready again once the database is back')
  t.same((await tasks.get(before.id)).json(), before, 'what was committed before is there')
  t.equal((await tasks.create({ title: 'after the outage' })).statusCode, 201, 'writes work again')
  const titles = (await tasks.list('?limit=100')).json<{ items: { title: string }[] }>().items.map((task) => task.title)
  t.notOk(titles.includes('during the outage'), 'the refused write left nothing behind')
})

t.test('after an outage no request waits out the driver\'s reconnect backoff: answered at once, and at once again when the database is back', async (t) => {
  // No job worker: the test alone decides which queries meet the outage.
  const { app, proxy } = await appBehindProxy(t, { JOBS_CONCURRENCY: '0' })
  const poolSize = 4 // test/helpers/app.ts's DB_POOL_MAX
  const user = await registerUser(app)
  const listAtOnce = async () => await Promise.all(Array.from({ length: poolSize }, async () => {
    const started = Date.now()
    const response = await app.inject({ method: 'GET', url: '/tasks', headers: bearer(user.accessToken) })
    return { status: response.statusCode, took: Date.now() - started }
  }))

  await proxy.cut()
  // Every refused connect attempt raises a retry count the whole pool shares; two rounds on every
  // connection take it to 8, where postgres.js's own backoff (10–20 s) would hold the next query on
  // those connections before it even tried to connect, whether or not the server was back.
  for (const round of [1, 2]) {
    for (const { status, took } of await listAtOnce()) {
      t.equal(status, 503, `outage, round ${round}: refused`)
      t.ok(took < 3000, `outage, round ${round}: refused in ${took} ms`)
    }
  }
  await proxy.restore()
  for (const { status, took } of await listAtOnce()) {
    t.equal(status, 200, 'back: answered')
    t.ok(took < 5000, `back: answered in ${took} ms`)
  }
})

t.test('a database that hangs up on every new connection: requests with a body and without get the REQUEST_TIMEOUT_MS 503, none is left unanswered', async (t) => {
  const { app, proxy } = await appBehindProxy(t, { JOBS_CONCURRENCY: '0', REQUEST_TIMEOUT_MS: '500' })
  const user = await registerUser(app)
  // A real server: Node tells a request with a body that it is over ('close') once the body is read, which app.inject does not.
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const headers = { ...bearer(user.accessToken), 'content-type': 'application/json' }

  // postgres.js takes a connection closed without an error during its start-up for a blip and tries
  // again at once, for ever (porsager/postgres#1193): the query waits on it with no time-out of its own.
  await proxy.hangUp()
  const requests: [string, RequestInit][] = [
    ['POST /tasks', { method: 'POST', headers, body: JSON.stringify({ title: 'stranded' }) }],
    ['GET /tasks', { headers }],
    ['PATCH /tasks/:id', { method: 'PATCH', headers: { ...headers, 'if-match': '*' }, body: JSON.stringify({ title: 'stranded' }) }]
  ]
  for (const [name, init] of requests) {
    const started = Date.now()
    const url = name.startsWith('PATCH') ? `${base}/tasks/00000000-0000-4000-8000-000000000000` : `${base}/tasks`
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) }).catch((error: unknown) => error as Error)
    if (response instanceof Error) {
      t.fail(`${name}: no answer within 5 s (${response.name})`)
      continue
    }
    const took = Date.now() - started
    t.equal(response.status, 503, name)
    t.equal(response.headers.get('content-type'), PROBLEM, `${name}: a problem`)
    t.match(await response.json(), { type: 'https://taskforge.dev/problems/timeout', status: 503 }, `${name}: the time-out problem`)
    t.ok(took < 3000, `${name}: answered in ${took} ms`)
  }
  await proxy.restore()
  let ready = 0
  for (let i = 0; i < 50 && ready !== 200; i++) {
    ready = (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode
    if (ready !== 200) await sleep(100)
  }
  t.equal(ready, 200, 'ready again once connections open again')
})

t.test('a connection lost in the middle of a query does not hold up the close', async (t) => {
  const { app, proxy, database } = await appBehindProxy(t, { JOBS_CONCURRENCY: '0' })
  const user = await registerUser(app)
  // Straight to the database, not through the proxy: a lock that makes the next read of tasks wait.
  const direct = postgres(database.url, { max: 2, onnotice: () => undefined })
  t.teardown(() => direct.end({ timeout: 1 }))
  let release: () => void = () => undefined
  let lockHeld: () => void = () => undefined
  const locked = new Promise<void>((resolve) => { lockHeld = resolve })
  const transaction = direct.begin(async (tx) => {
    await tx`lock table tasks in access exclusive mode`
    lockHeld()
    await new Promise<void>((resolve) => { release = resolve })
  })
  await locked
  const request = app.inject({ method: 'GET', url: '/tasks', headers: bearer(user.accessToken) })
  // The read is on the server, waiting for the lock, when the connection goes.
  let waiting = 0
  for (let i = 0; i < 100 && waiting === 0; i++) {
    const [row] = await direct<{ count: number }[]>`select count(*)::int as count from pg_stat_activity where datname = ${database.name} and wait_event_type = 'Lock'`
    waiting = row?.count ?? 0
    if (waiting === 0) await sleep(50)
  }
  t.equal(waiting, 1, 'the read waits for the lock')
  await proxy.cut()
  t.equal((await request).statusCode, 503, 'the read lost its connection: a 503')
  release()
  await transaction

  // postgres.js's end() waits for that connection's query for ever (porsager/postgres#1097): only the close time-out ends the wait.
  const started = Date.now()
  await app.close()
  const took = Date.now() - started
  t.ok(took < 3000, `closed in ${took} ms`)
})

t.test('readiness probes that time out while the database is slow to answer do not take connections out of the pool', async (t) => {
  // One connection: one lost to the pool is the pool lost.
  const { app, proxy } = await appBehindProxy(t, { JOBS_CONCURRENCY: '0', DB_POOL_MAX: '1', REQUEST_TIMEOUT_MS: '3000' })
  const user = await registerUser(app)
  // The probes' query waits for a connection that opens but gets no answer yet; each probe gives up after its 1 s.
  await proxy.hold()
  for (let i = 0; i < 2; i++) t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 503, 'not ready while the database does not answer')
  // Well inside the 5 s connect time-out: the held connection opens after all.
  await proxy.restore()
  let ready = 0
  for (const started = Date.now(); ready !== 200 && Date.now() - started < 5000;) {
    ready = (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode
    if (ready !== 200) await sleep(100)
  }
  t.equal(ready, 200, 'ready again once the database answers')
  t.equal((await app.inject({ method: 'GET', url: '/tasks', headers: bearer(user.accessToken) })).statusCode, 200, 'and a request finds its connection')
})

t.test('a personal access token that cannot be looked up is a 503 where a route needs it, never a 401, and no matter elsewhere', async (t) => {
  // No cache: every request looks its token up.
  const { app, proxy } = await appBehindProxy(t, { JOBS_CONCURRENCY: '0', PAT_CACHE_TTL_MS: '0' })
  const user = await registerUser(app)
  const token = await createToken(app, user.accessToken, { scopes: ['tasks:read'] })

  await proxy.cut()
  const refused = await app.inject({ method: 'GET', url: '/tasks', headers: bearer(token.token) })
  t.equal(refused.statusCode, 503, 'the database is away: the token is not judged invalid')
  t.equal(refused.json().type, 'https://taskforge.dev/problems/service-unavailable')
  t.equal(refused.headers['www-authenticate'], undefined, 'and the client is not told to authenticate again')
  const live = await app.inject({ method: 'GET', url: '/health/live', headers: bearer(token.token) })
  t.equal(live.statusCode, 200, 'a route that needs no credential does not care that the token could not be looked up')

  await proxy.restore()
  let answer = 0
  for (let attempt = 0; attempt < 50 && answer !== 200; attempt++) {
    answer = (await app.inject({ method: 'GET', url: '/tasks', headers: bearer(token.token) })).statusCode
    if (answer !== 200) await sleep(100)
  }
  t.equal(answer, 200, 'back with the database')
})
