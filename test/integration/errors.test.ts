import { once } from 'node:events'
import { connect } from 'node:net'
import { Type } from '@sinclair/typebox'
import t from 'tap'
import { NotFoundError } from '../../errors.js'
import { buildTestApp } from '../helpers/app.js'

const PROBLEM = 'application/problem+json; charset=utf-8'

t.test('an unknown route answers 404 problem+json, never HTML', async (t) => {
  const { app } = await buildTestApp(t)
  const response = await app.inject({ method: 'GET', url: '/nope?x=1', headers: { accept: 'text/html' } })
  t.equal(response.statusCode, 404)
  t.equal(response.headers['content-type'], PROBLEM)
  t.match(response.json(), {
    type: 'https://taskforge.dev/problems/route-not-found',
    title: 'Route not found',
    status: 404,
    instance: '/nope',
    requestId: response.headers['x-request-id']
  })
})

t.test('Fastify\'s own client errors become problems', async (t) => {
  const { app } = await buildTestApp(t, { BODY_LIMIT: '2048' })
  app.post('/echo', {
    schema: {
      body: Type.Object({ title: Type.String({ minLength: 1 }), count: Type.Optional(Type.Integer()) }, { additionalProperties: false })
    }
  }, (request) => request.body)

  await t.test('validation: 400 with errors[] naming each path', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/echo', payload: { title: '' } })
    t.equal(response.statusCode, 400)
    t.equal(response.headers['content-type'], PROBLEM)
    t.same(response.json(), {
      type: 'https://taskforge.dev/problems/validation-error',
      title: 'Request validation failed',
      status: 400,
      detail: 'body/title must NOT have fewer than 1 characters',
      instance: '/echo',
      requestId: response.headers['x-request-id'],
      errors: [{ path: '/body/title', message: 'must NOT have fewer than 1 characters' }]
    })
  })

  await t.test('a missing property is named in the path', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/echo', payload: {} })
    t.equal(response.statusCode, 400)
    t.same(response.json().errors, [{ path: '/body/title', message: 'must have required property \'title\'' }])
  })

  await t.test('an unknown property is a 400, not dropped', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/echo', payload: { title: 'a', userId: 'x' } })
    t.equal(response.statusCode, 400)
    t.same(response.json().errors, [{ path: '/body/userId', message: 'must NOT have additional properties' }])
  })

  await t.test('malformed JSON', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{"title":' })
    t.equal(response.statusCode, 400)
    t.equal(response.headers['content-type'], PROBLEM)
    t.equal(response.json().type, 'https://taskforge.dev/problems/malformed-json')
  })

  await t.test('a body over BODY_LIMIT is 413', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/echo', payload: { title: 'x'.repeat(4096) } })
    t.equal(response.statusCode, 413)
    t.equal(response.headers['content-type'], PROBLEM)
    t.equal(response.json().type, 'https://taskforge.dev/problems/payload-too-large')
  })

  await t.test('a body that is not JSON is 415', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'text/plain' }, payload: 'title=a' })
    t.equal(response.statusCode, 415)
    t.equal(response.headers['content-type'], PROBLEM)
    t.equal(response.json().type, 'https://taskforge.dev/problems/unsupported-media-type')
  })
})

t.test('typed domain errors map to their status', async (t) => {
  const { app } = await buildTestApp(t)
  app.get('/missing', () => { throw new NotFoundError('Task not found') })
  const response = await app.inject({ method: 'GET', url: '/missing' })
  t.equal(response.statusCode, 404)
  t.same(response.json(), {
    type: 'https://taskforge.dev/problems/not-found',
    title: 'Not found',
    status: 404,
    detail: 'Task not found',
    instance: '/missing',
    requestId: response.headers['x-request-id']
  })
})

