import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-node'
import type { InjectOptions } from 'fastify'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { bearer, registerUser, type AuthResult } from '../helpers/auth.js'
import { eventually } from '../helpers/jobs.js'
import type { NewTokenBody } from '../helpers/tokens.js'

const INFO = 30
const WARN = 40

t.test('the log lines of a request share its request id and trace id, and carry the user id once known', async (t) => {
  const exporter = new InMemorySpanExporter()
  const { app, logs } = await buildTestApp(t, { LOG_LEVEL: 'trace', JOBS_POLL_INTERVAL_MS: '50' }, { traceExporter: exporter })
  const send = (requestId: string, options: InjectOptions) =>
    app.inject({ ...options, headers: { ...options.headers, 'x-request-id': requestId } })

  const registered = (await send('req-register', { method: 'POST', url: '/auth/register', payload: { email: 'logs@example.io', password: 'correct horse battery' } })).json<AuthResult>()
  const userId = registered.user.id
  const login = (await send('req-login', { method: 'POST', url: '/auth/login', payload: { email: 'logs@example.io', password: 'correct horse battery' } })).json<AuthResult>()
  const auth = bearer(login.accessToken)
  const task = (await send('req-create', { method: 'POST', url: '/tasks', headers: auth, payload: { title: 'Watch the logs' } })).json<{ id: string }>()
  t.equal((await send('req-done', { method: 'POST', url: `/tasks/${task.id}/done`, headers: auth })).statusCode, 200)
  t.equal((await send('req-delete', { method: 'DELETE', url: `/tasks/${task.id}`, headers: auth })).statusCode, 204)
  t.equal((await send('req-refresh', { method: 'POST', url: '/auth/refresh', payload: { refreshToken: login.refreshToken } })).statusCode, 200)
  t.equal((await send('req-reuse', { method: 'POST', url: '/auth/refresh', payload: { refreshToken: login.refreshToken } })).statusCode, 401)
  await eventually(async () => logs.some((line) => line.msg === 'job done' && line.jobType === 'welcome-email'), 10_000, 'the welcome email job')

  const spanOf = (requestId: string) => exporter.getFinishedSpans().find((span) => span.attributes['taskforge.request_id'] === requestId)
  const linesOf = (requestId: string) => logs.filter((line) => line.requestId === requestId)

  for (const requestId of ['req-register', 'req-login', 'req-create', 'req-done', 'req-delete', 'req-refresh', 'req-reuse']) {
    await t.test(requestId, async (t) => {
      const span = spanOf(requestId)
      if (span === undefined) throw new Error(`no span for ${requestId}`)
      const { traceId, spanId } = span.spanContext()
      const lines = linesOf(requestId)
      t.ok(lines.some((line) => line.msg === 'incoming request'), 'incoming request')
      t.ok(lines.some((line) => line.msg === 'request completed' && typeof line.route === 'string'), 'request completed, with its route template')
      t.ok(lines.some((line) => line.msg === 'sql query' && typeof line.durationMs === 'number'), 'its SQL timings (LOG_LEVEL=trace)')
      t.same([...new Set(lines.map((line) => line.trace_id))], [traceId], 'every line carries the request\'s trace id')
      t.same([...new Set(lines.map((line) => line.span_id))], [spanId], 'and its span id')
      const sameTrace = logs.filter((line) => line.trace_id === traceId && line.jobId === undefined)
      t.same(sameTrace.filter((line) => line.requestId !== requestId), [], 'no line of the request lacks its request id')
    })
  }

  const business = (msg: string) => logs.find((line) => line.msg === msg)
  t.match(business('user registered'), { level: INFO, requestId: 'req-register', userId, trace_id: String })
  t.match(business('user logged in'), { level: INFO, requestId: 'req-login', userId })
  t.match(business('task created'), { level: INFO, requestId: 'req-create', userId, taskId: task.id })
  t.match(business('task completed'), { level: INFO, requestId: 'req-done', userId, taskId: task.id })
  t.match(business('task deleted'), { level: INFO, requestId: 'req-delete', userId, taskId: task.id })
  t.match(business('refresh token reused: token family revoked'), { level: WARN, requestId: 'req-reuse', userId })

  for (const requestId of ['req-create', 'req-done', 'req-delete']) {
    const completed = linesOf(requestId).find((line) => line.msg === 'request completed')
    t.equal(completed?.userId, userId, `${requestId}: once authenticated, the lines carry the user id`)
  }

  const registerTrace = spanOf('req-register')?.spanContext().traceId
  const jobLines = logs.filter((line) => line.jobType === 'welcome-email')
  t.ok(jobLines.some((line) => line.msg === 'job done' && line.level === INFO), 'job done, at info')
  t.ok(jobLines.some((line) => typeof line.msg === 'string' && line.msg.startsWith('mail simulated')), 'the mailer\'s line, written during the run, carries the job id')
  t.same([...new Set(jobLines.map((line) => line.trace_id))], [registerTrace], 'job lines carry the trace of the request that enqueued the job')
})

