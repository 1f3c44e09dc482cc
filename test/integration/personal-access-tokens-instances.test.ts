/**
 * Revocation of a personal access token across instances that share one
 * database (API.md: at once on the instance that revoked, within 5 seconds
 * on every other). Each instance caches token lookups; these tests freeze
 * an instance's clock where they must show that its cache was dropped by a
 * notification, not aged out.
 */
import type { FastifyInstance } from 'fastify'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { bearer, registerUser } from '../helpers/auth.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { eventually } from '../helpers/jobs.js'
import { createToken } from '../helpers/tokens.js'

const QUIET = { JOBS_CONCURRENCY: '0' }

/** A database for several instances, dropped after they have closed (teardowns run in order). */
async function sharedDatabase (t: Test): Promise<TestDatabase> {
  return createTestDatabase(t, { dropOnTeardown: false })
}

/** A connection of the test's own to the database, as an operator's psql would be. */
function adminConnection (t: Test, database: TestDatabase): postgres.Sql {
  const sql = postgres(database.url, { max: 1, onnotice: () => undefined })
  t.teardown(() => sql.end())
  return sql
}

/** Revokes a token behind every instance's back: triggers off, so no notification is sent (as if it were lost). */
async function revokeSilently (sql: postgres.Sql, id: string): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`
    await tx`update personal_access_tokens set revoked_at = now() where id = ${id}`
  })
}

const status = async (app: FastifyInstance, token: string): Promise<number> =>
  (await app.inject({ method: 'GET', url: '/tasks', headers: bearer(token) })).statusCode

t.test('a revocation holds at once where it was made, and within 5 s on another instance, by notification', async (t) => {
  const database = await sharedDatabase(t)
  const a = await buildTestApp(t, QUIET, { database })
  // B's time stands still: its cached lookup never ages out, only a notification can drop it.
  const frozen = Date.now()
  const b = await buildTestApp(t, QUIET, { database, clock: () => frozen })
  t.teardown(database.drop)

  const ada = await registerUser(a.app)
  const token = await createToken(a.app, ada.accessToken, { scopes: ['tasks:read'] })
  t.equal(await status(a.app, token.token), 200, 'A knows it (and caches it)')
  t.equal(await status(b.app, token.token), 200, 'so does B')

  const revoked = await a.app.inject({ method: 'DELETE', url: `/auth/tokens/${token.id}`, headers: bearer(ada.accessToken) })
  t.equal(revoked.statusCode, 204)
  t.equal(await status(a.app, token.token), 401, 'A refuses it with the very next request')
  const started = Date.now()
  await eventually(async () => await status(b.app, token.token) === 401, 5000, 'B to refuse the revoked token')
  t.pass(`B refuses it too, ${Date.now() - started} ms after the revocation`)
})

t.test('if a notification is lost, the cache\'s lifetime (PAT_CACHE_TTL_MS, at most 4 s) still ends the token', async (t) => {
  const database = await sharedDatabase(t)
  let now = Date.now()
  const { app } = await buildTestApp(t, QUIET, { database, clock: () => now })
  t.teardown(database.drop)
  const admin = adminConnection(t, database)

  const ada = await registerUser(app)
  const token = await createToken(app, ada.accessToken, { scopes: ['tasks:read'] })
  t.equal(await status(app, token.token), 200, 'looked up and cached')
  await revokeSilently(admin, token.id)
  now += 3999
  t.equal(await status(app, token.token), 200, 'unheard of, the cached lookup holds until its time is up')
  now += 1
  t.equal(await status(app, token.token), 401, 'then the token is looked up again: revoked')
})

t.test('with PAT_CACHE_TTL_MS=0 every request looks the token up', async (t) => {
  const database = await sharedDatabase(t)
  const now = Date.now()
  const { app } = await buildTestApp(t, { ...QUIET, PAT_CACHE_TTL_MS: '0' }, { database, clock: () => now })
  t.teardown(database.drop)
  const admin = adminConnection(t, database)

  const ada = await registerUser(app)
  const token = await createToken(app, ada.accessToken, { scopes: ['tasks:read'] })
  t.equal(await status(app, token.token), 200)
  await revokeSilently(admin, token.id)
  t.equal(await status(app, token.token), 401, 'no notification, no time passing: refused all the same')
})

t.test('when the listening connection comes back, every cached lookup is dropped: notifications may have been missed', async (t) => {
  const database = await sharedDatabase(t)
  const frozen = Date.now()
  const { app } = await buildTestApp(t, QUIET, { database, clock: () => frozen })
  t.teardown(database.drop)
  const admin = adminConnection(t, database)
  const listeners = () => admin<{ pid: number }[]>`
    select pid from pg_stat_activity where datname = current_database() and query ilike 'listen %taskforge_personal_access_tokens%'`

  const ada = await registerUser(app)
  const token = await createToken(app, ada.accessToken, { scopes: ['tasks:read'] })
  t.equal(await status(app, token.token), 200, 'cached')
  await revokeSilently(admin, token.id)
  t.equal(await status(app, token.token), 200, 'the revocation unheard of: still cached')

  const [listener, ...others] = await listeners()
  t.ok(listener !== undefined && others.length === 0, 'the instance listens on one connection')
  await admin`select pg_terminate_backend(${listener?.pid ?? 0})`
  await eventually(async () => {
    const now = await listeners()
    return now.length === 1 && now[0]?.pid !== listener?.pid
  }, 10_000, 'the instance to listen again')
  await eventually(async () => await status(app, token.token) === 401, 5000, 'the token to be looked up again')
  t.pass('refused once the instance listened again')
})
