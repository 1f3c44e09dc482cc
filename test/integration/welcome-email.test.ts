import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { createTestDatabase } from '../helpers/database.js'
import { eventually } from '../helpers/jobs.js'
import { startServerProcess } from '../helpers/server-process.js'
import { freePort, startSilentServer, startSmtpServer } from '../helpers/smtp.js'

const FAST_JOBS = { JOBS_POLL_INTERVAL_MS: '100', JOBS_RETRY_BASE_MS: '100' }
/** A poll a minute (and every SQL query logged): in these tests only a notification can bring a job in seconds. */
const SLOW_POLL = { JOBS_POLL_INTERVAL_MS: '60000', LOG_LEVEL: 'trace' }
/** How soon a notified worker must have sent the mail: the next poll would be a minute away (idle, it takes some 50 ms). */
const NOTIFIED_WITHIN_MS = 5000

/** The worker's claim, logged (LOG_LEVEL=trace) once it has run. */
const isClaim = (line: Record<string, unknown>) => line.msg === 'sql query' && line.sql === 'WITH jobs'

/**
 * Resolves once the app's worker has looked for due jobs and found none: from
 * then on it sleeps until a notification wakes it, or the poll interval ends.
 */
async function workerAsleep (app: FastifyInstance, logs: Record<string, unknown>[]): Promise<void> {
  await app.ready()
  await eventually(async () => logs.some(isClaim) || undefined, 10_000, 'the worker\'s first look for jobs')
}

async function register (app: FastifyInstance, email: string, name?: string) {
  const response = await app.inject({ method: 'POST', url: '/auth/register', payload: { email, password: 'long enough password', ...(name === undefined ? {} : { name }) } })
  return response
}

