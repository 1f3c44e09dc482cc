import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-node'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { bearer, registerUser, type AuthResult } from '../helpers/auth.js'
import { eventually } from '../helpers/jobs.js'
import { freePort } from '../helpers/smtp.js'

const CALLER_TRACE_ID = '0af7651916cd43dd8448eb211c80319c'
const CALLER_SPAN_ID = 'b7ad6b7169203331'

const parentId = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId
const spanId = (span: ReadableSpan): string => span.spanContext().spanId
const traceId = (span: ReadableSpan): string => span.spanContext().traceId

/** The one finished span with this name (a test failure if there are none or several). */
function only (t: Test, spans: ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((span) => span.name === name)
  t.equal(found.length, 1, `one span named "${name}"`)
  const [span] = found
  if (span === undefined) throw new Error(`no span named "${name}"`)
  return span
}

t.test('a request, its service calls, its queries and the job it enqueued are one trace, with the right parents', async (t) => {
  const exporter = new InMemorySpanExporter()
  const { app } = await buildTestApp(t, { JOBS_POLL_INTERVAL_MS: '50' }, { traceExporter: exporter })
  const password = 'traced but never recorded'
  const response = await app.inject({
    method: 'POST',
    url: '/auth/register',
    headers: { traceparent: `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01` },
    payload: { email: 'traced@example.io', password }
  })
  t.equal(response.statusCode, 201)
  await eventually(async () => exporter.getFinishedSpans().some((span) => span.name === 'job welcome-email'), 10_000, 'the job span')
  const spans = exporter.getFinishedSpans()

  const request = only(t, spans, 'POST /auth/register')
  t.equal(request.kind, SpanKind.SERVER)
  t.equal(traceId(request), CALLER_TRACE_ID, 'the caller\'s traceparent is continued')
  t.equal(parentId(request), CALLER_SPAN_ID)
  t.match(request.attributes, {
    'http.request.method': 'POST',
    'http.route': '/auth/register',
    'http.response.status_code': 201,
    'url.path': '/auth/register',
    'taskforge.request_id': response.headers['x-request-id']
  })

  const register = only(t, spans, 'users.register')
  t.equal(parentId(register), spanId(request), 'service spans are children of the request span')
  t.equal(parentId(only(t, spans, 'refreshTokens.issueForLogin')), spanId(request))

  const insertUser = only(t, spans, 'INSERT users')
  t.equal(insertUser.kind, SpanKind.CLIENT)
  t.equal(parentId(insertUser), spanId(register), 'query spans are children of the service call that ran them, inside its transaction too')
  t.match(insertUser.attributes, {
    'db.system.name': 'postgresql',
    'db.operation.name': 'INSERT',
    'db.collection.name': 'users',
    'db.query.text': /^insert into users \(email, password_hash, name\) values \(\$1, \$2, \$3\)/
  })
  t.equal(parentId(only(t, spans, 'INSERT jobs')), spanId(register), 'the job is enqueued in the registration\'s transaction')
  t.equal(parentId(only(t, spans, 'INSERT refresh_tokens')), spanId(only(t, spans, 'refreshTokens.issueForLogin')))

  const job = only(t, spans, 'job welcome-email')
  t.equal(job.kind, SpanKind.CONSUMER)
  t.equal(traceId(job), CALLER_TRACE_ID, 'the job run joins the trace of the request that enqueued it')
  t.equal(parentId(job), spanId(register), 'as a child of the span that enqueued it')
  t.match(job.attributes, { 'taskforge.job.type': 'welcome-email', 'taskforge.job.attempt': 1, 'taskforge.job.outcome': 'succeeded' })
  const jobQueries = spans.filter((span) => parentId(span) === spanId(job))
  t.match(jobQueries.map((span) => span.name), ['UPDATE jobs'], 'marking the job done is part of its run')

  t.same(spans.filter((span) => traceId(span) !== CALLER_TRACE_ID).map((span) => span.name), [], 'the queue\'s polling is not traced')
  const recorded = JSON.stringify(spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events })))
  t.notOk(recorded.includes(password), 'no password in any span')
  t.notOk(recorded.includes('traced@example.io'), 'no query parameter in any span')
})

t.test('each attempt of a failing job is a failed span under the span that enqueued it', async (t) => {
  const exporter = new InMemorySpanExporter()
  // Nothing listens on port 1: every attempt to send the welcome email fails at once.
  const { app } = await buildTestApp(t, { JOBS_POLL_INTERVAL_MS: '50', JOBS_MAX_ATTEMPTS: '2', JOBS_RETRY_BASE_MS: '10', SMTP_URL: 'smtp://127.0.0.1:1' }, { traceExporter: exporter })
  await registerUser(app)
  const runs = await eventually(async () => {
    const found = exporter.getFinishedSpans().filter((span) => span.name === 'job welcome-email')
    return found.length === 2 && found
  }, 20_000, 'two attempts')
  const register = only(t, exporter.getFinishedSpans(), 'users.register')
  t.same(runs.map((span) => span.attributes['taskforge.job.outcome']), ['retried', 'dead'])
  t.same(runs.map((span) => span.attributes['taskforge.job.attempt']), [1, 2])
  t.ok(runs.every((span) => span.status.code === SpanStatusCode.ERROR && parentId(span) === spanId(register)))
  t.ok(runs.every((span) => span.events.some((event) => event.name === 'exception')), 'with the exception recorded')
})

