import { once } from 'node:events'
import { connect, type AddressInfo, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { DEVELOPMENT_IDLE_GRACE_MS, SHUTTING_DOWN_RETRY_AFTER_S } from '../../plugins/availability.js'
import { buildTestApp } from '../helpers/app.js'
import { eventually } from '../helpers/jobs.js'

t.test('draining: readiness answers 503 at once, everything else still works', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200)
  app.startDraining()
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(ready.json(), { type: 'https://taskforge.dev/problems/not-ready', detail: 'This instance is shutting down', checks: { shutdown: 'draining' } })
  const live = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(live.statusCode, 200, 'live: the process still runs')
  t.equal(live.headers.connection, 'close', 'answers tell clients not to reuse their connection')
})

t.test('an overloaded process sheds load with a 503 problem', async (t) => {
  const { app } = await buildTestApp(t, { MAX_EVENT_LOOP_DELAY_MS: '20' })
  app.get('/block', () => {
    const until = Date.now() + 400
    while (Date.now() < until) { /* hog the event loop, as an overloaded process would */ }
    return { blocked: true }
  })
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200)
  await app.inject({ method: 'GET', url: '/block' })
  // under-pressure samples the event-loop delay about once a second.
  let shed: Awaited<ReturnType<typeof app.inject>> | undefined
  for (let i = 0; i < 30 && shed === undefined; i++) {
    await app.inject({ method: 'GET', url: '/block' })
    const response = await app.inject({ method: 'GET', url: '/health/live' })
    if (response.statusCode === 503) shed = response
    else await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.ok(shed, 'a request was shed')
  t.equal(shed?.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(shed?.json(), { type: 'https://taskforge.dev/problems/overloaded', status: 503 })
  t.equal(shed?.headers['retry-after'], '5')
  t.equal(shed?.headers['x-content-type-options'], 'nosniff', 'with the headers every answer carries')
  t.ok(shed?.headers['x-request-id'])
})

t.test('a request not answered within REQUEST_TIMEOUT_MS gets a 503 problem, whatever it still waits for', async (t) => {
  const { app } = await buildTestApp(t, { REQUEST_TIMEOUT_MS: '200' })
  // As a query stuck on a connection the database dropped would.
  app.get('/stuck', () => new Promise(() => undefined))
  const started = Date.now()
  const response = await app.inject({ method: 'GET', url: '/stuck' })
  t.ok(Date.now() - started < 5000, 'answered, not left hanging')
  t.equal(response.statusCode, 503)
  t.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(response.json(), { type: 'https://taskforge.dev/problems/timeout', status: 503, requestId: response.headers['x-request-id'] })
  t.equal(response.headers['retry-after'], '5')
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200)
})

interface RawAnswer { status: number; headers: Record<string, string>; body: string }

