import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { bearer, registerUser } from '../helpers/auth.js'
import { eventually } from '../helpers/jobs.js'

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8'
const MISSING_TASK = '00000000-0000-0000-0000-000000000000'

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