t.test('a 5xx hides internals and logs them with the request id', async (t) => {
  const { app, logs } = await buildTestApp(t)
  app.get('/boom', () => { throw new Error('connection to 10.0.0.7 failed: password authentication failed for "admin"') })
  app.get('/sql', async () => app.sql`select * from no_such_table where secret = ${'hunter2-secret'}`)

  for (const url of ['/boom', '/sql']) {
    const response = await app.inject({ method: 'GET', url, headers: { 'x-request-id': `req-${url.slice(1)}` } })
    t.equal(response.statusCode, 500)
    t.equal(response.headers['content-type'], PROBLEM)
    const body = response.json()
    t.equal(body.type, 'https://taskforge.dev/problems/internal-error')
    t.equal(body.requestId, `req-${url.slice(1)}`)
    t.notMatch(response.body, /10\.0\.0\.7|password|no_such_table|relation|select|at .*\.ts/)
    const logged = logs.find((line) => line.requestId === `req-${url.slice(1)}` && line.level === 50)
    t.ok(logged, 'the failure is logged at error level with the request id')
  }
  t.notMatch(JSON.stringify(logs), /hunter2-secret/, 'query parameters never reach the logs')
})

t.test('database errors the app knows become typed problems', async (t) => {
  const { app } = await buildTestApp(t, { DB_STATEMENT_TIMEOUT_MS: '200' })
  app.get('/slow', async () => app.sql`select pg_sleep(2)`)
  app.get('/duplicate', async () => {
    await app.sql`insert into users (email, password_hash) values ('twice@example.io', 'x')`
    return app.sql`insert into users (email, password_hash) values ('TWICE@example.io', 'x')`
  })
  app.get('/check', async () => app.sql`insert into users (email, password_hash, name) values ('c@example.io', 'secret-hash', '')`)
  // Past the schemas (which refuse such text first): the database's own refusals of NUL, in text and in jsonb.
  app.get('/nul-text', async () => app.sql`insert into users (email, password_hash) values (${'nul\u0000@example.io'}, 'secret-hash')`)
  app.get('/nul-jsonb', async () => app.sql`select ${app.sql.json({ title: 'a\u0000b' })}::jsonb as stored`)

  const slow = await app.inject({ method: 'GET', url: '/slow' })
  t.equal(slow.statusCode, 503, 'a statement time-out is "try again later", not a crash')
  t.equal(slow.headers['retry-after'], '5')
  t.equal(slow.json().type, 'https://taskforge.dev/problems/service-unavailable')

  const duplicate = await app.inject({ method: 'GET', url: '/duplicate' })
  t.equal(duplicate.statusCode, 409)
  t.equal(duplicate.json().type, 'https://taskforge.dev/problems/conflict')
  t.notMatch(duplicate.body, /twice@example|users_email_lower_key|duplicate key/, 'no driver message leaks')

  const check = await app.inject({ method: 'GET', url: '/check' })
  t.equal(check.statusCode, 422)
  t.notMatch(check.body, /secret-hash|violates/)

  for (const url of ['/nul-text', '/nul-jsonb']) {
    const response = await app.inject({ method: 'GET', url })
    t.equal(response.statusCode, 400, `${url}: text PostgreSQL cannot store is the client's error, not a 500`)
    t.equal(response.headers['content-type'], PROBLEM)
    t.match(response.json(), { type: 'https://taskforge.dev/problems/bad-request', detail: /cannot be stored/ })
    t.notMatch(response.body, /secret-hash|0x00|invalid byte sequence|unsupported Unicode/, 'no driver message leaks')
  }
  const [row] = await app.sql`select count(*)::int as n from users where email like 'nul%'`
  t.equal(row?.n, 0)
})