/** One kept-alive HTTP/1.1 connection, byte for byte: the test decides when each request goes out. */
async function rawConnection (port: number) {
  const socket: Socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  let buffer = ''
  let waiting: (() => void) | undefined
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { buffer += chunk; waiting?.() })
  const ended = new Promise<void>((resolve) => { socket.once('close', () => { resolve() }) })
  // Wakes a reader when the connection ends, so that it can say it got no answer.
  void ended.then(() => waiting?.())
  const nextAnswer = async (): Promise<RawAnswer> => {
    for (;;) {
      const headEnd = buffer.indexOf('\r\n\r\n')
      if (headEnd >= 0) {
        const [statusLine = '', ...lines] = buffer.slice(0, headEnd).split('\r\n')
        const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
        const length = Number(headers['content-length'] ?? 0)
        if (buffer.length >= headEnd + 4 + length) {
          const body = buffer.slice(headEnd + 4, headEnd + 4 + length)
          buffer = buffer.slice(headEnd + 4 + length)
          return { status: Number(statusLine.split(' ')[1]), headers, body }
        }
      }
      if (socket.destroyed || socket.readableEnded) throw new Error(`the connection ended without an answer (${buffer.length} bytes)`)
      await new Promise<void>((resolve) => { waiting = resolve })
    }
  }
  return {
    request: async (path: string) => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: taskforge.test\r\n\r\n`)
      return await nextAnswer()
    },
    ended
  }
}

async function listening (app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

async function refusesConnections (port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1')
  const outcome = await new Promise<string | undefined>((resolve) => {
    socket.once('connect', () => { resolve('connected') })
    socket.once('error', (error: Error & { code?: string }) => { resolve(error.code) })
  })
  socket.destroy()
  return outcome === 'ECONNREFUSED'
}

t.test('closing connections: one a client used a moment ago is not cut when the server stops accepting; the request it sends next is answered, then the server closes it', async (t) => {
  const { app } = await buildTestApp(t)
  const port = await listening(app)
  const client = await rawConnection(port)
  const first = await client.request('/health/live')
  t.equal(first.status, 200)
  t.not(first.headers.connection, 'close', 'kept alive before the shutdown')

  const closing = app.closeConnections(performance.now() + 10_000)
  // http.Server#close() would have destroyed this idle connection as it stopped accepting, under the request that follows.
  await eventually(async () => !app.server.listening || undefined, 5000, 'the server to stop accepting')
  const second = await client.request('/health/live')
  t.equal(second.status, 503)
  t.match(JSON.parse(second.body), { type: 'https://taskforge.dev/problems/shutting-down' })
  t.equal(second.headers.connection, 'close')
  t.equal(second.headers['retry-after'], String(SHUTTING_DOWN_RETRY_AFTER_S), 'told when to retry')
  await client.ended
  t.equal(await closing, 0, 'no connection had to be cut')
  t.ok(await refusesConnections(port), 'new connections are refused')
})

t.test('closing connections: a request in flight is answered, with Connection: close; newcomers meanwhile are told to retry', async (t) => {
  const { app } = await buildTestApp(t)
  let release: (() => void) | undefined
  app.get('/slow', () => new Promise((resolve) => { release = () => { resolve({ slow: true }) } }))
  const port = await listening(app)
  const client = await rawConnection(port)
  const answer = client.request('/slow')
  await eventually(async () => release !== undefined || undefined, 5000, 'the request to be running')

  const closing = app.closeConnections(performance.now() + 10_000)
  const newcomer = await fetch(`http://127.0.0.1:${port}/health/live`)
  t.equal(newcomer.status, 503, 'the server still accepts while a request runs, and says to retry')
  t.equal(newcomer.headers.get('retry-after'), String(SHUTTING_DOWN_RETRY_AFTER_S))
  release?.()
  const answered = await answer
  t.equal(answered.status, 200)
  t.same(JSON.parse(answered.body), { slow: true })
  t.equal(answered.headers.connection, 'close')
  await client.ended
  t.equal(await closing, 0)
  t.ok(await refusesConnections(port))
})

t.test('closing connections: an idle one is left to its keep-alive time-out, then closed; one still busy at the deadline is cut', async (t) => {
  const keepAliveMs = 1000
  const { app } = await buildTestApp(t, { KEEP_ALIVE_TIMEOUT_MS: String(keepAliveMs) })
  let stuckRunning = false
  app.get('/stuck', () => new Promise(() => { stuckRunning = true }))
  const port = await listening(app)
  const stuck = await rawConnection(port)
  const never = stuck.request('/stuck')
  never.catch(() => undefined)
  await eventually(async () => stuckRunning || undefined, 5000, 'the request to be running')
  const idle = await rawConnection(port)
  const answer = await idle.request('/health/live')
  t.equal(answer.headers['keep-alive'], 'timeout=1', 'the client is told how long the connection stays')
  const lastAnswer = performance.now()

  const closing = app.closeConnections(performance.now() + 4000)
  await idle.ended
  t.ok(performance.now() - lastAnswer > keepAliveMs, `the idle connection was closed ${Math.round(performance.now() - lastAnswer)} ms after its last answer, not before its keep-alive time-out`)
  t.equal(await closing, 1, 'the deadline cut the busy one')
  await t.rejects(never, /ended without an answer/)
})

t.test('closing connections in development: an idle one is closed once quiet half a second, a restart does not wait for it', async (t) => {
  const { app } = await buildTestApp(t, { NODE_ENV: 'development' })
  const port = await listening(app)
  const idle = await rawConnection(port)
  await idle.request('/health/live')
  const lastAnswer = performance.now()
  const closing = app.closeConnections(performance.now() + 10_000)
  await idle.ended
  const closedAfter = performance.now() - lastAnswer
  t.ok(closedAfter >= DEVELOPMENT_IDLE_GRACE_MS && closedAfter < 5000, `closed ${Math.round(closedAfter)} ms after its last answer`)
  t.equal(await closing, 0)
})
