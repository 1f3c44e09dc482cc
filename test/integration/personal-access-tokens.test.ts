/**
 * Personal access tokens through HTTP, row by row and rule by rule of API.md's
 * "Personal access tokens" section. Which route takes which scope, for every
 * route, is in route-scopes.test.ts; revocation across instances in
 * personal-access-tokens-instances.test.ts.
 */
import { createHash } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { bearer, registerUser } from '../helpers/auth.js'
import { eventually } from '../helpers/jobs.js'
import { createToken, unknownToken, type NewTokenBody, type TokenBody } from '../helpers/tokens.js'

const PROBLEM = 'application/problem+json; charset=utf-8'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const INSUFFICIENT_SCOPE = 'https://taskforge.dev/problems/insufficient-scope'
const DAY_MS = 86_400_000

function isUnauthorized (t: Test, response: LightMyRequestResponse, detail: RegExp, what: string): void {
  t.equal(response.statusCode, 401, what)
  t.equal(response.headers['www-authenticate'], 'Bearer', `${what}: WWW-Authenticate: Bearer`)
  t.equal(response.headers['content-type'], PROBLEM, `${what}: a problem`)
  t.match(response.json(), { type: 'https://taskforge.dev/problems/unauthorized', status: 401, detail }, what)
}

async function tokenCount (app: FastifyInstance): Promise<number> {
  const [row] = await app.sql<{ n: number }[]>`select count(*)::int as n from personal_access_tokens`
  return row?.n ?? -1
}

t.test('POST /auth/tokens: 201 NewToken, the secret shown once and stored only as a hash', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' })
  const ada = await registerUser(app)
  const expiresAt = new Date(Date.now() + 30 * DAY_MS).toISOString()
  const response = await app.inject({
    method: 'POST',
    url: '/auth/tokens',
    headers: bearer(ada.accessToken),
    payload: { name: '  CI: nightly export  ', scopes: ['webhooks', 'tasks:read'], expiresAt }
  })
  t.equal(response.statusCode, 201)
  t.match(response.headers['content-type'], /^application\/json; charset=utf-8/)
  t.equal(response.headers['cache-control'], 'no-store', 'an answer with a secret is kept by no cache')
  const created = response.json<NewTokenBody>()
  t.same(Object.keys(created).sort(), ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'scopes', 'token'])
  t.match(created.id, UUID)
  t.equal(created.name, 'CI: nightly export', 'the name is trimmed')
  t.same(created.scopes, ['tasks:read', 'webhooks'], 'scopes in one order, whatever the order sent')
  t.equal(created.expiresAt, expiresAt)
  t.equal(created.lastUsedAt, null)
  t.match(created.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  t.match(created.token, /^tfp_[A-Za-z0-9_-]{43}$/, 'tfp_ and 256 bits as base64url')

  const rows = await app.sql<{ tokenHash: Buffer; userId: string }[]>`select * from personal_access_tokens`
  t.equal(rows.length, 1)
  t.same(rows[0]?.tokenHash, createHash('sha256').update(created.token).digest(), 'the SHA-256 of the secret is kept')
  t.equal(rows[0]?.userId, ada.user.id)
  t.notOk(JSON.stringify(rows).includes(created.token.slice(4)), 'and nothing else of it')

  const listed = await app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(ada.accessToken) })
  t.notOk(listed.body.includes(created.token.slice(4)), 'never shown again')

  const lifelong = await createToken(app, ada.accessToken, { scopes: ['tasks:write'] })
  t.equal(lifelong.expiresAt, null, 'without expiresAt a token lives until revoked')
  t.not(lifelong.token, created.token)
  const me = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(lifelong.token) })
  t.equal(me.statusCode, 200, 'the secret works as a bearer')
  t.equal(me.json<{ id: string }>().id, ada.user.id)
})