const CALLER_TRACE_ID = '0af7651916cd43dd8448eb211c80319c'
const CALLER_SPAN_ID = 'b7ad6b7169203331'
const SPAN_ID = /^[0-9a-f]{16}$/

t.test('with no OTLP endpoint, a caller\'s traceparent still reaches every log line of the request and of the job it enqueued', async (t) => {
  const { app, logs } = await buildTestApp(t, { LOG_LEVEL: 'trace', JOBS_POLL_INTERVAL_MS: '50' })
  t.equal(app.observability.tracer, undefined, 'tracing is off')
  const response = await app.inject({
    method: 'POST',
    url: '/auth/register',
    headers: { traceparent: `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`, 'x-request-id': 'req-traceparent' },
    payload: { email: 'gateway@example.io', password: 'correct horse battery' }
  })
  t.equal(response.statusCode, 201)
  t.equal(response.headers['x-request-id'], 'req-traceparent', 'X-Request-Id is as ever')
  t.equal(response.headers.traceparent, undefined, 'nothing echoed: the trace context is the caller\'s to send')
  await eventually(async () => logs.some((line) => line.msg === 'job done' && line.jobType === 'welcome-email'), 10_000, 'the welcome email job')

  const lines = logs.filter((line) => line.requestId === 'req-traceparent')
  for (const msg of ['incoming request', 'sql query', 'user registered', 'request completed']) {
    t.ok(lines.some((line) => line.msg === msg), `the request logged: ${msg}`)
  }
  t.same([...new Set(lines.map((line) => line.trace_id))], [CALLER_TRACE_ID], 'every line of the request carries the caller\'s trace id')
  const requestSpanIds = [...new Set(lines.map((line) => line.span_id))]
  t.equal(requestSpanIds.length, 1, 'and one span id')
  const [requestSpanId] = requestSpanIds
  t.match(requestSpanId, SPAN_ID)
  t.not(requestSpanId, CALLER_SPAN_ID, 'the request\'s own, not the caller\'s')

  const [job] = await app.sql`select id, traceparent from jobs where type = 'welcome-email'`
  t.equal(job?.traceparent, `00-${CALLER_TRACE_ID}-${String(requestSpanId)}-01`, 'the job keeps the trace, the request as its parent')
  const jobLines = logs.filter((line) => line.jobId === job?.id)
  t.ok(jobLines.some((line) => line.msg === 'job done'), 'job done')
  t.ok(jobLines.some((line) => typeof line.msg === 'string' && line.msg.startsWith('mail simulated')), 'the mailer\'s line, written during the run')
  t.same([...new Set(jobLines.map((line) => line.trace_id))], [CALLER_TRACE_ID], 'every line of the job run carries the same trace id')
  const jobSpanIds = [...new Set(jobLines.map((line) => line.span_id))]
  t.equal(jobSpanIds.length, 1)
  t.match(jobSpanIds[0], SPAN_ID)
  t.not(jobSpanIds[0], requestSpanId, 'the run has a span id of its own')
})