t.test('registration sends the welcome email over SMTP, in the background', async (t) => {
  const smtp = await startSmtpServer(t)
  const { app } = await buildTestApp(t, { ...FAST_JOBS, SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, MAIL_FROM: 'taskforge <hello@taskforge.test>' })
  const response = await register(app, 'ada@example.io', 'Ada <Lovelace>')
  t.equal(response.statusCode, 201)

  const mail = await eventually(async () => smtp.received[0], 10_000, 'the welcome email')
  t.equal(mail.from, 'hello@taskforge.test')
  t.same(mail.to, ['ada@example.io'])
  t.match(mail.raw, /^Subject: Welcome to taskforge\r?$/m)
  t.match(mail.raw, /Content-Type: text\/plain/)
  t.match(mail.raw, /Content-Type: text\/html/)
  t.match(mail.raw, /Welcome to taskforge, Ada <Lovelace>!/, 'the plain text greets by name')
  t.match(mail.raw, /Ada &#60;Lovelace&#62;/, 'the HTML greets by name, escaped')
  t.match(mail.raw, /Message-ID: <welcome-[0-9a-f-]{36}@taskforge\.dev>/i, 'a stable id, for repeats')
  // The mail arrives a moment before the worker records the job as done.
  const job = await eventually(async () => {
    const [found] = await app.sql`select state, attempts from jobs where type = 'welcome-email'`
    return found?.state === 'done' && found
  }, 10_000, 'the job to be recorded done')
  t.match(job, { state: 'done', attempts: 1 })
})

t.test('the welcome email goes out at once through LISTEN/NOTIFY, not at the next poll (JOBS_POLL_INTERVAL_MS=60000)', async (t) => {
  const smtp = await startSmtpServer(t)
  const { app, logs } = await buildTestApp(t, { ...SLOW_POLL, SMTP_URL: `smtp://127.0.0.1:${smtp.port}` })
  await workerAsleep(app, logs)
  t.equal((await register(app, 'notified@example.io')).statusCode, 201)
  const answered = performance.now()
  const mail = await eventually(async () => smtp.received[0], NOTIFIED_WITHIN_MS, 'the welcome email, long before the next poll')
  t.same(mail.to, ['notified@example.io'])
  t.comment(`sent ${Math.round(performance.now() - answered)} ms after the registration's answer`)
})

t.test('two instances on one database: the notification wakes both, one of them sends the email, exactly once', async (t) => {
  const smtp = await startSmtpServer(t)
  const database = await createTestDatabase(t)
  const environment = { ...SLOW_POLL, SMTP_URL: `smtp://127.0.0.1:${smtp.port}` }
  const first = await buildTestApp(t, environment, { database })
  const second = await buildTestApp(t, environment, { database })
  const instances = [first, second].map(({ app, logs }, index) => ({ name: `instance ${index + 1}`, app, logs, seen: 0 }))
  for (const instance of instances) {
    await workerAsleep(instance.app, instance.logs)
    instance.seen = instance.logs.length
  }
  const linesSince = (instance: typeof instances[number]) => instance.logs.slice(instance.seen)

  t.equal((await register(first.app, 'twice-notified@example.io')).statusCode, 201)
  const answered = performance.now()
  const mail = await eventually(async () => smtp.received[0], NOTIFIED_WITHIN_MS, 'the welcome email, long before the next poll')
  t.comment(`sent ${Math.round(performance.now() - answered)} ms after the registration's answer`)
  t.same(mail.to, ['twice-notified@example.io'])
  await eventually(async () => instances.every((instance) => linesSince(instance).some(isClaim)) || undefined, NOTIFIED_WITHIN_MS, 'both workers to look for the job')
  await eventually(async () => {
    const [job] = await first.app.sql`select state from jobs where type = 'welcome-email'`
    return job?.state === 'done' || undefined
  }, 10_000, 'the job to be recorded done')
  const claimedBy = instances.filter((instance) => linesSince(instance).some((line) => line.msg === 'jobs claimed')).map((instance) => instance.name)
  t.equal(claimedBy.length, 1, `one instance claimed it (${claimedBy.join(', ')})`)
  t.equal(smtp.received.length, 1, 'one email')
})

t.test('an SMTP server that is down delays the email, never loses it, and never delays the answer', async (t) => {
  const port = await freePort()
  const { app } = await buildTestApp(t, { ...FAST_JOBS, SMTP_URL: `smtp://127.0.0.1:${port}` })
  const response = await register(app, 'grace@example.io')
  t.equal(response.statusCode, 201, 'the registration answers while the mail cannot go')

  const failed = await eventually(async () => {
    const [job] = await app.sql`select state, attempts, last_error from jobs where type = 'welcome-email'`
    return job !== undefined && job.attempts >= 2 && job.state !== 'done' && job
  }, 15_000, 'failed attempts')
  t.match(failed.lastError, /ECONNREFUSED|connect/i, 'the last error is kept')

  const smtp = await startSmtpServer(t, port)
  const mail = await eventually(async () => smtp.received[0], 15_000, 'the email once the server is up')
  t.same(mail.to, ['grace@example.io'])
  const job = await eventually(async () => {
    const [found] = await app.sql`select state from jobs where type = 'welcome-email'`
    return found?.state === 'done' && found
  }, 10_000, 'the job to be recorded done')
  t.equal(job.state, 'done')
})

t.test('without SMTP_URL the email is simulated: logged, and named so', async (t) => {
  const { app, logs } = await buildTestApp(t, FAST_JOBS)
  t.equal((await register(app, 'linus@example.io', 'Linus')).statusCode, 201)
  const line = await eventually(async () => logs.find((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('mail simulated')), 10_000, 'the simulated mail')
  t.match(line, { level: 30, mail: { to: 'linus@example.io', subject: 'Welcome to taskforge', text: /Linus/ } })
})

t.test('a registration that fails queues no email', async (t) => {
  const { app } = await buildTestApp(t, FAST_JOBS)
  await register(app, 'twice@example.io')
  t.equal((await register(app, 'TWICE@example.io')).statusCode, 409)
  const [row] = await app.sql`select count(*)::int as n from jobs where type = 'welcome-email'`
  t.equal(row?.n, 1)
})

t.test('a job running when the server is killed with SIGKILL is delivered after a fresh start', async (t) => {
  const database = await createTestDatabase(t)
  const hangingSmtp = await startSilentServer(t)
  const server = await startServerProcess(t, {
    DATABASE_URL: database.url,
    SMTP_URL: `smtp://127.0.0.1:${hangingSmtp}`,
    JOBS_LEASE_MS: '1000',
    JOBS_POLL_INTERVAL_MS: '100',
    JWT_SECRET: 'x'.repeat(40)
  })
  const response = await fetch(`${server.baseUrl}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'crash@example.io', password: 'long enough password', name: 'Crash' })
  })
  t.equal(response.status, 201)

  const probe = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { database })
  await eventually(async () => {
    const [job] = await probe.app.sql`select state from jobs where type = 'welcome-email'`
    return job?.state === 'running' || undefined
  }, 10_000, 'the job to be running (stuck on the silent SMTP server)')
  server.child.kill('SIGKILL')
  await once(server.child, 'exit')

  const smtp = await startSmtpServer(t)
  const restarted = await buildTestApp(t, { ...FAST_JOBS, SMTP_URL: `smtp://127.0.0.1:${smtp.port}` }, { database })
  await restarted.app.ready() // starts its job worker, as listening would
  const mail = await eventually(async () => smtp.received[0], 15_000, 'the welcome email after the restart')
  t.same(mail.to, ['crash@example.io'])
  // The mail arrives before the worker records the job done: wait for that too.
  const job = await eventually(async () => {
    const [found] = await probe.app.sql`select state, attempts from jobs where type = 'welcome-email'`
    return found?.state === 'done' && found
  }, 5000, 'the job to be done')
  t.match(job, { state: 'done', attempts: 2 }, 'the killed attempt counted, the second delivered')
})
