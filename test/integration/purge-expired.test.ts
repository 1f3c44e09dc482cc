import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Sql } from '../../db/client.js'
import { buildTestApp } from '../helpers/app.js'
import { registerUser, type AuthResult } from '../helpers/auth.js'
import { createTestDatabase } from '../helpers/database.js'
import { eventually } from '../helpers/jobs.js'
import { tasksClient } from '../helpers/tasks.js'
import { createToken } from '../helpers/tokens.js'

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000

/** The value of one series in a Prometheus text exposition, or undefined when it is not there. */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function purgeJobs (sql: Sql): Promise<{ state: string; recurringSlot: Date; runAt: Date }[]> {
  return sql<{ state: string; recurringSlot: Date; runAt: Date }[]>`
    select state, recurring_slot, run_at from jobs where type = 'purge-expired' order by id`
}

/** Waits out the end of the hour if it is near, so that a test's jobs all fall in one hourly slot. */
async function awayFromTheHour (sql: Sql): Promise<void> {
  const [row] = await sql<{ ms: number }[]>`
    select extract(epoch from date_bin('1 hour', now(), timestamptz '1970-01-01 00:00:00+00') + interval '1 hour' - now())::float8 * 1000 as ms`
  const left = row?.ms ?? HOUR_MS
  if (left < 30_000) await sleep(left + 100)
}

t.test('the purge job removes every user\'s dead refresh-token families, dead personal access tokens and expired idempotency keys, and keeps the live ones', async (t) => {
  const realNow = Date.now()
  let now = realNow
  const database = await createTestDatabase(t)
  // An instance without a worker makes the rows, moving its clock; the purge runs later, on another instance.
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { clock: () => now, database })
  const at = (msAgo: number) => { now = realNow - msAgo }
  const logout = (refreshToken: string) => app.inject({ method: 'POST', url: '/auth/logout', payload: { refreshToken } })
  const refresh = (refreshToken: string) => app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } })

  at(100 * DAY_MS)
  const gone = await registerUser(app) // its login expired 70 days ago
  t.equal((await tasksClient(app, gone.accessToken).create({ title: 'Long ago' }, { 'idempotency-key': 'old' })).statusCode, 201)
  const revokeToken = (accessToken: string, id: string) =>
    app.inject({ method: 'DELETE', url: `/auth/tokens/${id}`, headers: { authorization: `Bearer ${accessToken}` } })
  at(10 * DAY_MS)
  const loggedOutLongAgo = await registerUser(app)
  const revokedLongAgo = await createToken(app, loggedOutLongAgo.accessToken, { name: 'revoked 10 days ago', scopes: ['tasks:read'] })
  t.equal((await revokeToken(loggedOutLongAgo.accessToken, revokedLongAgo.id)).statusCode, 204)
  t.equal((await logout(loggedOutLongAgo.refreshToken)).statusCode, 204)
  at(33 * DAY_MS)
  const expiredLately = await registerUser(app) // expired 3 days ago: within the grace
  t.equal((await tasksClient(app, expiredLately.accessToken).create({ title: 'A month ago' }, { 'idempotency-key': 'expired' })).statusCode, 201)
  await createToken(app, expiredLately.accessToken, { name: 'expired 8 days ago', scopes: ['tasks:read'], expiresAt: new Date(realNow - 8 * DAY_MS).toISOString() })
  await createToken(app, expiredLately.accessToken, { name: 'expired 6 days ago', scopes: ['tasks:read'], expiresAt: new Date(realNow - 6 * DAY_MS).toISOString() })
  at(DAY_MS)
  const loggedOutLately = await registerUser(app)
  const revokedLately = await createToken(app, loggedOutLately.accessToken, { name: 'revoked a day ago', scopes: ['tasks:read'] })
  t.equal((await revokeToken(loggedOutLately.accessToken, revokedLately.id)).statusCode, 204)
  t.equal((await logout(loggedOutLately.refreshToken)).statusCode, 204)
  at(2 * DAY_MS)
  const live = await registerUser(app)
  await createToken(app, live.accessToken, { name: 'live', scopes: ['tasks:read'] })
  at(0)
  const rotated = (await refresh(live.refreshToken)).json<AuthResult>()
  t.equal((await tasksClient(app, rotated.accessToken).create({ title: 'Just now' }, { 'idempotency-key': 'fresh' })).statusCode, 201)

  const familiesOf = async () => (await app.sql<{ userId: string }[]>`select user_id from refresh_token_families order by user_id`).map((row) => row.userId)
  t.equal((await familiesOf()).length, 5)
  t.equal((await app.sql`select key from idempotency_keys`).length, 3)

  const purger = await buildTestApp(t, { JOBS_POLL_INTERVAL_MS: '50' }, { clock: () => now, database })
  await purger.app.ready() // the worker starts, and enqueues this hour's purge
  await eventually(async () => (await purgeJobs(app.sql)).some((job) => job.state === 'done'), 20_000, 'the purge job to run')

  const kept = [expiredLately, loggedOutLately, live].map((user) => user.user.id).sort()
  t.same(await familiesOf(), kept, 'gone: expired 70 days ago, logged out 10 days ago; kept: dead for less than 7 days, and live')
  const tokens = await app.sql<{ spent: boolean }[]>`
    select t.spent_at is not null as spent from refresh_tokens t join refresh_token_families f on f.id = t.family_id
    where f.user_id = ${live.user.id} order by t.created_at`
  t.same(tokens.map((token) => token.spent), [true, false], 'a live login keeps its spent tokens')
  const keys = await app.sql<{ userId: string; key: string }[]>`select user_id, key from idempotency_keys`
  t.same(keys.map((row) => [row.userId, row.key]), [[live.user.id, 'fresh']], 'only the key still inside its 24 hours')
  t.equal((await app.sql`select 1 from tasks`).length, 3, 'tasks are not touched')
  const personalAccessTokens = await app.sql<{ name: string }[]>`select name from personal_access_tokens order by name`
  t.same(personalAccessTokens.map((row) => row.name), ['expired 6 days ago', 'live', 'revoked a day ago'],
    'gone: personal access tokens revoked or expired more than 7 days ago')

  const reuse = await refresh(live.refreshToken)
  t.match(reuse.json().detail, /already used/, 'a spent token of a live login is still recognised as reuse')
  t.equal((await refresh(rotated.refreshToken)).statusCode, 401, 'which revoked its family')
  t.match((await refresh(loggedOutLately.refreshToken)).json().detail, /revoked/, 'a token logged out yesterday is still known as revoked')
  t.match((await refresh(loggedOutLongAgo.refreshToken)).json().detail, /invalid/, 'one purged is merely unknown')

  t.ok(purger.logs.some((line) => line.msg === 'purged expired refresh-token families, personal access tokens, idempotency keys and webhook deliveries' &&
    line.refreshTokenFamilies === 2 && line.personalAccessTokens === 2 && line.idempotencyKeys === 2), 'the run logs what it purged')
  const metrics = (await purger.app.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(metrics, 'taskforge_jobs_enqueued_total{type="purge-expired"}'), 1, 'in the metrics like every job type')
  t.equal(sample(metrics, 'taskforge_job_runs_total{type="purge-expired",outcome="succeeded"}'), 1)
})