t.test('with no OTLP endpoint, an invalid traceparent is ignored: the request is served, its lines and its job carry no trace ids', async (t) => {
  const { app, logs } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' })
  const invalid = {
    garbage: 'not a traceparent',
    'an all-zero trace id': `00-${'0'.repeat(32)}-${CALLER_SPAN_ID}-01`,
    'an all-zero parent id': `00-${CALLER_TRACE_ID}-${'0'.repeat(16)}-01`,
    'upper-case hex': `00-${CALLER_TRACE_ID.toUpperCase()}-${CALLER_SPAN_ID}-01`,
    'version ff': `ff-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`,
    'version 00 with a fifth field': `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01-extra`,
    'a short trace id': `00-${CALLER_TRACE_ID.slice(1)}-${CALLER_SPAN_ID}-01`,
    'two headers in one': `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01, 00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`
  }
  for (const [what, traceparent] of Object.entries(invalid)) {
    const response = await app.inject({
      method: 'POST',
      url: '/auth/register',
      headers: { traceparent, 'x-request-id': 'req-invalid' },
      payload: { email: `${what.replace(/[^a-z0-9]+/g, '-')}@example.io`, password: 'correct horse battery' }
    })
    t.equal(response.statusCode, 201, what)
  }
  t.ok(logs.filter((line) => line.requestId === 'req-invalid').length >= 3 * Object.keys(invalid).length, 'the requests logged')
  t.same(logs.filter((line) => 'trace_id' in line || 'span_id' in line), [], 'no line carries trace ids')
  const jobs = await app.sql`select traceparent from jobs where type = 'welcome-email'`
  t.equal(jobs.length, Object.keys(invalid).length)
  t.ok(jobs.every((job) => job.traceparent === null), 'no job carries a trace context')
})