t.test('bad input is a 400 problem naming the field, and creates nothing', async (t) => {
  let now = Date.parse('2026-03-10T12:00:00.000Z')
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { clock: () => now })
  const ada = await registerUser(app)
  const inAYear = '2027-03-10T12:00:00.000Z'
  const cases: [string, Record<string, unknown>, string][] = [
    ['an unknown scope', { name: 'x', scopes: ['tasks:admin'] }, '/body/scopes/0'],
    ['an empty scope list', { name: 'x', scopes: [] }, '/body/scopes'],
    ['a scope twice', { name: 'x', scopes: ['tasks:read', 'tasks:read'] }, '/body/scopes'],
    ['scopes not a list', { name: 'x', scopes: 'tasks:read' }, '/body/scopes'],
    ['no scopes', { name: 'x' }, '/body/scopes'],
    ['no name', { scopes: ['tasks:read'] }, '/body/name'],
    ['an empty name', { name: '', scopes: ['tasks:read'] }, '/body/name'],
    ['a blank name', { name: '   ', scopes: ['tasks:read'] }, '/body/name'],
    ['a name of 101 characters', { name: 'n'.repeat(101), scopes: ['tasks:read'] }, '/body/name'],
    ['a name with a NUL', { name: 'a\u0000b', scopes: ['tasks:read'] }, '/body/name'],
    ['an expiry in the past', { name: 'x', scopes: ['tasks:read'], expiresAt: '2026-03-10T11:59:59.000Z' }, '/body/expiresAt'],
    ['an expiry now', { name: 'x', scopes: ['tasks:read'], expiresAt: '2026-03-10T12:00:00.000Z' }, '/body/expiresAt'],
    ['an expiry over a year away', { name: 'x', scopes: ['tasks:read'], expiresAt: '2027-03-10T12:00:00.001Z' }, '/body/expiresAt'],
    ['an expiry that is no time', { name: 'x', scopes: ['tasks:read'], expiresAt: 'next week' }, '/body/expiresAt'],
    ['an unknown property', { name: 'x', scopes: ['tasks:read'], userId: ada.user.id }, '/body/userId']
  ]
  for (const [what, payload, path] of cases) {
    const response = await app.inject({ method: 'POST', url: '/auth/tokens', headers: bearer(ada.accessToken), payload })
    t.equal(response.statusCode, 400, what)
    t.equal(response.headers['content-type'], PROBLEM, what)
    const problem = response.json<{ type: string; errors: { path: string }[]; detail: string }>()
    t.equal(problem.type, 'https://taskforge.dev/problems/validation-error', what)
    t.ok(problem.errors.some((error) => error.path === path), `${what}: names ${path} (${JSON.stringify(problem.errors)})`)
  }
  t.equal(await tokenCount(app), 0, 'nothing was created')

  const longest = await createToken(app, ada.accessToken, { name: 'n'.repeat(100), scopes: ['tasks:read'], expiresAt: inAYear })
  t.equal(longest.expiresAt, inAYear, 'a name of 100 characters, and an expiry exactly a year ahead, are fine')
  now += 1
  const soonest = await createToken(app, ada.accessToken, { scopes: ['tasks:read'], expiresAt: '2026-03-10T12:00:00.002Z' })
  t.equal(soonest.expiresAt, '2026-03-10T12:00:00.002Z', 'so is one a millisecond ahead')
})

t.test('GET /auth/tokens: the user\'s live tokens, newest first, without secrets', async (t) => {
  let now = Date.parse('2026-03-10T12:00:00.000Z')
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { clock: () => now })
  const ada = await registerUser(app)
  const bob = await registerUser(app)
  const made: NewTokenBody[] = []
  for (const [name, expiresAt] of [['first', undefined], ['short-lived', '2026-03-10T12:00:10.000Z'], ['third', undefined], ['to revoke', undefined]] as const) {
    made.push(await createToken(app, ada.accessToken, { name, scopes: ['tasks:read'], ...(expiresAt === undefined ? {} : { expiresAt }) }))
    now += 1000
  }
  await createToken(app, bob.accessToken, { name: 'bob\'s', scopes: ['tasks:write'] })
  const revoked = made[3]
  if (revoked === undefined) throw new Error('no token to revoke')
  t.equal((await app.inject({ method: 'DELETE', url: `/auth/tokens/${revoked.id}`, headers: bearer(ada.accessToken) })).statusCode, 204)

  const list = async () => {
    const response = await app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(ada.accessToken) })
    t.equal(response.statusCode, 200)
    const body = response.json<{ items: (TokenBody & { token?: string })[] }>()
    t.same(Object.keys(body), ['items'])
    for (const item of body.items) t.same(Object.keys(item).sort(), ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'scopes'], 'no secret')
    return body.items.map((item) => item.name)
  }
  t.same(await list(), ['third', 'short-lived', 'first'], 'newest first; the revoked one is gone; Bob\'s are not Ada\'s')
  now = Date.parse('2026-03-10T12:00:10.000Z')
  t.same(await list(), ['third', 'first'], 'an expired token is not live either')
})

