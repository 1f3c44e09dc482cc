import t from 'tap'
import { buildTestApp } from '../helpers/app.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('X-Request-Id', async (t) => {
  const { app, logs } = await buildTestApp(t)

  await t.test('a sane id from the client is kept, sent back and logged', async (t) => {
    const response = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'req-1f:abc.DEF_9' } })
    t.equal(response.headers['x-request-id'], 'req-1f:abc.DEF_9')
    // The health routes log at warn, so look for the line of a request that logs.
    const failed = await app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'trace-me' } })
    t.equal(failed.headers['x-request-id'], 'trace-me')
    t.equal(failed.json().requestId, 'trace-me')
    const lines = logs.filter((line) => line.requestId === 'trace-me')
    t.ok(lines.length >= 2, 'the incoming and completed lines carry the id')
  })

  await t.test('a missing id is generated', async (t) => {
    const response = await app.inject({ method: 'GET', url: '/health/live' })
    t.match(response.headers['x-request-id'], UUID)
  })

  await t.test('an insane id is replaced, not echoed', async (t) => {
    for (const insane of ['x'.repeat(129), 'a b', 'id\u202e', '<script>', 'a;b', '']) {
      const response = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': insane } })
      t.match(response.headers['x-request-id'], UUID, JSON.stringify(insane))
    }
    const longest = 'y'.repeat(128)
    const kept = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': longest } })
    t.equal(kept.headers['x-request-id'], longest, '128 characters is still sane')
  })

  await t.test('error answers carry it too', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/health/live', payload: {} })
    t.equal(response.statusCode, 404)
    t.match(response.headers['x-request-id'], UUID)
    t.equal(response.json().requestId, response.headers['x-request-id'])
  })
})
