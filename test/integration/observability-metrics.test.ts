import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { bearer, registerUser } from '../helpers/auth.js'
import { createTestDatabase } from '../helpers/database.js'
import { eventually } from '../helpers/jobs.js'
import { startServerProcess } from '../helpers/server-process.js'

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8'
const MISSING_TASK = '00000000-0000-0000-0000-000000000000'
const PROBLEM = 'application/problem+json; charset=utf-8'
const METRICS_TOKEN = 'a-long-enough-metrics-token'
/** What production needs besides: a JWT_SECRET of its own. */
const production = () => ({ NODE_ENV: 'production', JWT_SECRET: randomBytes(48).toString('base64') })

/** The value of one series in a Prometheus text exposition, or undefined when it is not there. */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('/metrics: HTTP requests by method, route template and status; database and process figures', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0', DB_POOL_MAX: '7' })
  const { accessToken } = await registerUser(app)
  for (let i = 0; i < 3; i++) {
    t.equal((await app.inject({ method: 'GET', url: `/tasks/${MISSING_TASK}?attempt=${i}`, headers: bearer(accessToken) })).statusCode, 404)
  }
  await app.inject({ method: 'GET', url: '/tasks', headers: bearer(accessToken) })
  await app.inject({ method: 'GET', url: '/no/such/route' })

  const response = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], PROMETHEUS_TEXT)
  const text = response.body

  t.equal(sample(text, 'http_requests_total{method="POST",route="/auth/register",status_code="201"}'), 1)
  t.equal(sample(text, 'http_requests_total{method="GET",route="/tasks/:id",status_code="404"}'), 3, 'the route template, whatever the id and query')
  t.equal(sample(text, 'http_requests_total{method="GET",route="/tasks",status_code="200"}'), 1)
  t.equal(sample(text, 'http_requests_total{method="GET",route="unmatched",status_code="404"}'), 1, 'unknown URLs share one series')
  t.equal(sample(text, 'http_request_duration_seconds_count{method="GET",route="/tasks/:id",status_code="404"}'), 3)
  t.equal(sample(text, 'http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/tasks/:id",status_code="404"}'), 3)
  t.notOk(text.includes(MISSING_TASK), 'no raw URL in any label')
  t.notOk(text.includes('/no/such/route'))

  t.ok((sample(text, 'taskforge_db_query_duration_seconds_count{operation="SELECT",table="tasks",outcome="ok"}') ?? 0) >= 4, 'query durations by operation and table')
  t.ok((sample(text, 'taskforge_db_query_duration_seconds_count{operation="INSERT",table="users",outcome="ok"}') ?? 0) >= 1)
  t.equal(sample(text, 'taskforge_db_pool_max_connections'), 7)
  t.ok((sample(text, 'taskforge_db_queries_in_flight') ?? -1) <= 1, 'no query in flight but, perhaps, the scrape\'s own count of the queue')
  t.equal(sample(text, 'taskforge_jobs{state="queued"}'), 1, 'the welcome email waits: this app runs no worker')
  t.equal(sample(text, 'taskforge_jobs{state="running"}'), 0)
  t.equal(sample(text, 'taskforge_jobs{state="dead"}'), 0)
  for (const processMetric of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
    t.ok(sample(text, processMetric) !== undefined, processMetric)
  }
})

t.test('/metrics: jobs enqueued, succeeded, failed and dead by type', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_POLL_INTERVAL_MS: '50' })
  await registerUser(app)
  const metrics = async () => (await app.inject({ method: 'GET', url: '/metrics' })).body
  const text = await eventually(async () => {
    const current = await metrics()
    return sample(current, 'taskforge_job_runs_total{type="welcome-email",outcome="succeeded"}') === 1 && current
  }, 10_000, 'a job run in the metrics')
  t.equal(sample(text, 'taskforge_jobs_enqueued_total{type="welcome-email"}'), 1)
  t.equal(sample(text, 'taskforge_job_run_duration_seconds_count{type="welcome-email",outcome="succeeded"}'), 1)
  t.equal(sample(text, 'taskforge_jobs{state="queued"}'), 0)
})