t.test('DELETE /auth/tokens/:id: 204, and the token stops working at once; anything not yours and live is 404', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' })
  const ada = await registerUser(app)
  const bob = await registerUser(app)
  const token = await createToken(app, ada.accessToken, { scopes: ['tasks:read'] })
  const bobs = await createToken(app, bob.accessToken, { scopes: ['tasks:read'] })
  t.equal((await app.inject({ method: 'GET', url: '/tasks', headers: bearer(token.token) })).statusCode, 200, 'works, and is now in this instance\'s cache')

  const revoke = (id: string, accessToken = ada.accessToken) => app.inject({ method: 'DELETE', url: `/auth/tokens/${id}`, headers: bearer(accessToken) })
  const first = await revoke(token.id)
  t.equal(first.statusCode, 204)
  t.equal(first.body, '')
  isUnauthorized(t, await app.inject({ method: 'GET', url: '/tasks', headers: bearer(token.token) }), /revoked/, 'the next request with it')
  const [row] = await app.sql<{ revokedAt: Date | null }[]>`select revoked_at from personal_access_tokens where id = ${token.id}`
  t.type(row?.revokedAt, Date, 'the row is kept, revoked')

  const others: [string, string][] = [
    ['revoked already', token.id], ['another user\'s', bobs.id], ['no such id', '00000000-0000-4000-8000-000000000000'], ['a malformed id', 'not-a-uuid']
  ]
  for (const [what, id] of others) {
    const response = await revoke(id)
    t.equal(response.statusCode, 404, what)
    t.match(response.json(), { type: 'https://taskforge.dev/problems/not-found', status: 404 }, what)
  }
  t.equal((await app.inject({ method: 'GET', url: '/tasks', headers: bearer(bobs.token) })).statusCode, 200, 'Bob\'s token still works')
})

t.test('only a session\'s access token manages tokens: a personal access token gets 403 insufficient_scope', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' })
  const ada = await registerUser(app)
  const everything = await createToken(app, ada.accessToken, { scopes: ['tasks:write', 'webhooks'] })
  const before = await tokenCount(app)
  for (const [method, url, payload] of [
    ['POST', '/auth/tokens', { name: 'more', scopes: ['tasks:write', 'webhooks'] }],
    ['GET', '/auth/tokens', undefined],
    ['DELETE', `/auth/tokens/${everything.id}`, undefined]
  ] as const) {
    const response = await app.inject({ method, url, headers: bearer(everything.token), ...(payload === undefined ? {} : { payload }) })
    t.equal(response.statusCode, 403, `${method} ${url}`)
    t.equal(response.headers['content-type'], PROBLEM)
    t.match(response.json(), { type: INSUFFICIENT_SCOPE, title: 'Insufficient scope', status: 403, detail: /session/ })
    t.equal(response.headers['www-authenticate'], 'Bearer error="insufficient_scope", error_description="This route needs a session\'s access token"',
      'RFC 6750 §3.1, without a scope: none would do')
  }
  t.equal(await tokenCount(app), before, 'nothing made')
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(everything.token) })).statusCode, 200, 'nothing revoked')
  const badBody = await app.inject({ method: 'POST', url: '/auth/tokens', headers: bearer(everything.token), payload: { scopes: [] } })
  t.equal(badBody.statusCode, 403, 'refused before its body is even looked at')
})

