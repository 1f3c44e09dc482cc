import t from 'tap'
import { buildTestApp } from '../helpers/app.js'

t.test('draining: readiness answers 503 at once, everything else still works', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200)
  app.startDraining()
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(ready.json(), { type: 'https://taskforge.dev/problems/not-ready', detail: 'This instance is shutting down', checks: { shutdown: 'draining' } })
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200, 'live: the process still runs')
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