t.test('/metrics: a job that fails is counted as failed, then dead', async (t) => {
  // Nothing listens on port 1: every attempt to send the welcome email fails at once.
  const { app } = await buildTestApp(t, { JOBS_POLL_INTERVAL_MS: '50', JOBS_MAX_ATTEMPTS: '2', JOBS_RETRY_BASE_MS: '10', SMTP_URL: 'smtp://127.0.0.1:1' })
  await registerUser(app)
  const text = await eventually(async () => {
    const current = (await app.inject({ method: 'GET', url: '/metrics' })).body
    return sample(current, 'taskforge_job_runs_total{type="welcome-email",outcome="dead"}') === 1 && current
  }, 20_000, 'a dead job in the metrics')
  t.equal(sample(text, 'taskforge_job_runs_total{type="welcome-email",outcome="failed"}'), 1, 'the first attempt failed and was retried')
  t.equal(sample(text, 'taskforge_jobs{state="dead"}'), 1)
})

t.test('METRICS_TOKEN puts /metrics behind a bearer token', async (t) => {
  const token = 'a-long-enough-metrics-token'
  const { app } = await buildTestApp(t, { METRICS_TOKEN: token, JOBS_CONCURRENCY: '0' })
  const scrape = (headers: Record<string, string>) => app.inject({ method: 'GET', url: '/metrics', headers })
  const refused: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-token-of-some-length' }, { authorization: token }, { authorization: `Bearer ${token}x` }]
  for (const headers of refused) {
    const response = await scrape(headers)
    t.equal(response.statusCode, 401, JSON.stringify(headers))
    t.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8')
    t.match(response.headers['www-authenticate'], /^Bearer/)
  }
  const response = await scrape({ authorization: `Bearer ${token}` })
  t.equal(response.statusCode, 200)
  t.match(response.body, /http_requests_total\{method="GET",route="\/metrics",status_code="401"\} 4/)
})

t.test('METRICS_ENABLED=false: there is no /metrics', async (t) => {
  const { app } = await buildTestApp(t, { METRICS_ENABLED: 'false', JOBS_CONCURRENCY: '0' })
  const response = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(response.statusCode, 404)
  t.equal(response.json().type, 'https://taskforge.dev/problems/route-not-found')
})

t.test('production: the public listener serves /metrics only with METRICS_TOKEN', async (t) => {
  await t.test('without a token: no /metrics there, a 404 problem', async (t) => {
    const { app } = await buildTestApp(t, { ...production(), JOBS_CONCURRENCY: '0' })
    const response = await app.inject({ method: 'GET', url: '/metrics' })
    t.equal(response.statusCode, 404)
    t.equal(response.headers['content-type'], PROBLEM)
    t.equal(response.json().type, 'https://taskforge.dev/problems/route-not-found')
    t.notMatch(response.body, /http_requests_total/)
    t.match(app.config.warnings, [/GET \/metrics is not served: in production set METRICS_TOKEN .* or METRICS_PORT/], 'start-up says how to get metrics')
  })

  await t.test('with a token: only a scrape that sends it', async (t) => {
    const { app } = await buildTestApp(t, { ...production(), METRICS_TOKEN, JOBS_CONCURRENCY: '0' })
    t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401)
    const response = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    t.equal(response.statusCode, 200)
    t.equal(response.headers['content-type'], PROMETHEUS_TEXT)
  })
})

/** A GET over a real connection; `undefined` when nothing listens. */
async function get (
  url: string, headers: Record<string, string> = {}
): Promise<{ status: number; type: string | null; body: string } | undefined> {
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) })
    return { status: response.status, type: response.headers.get('content-type'), body: await response.text() }
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') return undefined
    throw error
  }
}