t.test('a token works where its scopes reach: tasks:read reads, tasks:write also writes; elsewhere 403 naming the scope', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' })
  const ada = await registerUser(app)
  const reader = await createToken(app, ada.accessToken, { scopes: ['tasks:read'] })
  const writer = await createToken(app, ada.accessToken, { scopes: ['tasks:write'] })
  const hooks = await createToken(app, ada.accessToken, { scopes: ['webhooks'] })

  const created = await app.inject({ method: 'POST', url: '/tasks', headers: bearer(writer.token), payload: { title: 'From a script' } })
  t.equal(created.statusCode, 201, 'tasks:write creates')
  const id = created.json<{ id: string }>().id
  t.equal((await app.inject({ method: 'GET', url: `/tasks/${id}`, headers: bearer(writer.token) })).statusCode, 200, 'tasks:write implies tasks:read')
  const read = await app.inject({ method: 'GET', url: '/tasks', headers: bearer(reader.token) })
  t.equal(read.statusCode, 200)
  t.same(read.json<{ items: { id: string }[] }>().items.map((task) => task.id), [id], 'the token acts as its user')

  const refused = await app.inject({ method: 'PATCH', url: `/tasks/${id}`, headers: bearer(reader.token), payload: { title: 'Changed' } })
  t.equal(refused.statusCode, 403)
  t.equal(refused.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="tasks:write"')
  t.match(refused.json(), { type: INSUFFICIENT_SCOPE, status: 403, detail: 'This route needs a token with the tasks:write scope', instance: `/tasks/${id}` })
  const head = await app.inject({ method: 'HEAD', url: '/tasks', headers: bearer(hooks.token) })
  t.equal(head.statusCode, 403, 'HEAD, which Fastify adds for each GET, is held to the GET\'s scope')
  t.equal(head.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="tasks:read"')
  const [task] = await app.sql<{ title: string; version: number }[]>`select title, version from tasks where id = ${id}`
  t.match(task, { title: 'From a script', version: 1 }, 'the refused write changed nothing')

  const me = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(hooks.token) })
  t.equal(me.statusCode, 200, 'GET /auth/me needs no scope')
  t.equal(me.json<{ id: string }>().id, ada.user.id)
})

t.test('expired, revoked, unknown or malformed tokens are 401 with WWW-Authenticate: Bearer', async (t) => {
  let now = Date.parse('2026-03-10T12:00:00.000Z')
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { clock: () => now })
  const ada = await registerUser(app)
  const token = await createToken(app, ada.accessToken, { scopes: ['tasks:read'], expiresAt: '2026-03-10T12:10:00.000Z' })
  const get = (value: string) => app.inject({ method: 'GET', url: '/tasks', headers: bearer(value) })

  now = Date.parse('2026-03-10T12:09:59.999Z')
  t.equal((await get(token.token)).statusCode, 200, 'a moment before its expiry it works (and is cached)')
  now = Date.parse('2026-03-10T12:10:00.000Z')
  isUnauthorized(t, await get(token.token), /expired/, 'at its expiry it does not, cached or not')

  isUnauthorized(t, await get(unknownToken()), /invalid/, 'a token of the right form nobody issued')
  isUnauthorized(t, await get('tfp_short'), /invalid/, 'a tfp_ token of the wrong form')
  isUnauthorized(t, await get(`${token.token}x`), /invalid/, 'a real one with a character more')
  isUnauthorized(t, await get(`tfp_${'A'.repeat(43)}`), /invalid/, 'a made-up one')
})

t.test('a personal access token can never refresh or log out, and is no refresh token', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' })
  const ada = await registerUser(app)
  const token = await createToken(app, ada.accessToken, { scopes: ['tasks:write', 'webhooks'] })
  for (const url of ['/auth/refresh', '/auth/logout']) {
    isUnauthorized(t, await app.inject({ method: 'POST', url, payload: { refreshToken: token.token } }), /refresh token is invalid/, `${url} with it as the refresh token`)
    const asBearer = await app.inject({ method: 'POST', url, headers: bearer(token.token), payload: { refreshToken: 'not-a-refresh-token' } })
    t.equal(asBearer.statusCode, 401, `${url} with it as the bearer: the route looks only at the body`)
  }
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(token.token) })).statusCode, 200, 'and it still works')
})