t.test('instances starting together enqueue one purge job for the hour, not one each', async (t) => {
  const database = await createTestDatabase(t)
  const instances = await Promise.all([1, 2, 3].map(() => buildTestApp(t, { JOBS_POLL_INTERVAL_MS: '50' }, { database })))
  const [first] = instances
  if (first === undefined) throw new Error('no instance')
  await awayFromTheHour(first.app.sql)
  await Promise.all(instances.map(({ app }) => app.ready()))
  // Every instance tries again now and then: more tries change nothing.
  const again = await Promise.all(instances.flatMap(({ app }) => [app.jobs.scheduleRecurring(), app.jobs.scheduleRecurring()]))
  t.same(again.flat(), [], 'nothing more to enqueue')

  const jobs = await eventually(async () => {
    const found = await purgeJobs(first.app.sql)
    return found.every((job) => job.state === 'done') && found
  }, 20_000, 'the purge job to run')
  t.equal(jobs.length, 1, 'one job')
  const [job] = jobs
  t.equal(job?.recurringSlot.getTime(), Math.floor((job?.runAt.getTime() ?? 0) / HOUR_MS) * HOUR_MS, 'for the hour it is in, due at its start')
  t.same((await Promise.all(instances.map(({ app }) => app.jobs.scheduleRecurring()))).flat(), [], 'done, the hour\'s job is not enqueued again')

  const enqueued = await Promise.all(instances.map(async ({ app }) => sample((await app.inject({ method: 'GET', url: '/metrics' })).body, 'taskforge_jobs_enqueued_total{type="purge-expired"}') ?? 0))
  t.equal(enqueued.reduce((sum, count) => sum + count, 0), 1, 'counted once across the instances')
})

t.test('a purge job still pending (retrying, or running long) holds back the next one', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' })
  await awayFromTheHour(app.sql)
  // Last hour's job failed and waits for its retry.
  await app.sql`
    insert into jobs (type, payload, max_attempts, state, attempts, run_at, recurring_slot)
    values ('purge-expired', '{}', 5, 'queued', 1, now() + interval '1 minute', date_bin('1 hour', now(), timestamptz '1970-01-01 00:00:00+00') - interval '1 hour')`
  t.same(await app.jobs.scheduleRecurring(), [], 'no second job while one is queued')
  await app.sql`update jobs set state = 'running' where type = 'purge-expired'`
  t.same(await app.jobs.scheduleRecurring(), [], 'nor while one runs')
  await app.sql`update jobs set state = 'dead', finished_at = now() where type = 'purge-expired'`
  t.same(await app.jobs.scheduleRecurring(), ['purge-expired'], 'once it is over, this hour\'s job is enqueued')
  t.same((await purgeJobs(app.sql)).map((job) => job.state), ['dead', 'queued'])
})