t.test('METRICS_PORT: /metrics on a listener of its own, and nowhere else', async (t) => {
  for (const environment of [production(), { NODE_ENV: 'development' }]) {
    await t.test(`NODE_ENV=${environment.NODE_ENV}`, async (t) => {
      const { app } = await buildTestApp(t, { ...environment, METRICS_PORT: '0', JOBS_CONCURRENCY: '0' })
      await app.ready()
      const address = app.metricsListener.address()
      if (address === undefined) throw new Error('the metrics listener is not listening once the app is ready')
      t.equal(address.address, '127.0.0.1', 'METRICS_HOST defaults to the loopback interface')
      const base = `http://127.0.0.1:${address.port}`

      t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200)
      const publicScrape = await app.inject({ method: 'GET', url: '/metrics' })
      t.equal(publicScrape.statusCode, 404, 'the public listener has no /metrics')
      t.equal(publicScrape.headers['content-type'], PROBLEM)

      const scrape = await get(`${base}/metrics`)
      t.equal(scrape?.status, 200)
      t.equal(scrape?.type, PROMETHEUS_TEXT)
      t.equal(sample(scrape?.body ?? '', 'http_requests_total{method="GET",route="/health/live",status_code="200"}'), 1, "the public listener's requests")
      const other = await get(`${base}/health/live`)
      t.equal(other?.status, 404, 'it serves /metrics and nothing else')
      t.equal(other?.type, PROBLEM)

      await app.close()
      t.equal(await get(`${base}/metrics`), undefined, 'it closes with the app')
    })
  }

  await t.test('METRICS_TOKEN holds there too', async (t) => {
    const { app } = await buildTestApp(t, { ...production(), METRICS_PORT: '0', METRICS_TOKEN, JOBS_CONCURRENCY: '0' })
    await app.ready()
    const base = `http://127.0.0.1:${app.metricsListener.address()?.port ?? 0}`
    const refused = await get(`${base}/metrics`)
    t.equal(refused?.status, 401)
    t.equal(refused?.type, PROBLEM)
    t.equal((await get(`${base}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` }))?.status, 200)
    t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).statusCode, 404, 'and the public listener has none')
  })
})

t.test('a production server with METRICS_PORT: metrics on the internal port, which closes on SIGTERM', async (t) => {
  const database = await createTestDatabase(t)
  const server = await startServerProcess(t, { ...production(), DATABASE_URL: database.url, METRICS_PORT: '0' })
  const listening = server.logs.map((line) => /^metrics listening at (http:\/\/127\.0\.0\.1:\d+)\/metrics$/.exec(String(line.msg))?.[1]).find((base) => base !== undefined)
  if (listening === undefined) throw new Error('no "metrics listening at" line in the log')
  t.not(listening, server.baseUrl)
  t.equal((await get(`${listening}/metrics`))?.status, 200)
  t.equal((await get(`${server.baseUrl}/metrics`))?.status, 404)
  t.notOk(server.logs.some((line) => /GET \/metrics is not served/.test(String(line.msg))), 'no warning: metrics are served')

  server.child.kill('SIGTERM')
  const [code] = await once(server.child, 'exit') as [number | null]
  t.equal(code, 0)
  t.equal(await get(`${listening}/metrics`), undefined, 'the metrics port is closed')
})

t.test('a production server without METRICS_TOKEN or METRICS_PORT warns at start-up how to get metrics', async (t) => {
  const database = await createTestDatabase(t)
  const server = await startServerProcess(t, { ...production(), DATABASE_URL: database.url })
  t.equal((await get(`${server.baseUrl}/metrics`))?.status, 404)
  t.ok(server.logs.some((line) => line.level === 40 && /^GET \/metrics is not served: in production set METRICS_TOKEN .* or METRICS_PORT/.test(String(line.msg))), 'warned')
})