t.test('statuses: a 4xx answer is not a failure, a 5xx is; an unmatched route is named by its method alone', async (t) => {
  const exporter = new InMemorySpanExporter()
  const { app } = await buildTestApp(t, {}, { traceExporter: exporter })
  app.get('/test/boom', () => { throw new Error('the handler broke') })
  const { accessToken } = await registerUser(app)
  exporter.reset()

  const missing = await app.inject({ method: 'GET', url: '/tasks/00000000-0000-0000-0000-000000000000?cursor=abc', headers: bearer(accessToken) })
  t.equal(missing.statusCode, 404)
  const notFound = only(t, exporter.getFinishedSpans(), 'GET /tasks/:id')
  t.not(notFound.status.code, SpanStatusCode.ERROR)
  t.match(notFound.attributes, { 'http.route': '/tasks/:id', 'http.response.status_code': 404, 'url.path': '/tasks/00000000-0000-0000-0000-000000000000' })
  const get = only(t, exporter.getFinishedSpans(), 'tasks.get')
  t.equal(get.status.code, SpanStatusCode.UNSET, 'a domain error is an answer, not a failure')
  t.equal(get.attributes['error.type'], 'not-found')

  exporter.reset()
  t.equal((await app.inject({ method: 'GET', url: '/test/boom' })).statusCode, 500)
  const boom = only(t, exporter.getFinishedSpans(), 'GET /test/boom')
  t.equal(boom.status.code, SpanStatusCode.ERROR)
  t.ok(boom.events.some((event) => event.name === 'exception'), 'the exception is recorded')

  exporter.reset()
  t.equal((await app.inject({ method: 'GET', url: '/no/such/route' })).statusCode, 404)
  const unmatched = only(t, exporter.getFinishedSpans(), 'GET')
  t.equal(unmatched.attributes['http.route'], undefined)
})

t.test('GET /metrics is not traced', async (t) => {
  const exporter = new InMemorySpanExporter()
  const { app } = await buildTestApp(t, {}, { traceExporter: exporter })
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200)
  t.same(exporter.getFinishedSpans().map((span) => span.name), [], 'neither the scrape nor its queue count')
})

// With a caller's traceparent, the ids still reach the logs and the jobs: observability-logs.test.ts.
t.test('with no OTLP endpoint, nothing is traced: without a traceparent no trace ids in logs, none stored with jobs', async (t) => {
  const { app, logs } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' })
  t.equal(app.observability.tracer, undefined)
  const response = await app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { email: 'untraced@example.io', password: 'correct horse battery' }
  })
  t.equal(response.statusCode, 201)
  const [job] = await app.sql`select traceparent from jobs`
  t.equal(job?.traceparent, null)
  t.notOk(logs.some((line) => 'trace_id' in line))
})

t.test('OTEL_EXPORTER_OTLP_ENDPOINT: spans are sent over OTLP/HTTP, and flushed when the app closes', async (t) => {
  const received: { url: string | undefined; contentType: string | undefined; body: string }[] = []
  const collector = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      received.push({ url: request.url, contentType: request.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') })
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  collector.listen(0, '127.0.0.1')
  await once(collector, 'listening')
  t.teardown(() => { collector.close() })
  const { port } = collector.address() as AddressInfo

  const { app } = await buildTestApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}/`, OTEL_SERVICE_NAME: 'taskforge-test', JOBS_CONCURRENCY: '0' })
  t.ok(app.observability.tracer)
  const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'exported@example.io', password: 'correct horse battery' } })
  const { accessToken } = registered.json<AuthResult>()
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode, 200)
  await app.close()

  t.ok(received.length > 0, 'the collector got spans')
  t.ok(received.every((request) => request.url === '/v1/traces'), 'at <endpoint>/v1/traces')
  const exported = received.map((request) => request.body).join('\n')
  for (const name of ['POST /auth/register', 'users.register', 'INSERT users', 'GET /auth/me', 'taskforge-test']) {
    t.ok(exported.includes(name), `exported: ${name}`)
  }
})

t.test('an OTLP endpoint that does not answer is a warning in the log, never a failed request', async (t) => {
  const port = await freePort()

  const { app, logs } = await buildTestApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, JOBS_CONCURRENCY: '0' })
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200)
  const closing = Date.now()
  await app.close()
  t.ok(Date.now() - closing < 5000, 'closing waits a few seconds at most for the collector')
  t.ok(logs.some((line) => line.level === 40 && typeof line.msg === 'string' && /^(opentelemetry:|tracing: )/.test(line.msg)), 'the failed export is logged as a warning')
})