t.test('router errors are problems too: an over-long path parameter, a URL that does not decode', async (t) => {
  const { app } = await buildTestApp(t)
  const long = await app.inject({ method: 'GET', url: `/tasks/${'a'.repeat(600)}` })
  t.equal(long.statusCode, 414)
  t.equal(long.headers['content-type'], PROBLEM)
  t.match(long.json(), { type: 'https://taskforge.dev/problems/uri-too-long', status: 414, requestId: long.headers['x-request-id'] })
  t.ok(long.headers['x-request-id'])
  t.equal(long.headers['x-content-type-options'], 'nosniff', 'with the security headers, though no hook ran')
  t.match(long.headers['content-security-policy'], /default-src 'none'/)

  const undecodable = await app.inject({ method: 'GET', url: '/tasks/%E0%A4%A' })
  t.equal(undecodable.statusCode, 400)
  t.equal(undecodable.headers['content-type'], PROBLEM)
  t.equal(undecodable.json().type, 'https://taskforge.dev/problems/bad-url')
  t.ok(undecodable.headers['x-request-id'])
  t.equal(undecodable.headers['x-content-type-options'], 'nosniff')

  const malformedButShort = await app.inject({ method: 'GET', url: `/tasks/${'b'.repeat(300)}`, headers: { authorization: 'Bearer x' } })
  t.equal(malformedButShort.statusCode, 401, 'ids up to 500 characters reach the route (which answers 404 for a malformed id)')
})

interface RawResponse { statusLine: string; headers: Record<string, string>; body: string; received: string }

/** Sends bytes on a fresh connection, `then` more once the first answer bytes arrive, and reads until the server closes. */
async function overSocket (port: number, first: string, then?: string): Promise<RawResponse> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  let received = ''
  socket.on('data', (chunk: Buffer) => {
    const wasEmpty = received === ''
    received += chunk.toString('latin1')
    if (wasEmpty && then !== undefined) socket.write(then)
  })
  socket.write(first)
  await once(socket, 'close')
  const [head = '', body = ''] = received.split('\r\n\r\n', 2)
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
  return { statusLine, headers, body, received }
}

t.test('what Node\'s HTTP parser refuses is a problem too, written on the socket', async (t) => {
  const { app, logs } = await buildTestApp(t)
  app.get('/streaming', (_request, reply) => {
    reply.hijack()
    reply.raw.writeHead(200, { 'content-type': 'text/plain' })
    reply.raw.write('the first part of a long answer\n')
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }

  const cases: [string, string, number, string][] = [
    ['a 20 KB header', `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'request-header-fields-too-large'],
    ['a malformed request line', 'GET / HTTP/1.1 and more\r\n\r\n', 400, 'malformed-request'],
    ['not HTTP at all', 'HELLO\r\n\r\n', 400, 'malformed-request'],
    ['a Content-Length that is not a number', 'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 400, 'malformed-request'],
    ['Content-Length and Transfer-Encoding together', 'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'malformed-request']
  ]
  for (const [name, request, status, slug] of cases) {
    const response = await overSocket(port, request)
    t.match(response.statusLine, new RegExp(`^HTTP/1\\.1 ${status} `), name)
    t.equal(response.headers['content-type'], PROBLEM, name)
    t.equal(response.headers.connection, 'close', name)
    t.equal(Number(response.headers['content-length']), Buffer.byteLength(response.body), name)
    t.equal(response.headers['x-content-type-options'], 'nosniff', `${name}: the security headers`)
    t.match(response.headers['content-security-policy'], /default-src 'none'/, name)
    t.ok(response.headers.date, `${name}: a Date, as every answer has`)
    const problem = JSON.parse(response.body) as Record<string, unknown>
    t.match(problem, { type: `https://taskforge.dev/problems/${slug}`, title: String, status, detail: String }, name)
    t.equal(problem.requestId, response.headers['x-request-id'], name)
    t.ok(logs.some((line) => line.requestId === problem.requestId && line.msg === 'request rejected by the HTTP parser'), `${name}: logged with its request id`)
  }

  // A second, malformed request on a connection whose first answer has begun: nothing may be written into that answer.
  const interrupted = await overSocket(port, 'GET /streaming HTTP/1.1\r\nHost: x\r\n\r\n', 'NOT HTTP\r\n\r\n')
  t.match(interrupted.statusLine, /^HTTP\/1\.1 200 /)
  t.match(interrupted.received, /the first part of a long answer/)
  t.equal(interrupted.received.split('HTTP/1.1 ').length, 2, 'one status line only: the connection is closed, not written into')
})