t.test('a user\'s tokens go when the user goes', async (t) => {
  // Time stands still: the cached lookup never ages out, so only the database's notification can drop it.
  const now = Date.now()
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { clock: () => now })
  const ada = await registerUser(app)
  const token = await createToken(app, ada.accessToken, { scopes: ['tasks:read'] })
  t.equal((await app.inject({ method: 'GET', url: '/tasks', headers: bearer(token.token) })).statusCode, 200, 'works, and is cached')
  await app.sql`delete from users where id = ${ada.user.id}`
  t.equal(await tokenCount(app), 0, 'the rows went with the user')
  // The deletion's notification (migration 0010's trigger) drops the cached lookup.
  await eventually(async () => (await app.inject({ method: 'GET', url: '/tasks', headers: bearer(token.token) })).statusCode === 401, 5000, 'a 401')
})

t.test('lastUsedAt: kept to within a minute, with at most one write a minute per token', async (t) => {
  let now = Date.parse('2026-03-10T12:00:00.000Z')
  // One connection: queries run in the order they were sent, so one more query is a barrier behind every write issued.
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0', DB_POOL_MAX: '1' }, { clock: () => now })
  const ada = await registerUser(app)
  const token = await createToken(app, ada.accessToken, { scopes: ['tasks:read'] })
  const other = await createToken(app, ada.accessToken, { scopes: ['tasks:read'] })
  const metric = async (series: string): Promise<number> => {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `))
    return line === undefined ? 0 : Number(line.slice(series.length + 1))
  }
  const updates = 'taskforge_db_query_duration_seconds_count{operation="UPDATE",table="personal_access_tokens",outcome="ok"}'
  /** The count of UPDATEs once every write issued so far has settled. */
  const settledUpdates = async (): Promise<number> => {
    await app.sql`select 1`
    return metric(updates)
  }
  const lastUsed = async (id: string) => {
    const [row] = await app.sql<{ lastUsedAt: Date | null }[]>`select last_used_at from personal_access_tokens where id = ${id}`
    return row?.lastUsedAt?.toISOString() ?? null
  }
  const use = async (value: string, times: number) => {
    for (let i = 0; i < times; i++) t.equal((await app.inject({ method: 'GET', url: '/tasks', headers: bearer(value) })).statusCode, 200)
  }

  const before = await settledUpdates()
  await use(token.token, 20)
  t.equal(await settledUpdates(), before + 1, '20 requests in one instant: one write')
  t.equal(await lastUsed(token.id), '2026-03-10T12:00:00.000Z')
  now += 59_000
  await use(token.token, 20)
  t.equal(await settledUpdates(), before + 1, '20 more within the minute: no write')
  t.equal(await lastUsed(token.id), '2026-03-10T12:00:00.000Z', 'within a minute of the last use')
  now += 1000
  await use(token.token, 5)
  t.equal(await settledUpdates(), before + 2, 'a minute after the write: the next use writes once')
  t.equal(await lastUsed(token.id), '2026-03-10T12:01:00.000Z')
  await use(other.token, 1)
  t.equal(await settledUpdates(), before + 3, 'each token has its own minute')

  const listed = (await app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(ada.accessToken) })).json<{ items: TokenBody[] }>()
  t.same(listed.items.map((item) => [item.id, item.lastUsedAt]).sort(),
    [[other.id, '2026-03-10T12:01:00.000Z'], [token.id, '2026-03-10T12:01:00.000Z']].sort(), 'GET /auth/tokens shows it')
  const refused = await app.inject({ method: 'POST', url: '/tasks', headers: bearer(token.token), payload: { title: 'no' } })
  t.equal(refused.statusCode, 403)
  t.equal(await settledUpdates(), before + 3, 'a refused request is no use')
})