t.test('no password or token appears in any log line of a register/login/refresh/task flow', async (t) => {
  const { app, logs } = await buildTestApp(t, { LOG_LEVEL: 'trace', JOBS_POLL_INTERVAL_MS: '50' }, { traceExporter: new InMemorySpanExporter() })
  const password = 'pa55word-that-must-not-leak'
  const registered = (await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'secret@example.io', password } })).json<AuthResult>()
  const login = (await app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'secret@example.io', password } })).json<AuthResult>()
  await app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'secret@example.io', password: `${password}-wrong` } })
  const rotated = (await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: login.refreshToken } })).json<AuthResult>()
  await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: login.refreshToken } })
  const auth = bearer(rotated.accessToken)
  const task = (await app.inject({ method: 'POST', url: '/tasks', headers: { ...auth, 'idempotency-key': 'key-1' }, payload: { title: 'Secret-free' } })).json<{ id: string }>()
  await app.inject({ method: 'PATCH', url: `/tasks/${task.id}`, headers: auth, payload: { status: 'done' } })
  await app.inject({ method: 'GET', url: '/tasks', headers: auth })
  await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${registered.refreshToken}` } })
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refreshToken: rotated.refreshToken } })
  await eventually(async () => logs.some((line) => line.msg === 'job done' && line.jobType === 'welcome-email'), 10_000, 'the welcome email job')

  const text = JSON.stringify(logs)
  t.ok(logs.length > 50, `${logs.length} lines`)
  for (const secret of [
    password, registered.accessToken, registered.refreshToken,
    login.accessToken, login.refreshToken, rotated.accessToken, rotated.refreshToken
  ]) {
    t.notOk(text.includes(secret), `not logged: ${secret.slice(0, 8)}…`)
  }
})

t.test('secrets are censored wherever a log call puts them: bodies, headers, error objects', async (t) => {
  const { app, logs } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' })
  const error = Object.assign(new Error('upstream refused'), {
    request: { headers: { Authorization: 'Bearer leaked-in-an-error', cookie: 'sid=leaked-cookie' } },
    response: { body: { access_token: 'leaked-oauth-token' } }
  })
  app.log.error({ err: error }, 'an error object with secrets inside')
  app.log.info({ body: { user: { email: 'a@b.io', password: 'leaked-in-a-body', tokens: [{ refreshToken: 'leaked-in-a-list' }] } } }, 'a body')
  app.log.warn({ headers: { 'x-api-key': 'leaked-api-key', 'set-cookie': ['leaked=1'] } }, 'headers')
  const text = JSON.stringify(logs)
  for (const secret of ['leaked-in-an-error', 'leaked-cookie', 'leaked-oauth-token', 'leaked-in-a-body', 'leaked-in-a-list', 'leaked-api-key', 'leaked=1']) {
    t.notOk(text.includes(secret), `censored: ${secret}`)
  }
  t.match(logs.find((line) => line.msg === 'an error object with secrets inside'), {
    err: { type: 'Error', message: 'upstream refused', stack: /upstream refused/, request: { headers: { Authorization: '[redacted]' } } }
  }, 'the error is serialized, its secrets censored')
  t.match(logs.find((line) => line.msg === 'a body'), { body: { user: { email: 'a@b.io', password: '[redacted]' } } }, 'what is not secret stays')
})

t.test('personal access tokens: their requests carry userId and tokenId, creating and revoking are info events, the secret is never logged', async (t) => {
  const { app, logs } = await buildTestApp(t, { JOBS_CONCURRENCY: '0', LOG_LEVEL: 'trace' })
  const ada = await registerUser(app)
  const send = (requestId: string, options: InjectOptions) =>
    app.inject({ ...options, headers: { ...options.headers, 'x-request-id': requestId } })

  const made = await send('req-token', { method: 'POST', url: '/auth/tokens', headers: bearer(ada.accessToken), payload: { name: 'logs', scopes: ['tasks:write'] } })
  const token = made.json<NewTokenBody>()
  t.equal((await send('req-with-token', { method: 'POST', url: '/tasks', headers: bearer(token.token), payload: { title: 'By token' } })).statusCode, 201)
  t.equal((await send('req-scope', { method: 'GET', url: '/auth/tokens', headers: bearer(token.token) })).statusCode, 403)
  // Where a careless client might put it: a query string, a refresh token, the header of a route that takes none.
  await send('req-in-url', { method: 'GET', url: `/auth/me?access_token=${token.token}` })
  await send('req-as-refresh', { method: 'POST', url: '/auth/refresh', payload: { refreshToken: token.token } })
  await send('req-public', { method: 'GET', url: '/health/ready', headers: bearer(token.token) })
  app.log.info({ note: `a message quoting ${token.token}`, nested: { list: [`Bearer ${token.token}`] } }, 'a careless log call')
  t.equal((await send('req-revoke', { method: 'DELETE', url: `/auth/tokens/${token.id}`, headers: bearer(ada.accessToken) })).statusCode, 204)
  t.equal((await send('req-revoked', { method: 'GET', url: '/tasks', headers: bearer(token.token) })).statusCode, 401)

  const business = (msg: string) => logs.find((line) => line.msg === msg)
  t.match(business('personal access token created'), { level: INFO, requestId: 'req-token', userId: ada.user.id, tokenId: token.id, scopes: ['tasks:write'] })
  t.match(business('personal access token revoked'), { level: INFO, requestId: 'req-revoke', userId: ada.user.id, tokenId: token.id })
  for (const requestId of ['req-with-token', 'req-scope']) {
    const completed = logs.find((line) => line.requestId === requestId && line.msg === 'request completed')
    t.match(completed, { userId: ada.user.id, tokenId: token.id }, `${requestId}: its lines say whose token it was, and which`)
  }
  t.match(business('task created'), { requestId: 'req-with-token', userId: ada.user.id, tokenId: token.id }, 'so do its business events')
  t.match(logs.find((line) => line.requestId === 'req-in-url' && line.msg === 'incoming request'),
    { req: { url: '/auth/me?access_token=tfp_[redacted]' } }, 'censored in a URL')
  t.match(business('a careless log call'), { note: 'a message quoting tfp_[redacted]', nested: { list: ['Bearer tfp_[redacted]'] } }, 'and in any string')

  const text = JSON.stringify(logs)
  t.ok(logs.length > 20, `${logs.length} lines`)
  t.notOk(text.includes(token.token.slice(4)), 'the secret is in no line')
})
