import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import { buildTestApp, TEST_JWT_SECRET } from '../helpers/app.js'
import { bearer, registerUser, tamperSignature, type AuthResult } from '../helpers/auth.js'
import { createTestDatabase } from '../helpers/database.js'
import { LOAD_TEST_ENVIRONMENT, registerOverHttp, startServerProcess } from '../helpers/server-process.js'

const PROBLEM = 'application/problem+json; charset=utf-8'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('POST /auth/register', async (t) => {
  const { app } = await buildTestApp(t)

  await t.test('201 with an AuthResult; the email is trimmed; no password anywhere', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: '  Ada@Example.io ', password: 'correct horse', name: 'Ada' } })
    t.equal(response.statusCode, 201)
    t.match(response.headers['content-type'], /^application\/json; charset=utf-8/)
    const body = response.json<AuthResult>()
    t.same(Object.keys(body).sort(), ['accessToken', 'expiresIn', 'refreshToken', 'tokenType', 'user'])
    t.same(Object.keys(body.user).sort(), ['createdAt', 'email', 'id', 'name'])
    t.match(body.user, { email: 'Ada@Example.io', name: 'Ada' })
    t.match(body.user.id, UUID)
    t.match(body.user.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    t.equal(body.tokenType, 'Bearer')
    t.equal(body.expiresIn, 900, 'the access token lifetime in seconds (15 min by default)')
    t.match(body.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/)
    t.notMatch(response.body, /correct horse|argon2/)
    const [row] = await app.sql`select password_hash from users where id = ${body.user.id}`
    t.match(row?.passwordHash, /^\$argon2id\$v=19\$/, 'stored as argon2id')
    t.match(row?.passwordHash, /[$,]m=19456[,$]/, 'with 19 MiB of memory')
    t.match(row?.passwordHash, /[$,]t=2[,$]/, '2 passes')
    t.match(row?.passwordHash, /[$,]p=1[,$]/, '1 lane')
  })

  await t.test('name is optional and null when absent', async (t) => {
    const body = await registerUser(app)
    t.equal(body.user.name, null)
  })

  await t.test('the same email in another letter case is 409', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@EXAMPLE.IO', password: 'another password' } })
    t.equal(response.statusCode, 409)
    t.equal(response.headers['content-type'], PROBLEM)
    t.match(response.json(), { type: 'https://taskforge.dev/problems/conflict', status: 409, detail: 'An account with this email already exists' })
    const [row] = await app.sql`select count(*)::int as n from users where lower(email) = 'ada@example.io'`
    t.equal(row?.n, 1)
  })

  await t.test('bad input is 400 with errors[] and creates nothing', async (t) => {
    const [before] = await app.sql`select count(*)::int as n from users`
    const cases: [string, Record<string, unknown>, string][] = [
      ['not an email', { email: 'not-an-email', password: 'long enough' }, '/body/email'],
      ['an email over 254 characters', { email: `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.io`, password: 'long enough' }, '/body/email'],
      ['a 7-character password', { email: 'p7@example.io', password: '1234567' }, '/body/password'],
      ['a 129-character password', { email: 'p129@example.io', password: 'x'.repeat(129) }, '/body/password'],
      ['129 code points of emoji', { email: 'emoji@example.io', password: '😀'.repeat(129) }, '/body/password'],
      ['an empty name', { email: 'n@example.io', password: 'long enough', name: '' }, '/body/name'],
      ['a blank name', { email: 'n@example.io', password: 'long enough', name: '   ' }, '/body/name'],
      ['a 101-character name', { email: 'n@example.io', password: 'long enough', name: 'n'.repeat(101) }, '/body/name'],
      ['a missing password', { email: 'm@example.io' }, '/body/password'],
      ['an unknown property', { email: 'u@example.io', password: 'long enough', admin: true }, '/body/admin'],
      ['a number for a string', { email: 'x@example.io', password: 12345678 }, '/body/password']
    ]
    for (const [name, payload, path] of cases) {
      const response = await app.inject({ method: 'POST', url: '/auth/register', payload })
      t.equal(response.statusCode, 400, name)
      t.equal(response.headers['content-type'], PROBLEM, name)
      t.match(response.json(), { type: 'https://taskforge.dev/problems/validation-error', errors: [{ path }] }, name)
    }
    const [after] = await app.sql`select count(*)::int as n from users`
    t.equal(after?.n, before?.n)
  })

  await t.test('passwords are counted in code points: 8 emoji are 8 characters, 128 are allowed', async (t) => {
    const eight = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'eight@example.io', password: '😀'.repeat(8) } })
    t.equal(eight.statusCode, 201)
    const most = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'most@example.io', password: '😀'.repeat(128) } })
    t.equal(most.statusCode, 201)
    const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'eight@example.io', password: '😀'.repeat(8) } })
    t.equal(login.statusCode, 200)
  })
})

t.test('POST /auth/login', async (t) => {
  const { app, logs } = await buildTestApp(t)
  const registered = await registerUser(app, { email: 'Grace@Example.io', password: 'hopper-1906' })

  await t.test('200 with a new pair, whatever the letter case and spaces of the email', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: ' grace@example.IO', password: 'hopper-1906' } })
    t.equal(response.statusCode, 200)
    const body = response.json<AuthResult>()
    t.same(body.user, registered.user)
    t.not(body.refreshToken, registered.refreshToken)
    t.equal(body.tokenType, 'Bearer')
    t.ok(logs.some((line) => line.msg === 'user logged in' && line.userId === registered.user.id && line.level === 30), 'info log with the user id')
  })

  await t.test('an unknown email and a wrong password get the same 401 problem', async (t) => {
    const wrong = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'grace@example.io', password: 'wrong password' } })
    const unknown = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'nobody@example.io', password: 'wrong password' } })
    for (const response of [wrong, unknown]) {
      t.equal(response.statusCode, 401)
      t.equal(response.headers['content-type'], PROBLEM)
      t.match(response.headers['www-authenticate'], /^Bearer/)
    }
    const comparable = (body: Record<string, unknown>) => ({ ...body, requestId: undefined })
    t.same(comparable(wrong.json()), comparable(unknown.json()))
    t.match(wrong.json(), { type: 'https://taskforge.dev/problems/unauthorized', status: 401, detail: 'The email or password is incorrect' })
  })

  await t.test('both failures take about the same time', async (t) => {
    const time = async (email: string): Promise<number> => {
      const started = process.hrtime.bigint()
      const response = await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'wrong password' } })
      t.equal(response.statusCode, 401)
      return Number(process.hrtime.bigint() - started) / 1e6
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
    const known: number[] = []
    const unknown: number[] = []
    for (let i = 0; i < 7; i++) {
      known.push(await time('grace@example.io'))
      unknown.push(await time(`ghost${i}@example.io`))
    }
    const ratio = median(known) / median(unknown)
    t.ok(ratio > 1 / 3 && ratio < 3, `median ${median(known).toFixed(1)} ms vs ${median(unknown).toFixed(1)} ms (ratio ${ratio.toFixed(2)})`)
  })

  await t.test('bad input is 400', async (t) => {
    for (const payload of [{ email: 'grace@example.io' }, { email: '', password: 'x' }, { email: 'grace@example.io', password: 'hopper-1906', extra: 1 }]) {
      const response = await app.inject({ method: 'POST', url: '/auth/login', payload })
      t.equal(response.statusCode, 400, JSON.stringify(payload))
      t.equal(response.headers['content-type'], PROBLEM)
    }
  })
})

t.test('GET /auth/me and what the access token must be', async (t) => {
  let now = Date.now()
  const { app } = await buildTestApp(t, {}, { clock: () => now })
  const { user, accessToken, refreshToken } = await registerUser(app, { name: 'Me' })

  const me = (headers: Record<string, string>) => app.inject({ method: 'GET', url: '/auth/me', headers })
  const expectUnauthorized = async (t: Test, headers: Record<string, string>, why: string) => {
    const response = await me(headers)
    t.equal(response.statusCode, 401, why)
    t.equal(response.headers['content-type'], PROBLEM, why)
    t.match(response.headers['www-authenticate'], /^Bearer/, why)
    t.equal(response.json().type, 'https://taskforge.dev/problems/unauthorized', why)
  }

  await t.test('200 with the User for a valid token', async (t) => {
    const response = await me(bearer(accessToken))
    t.equal(response.statusCode, 200)
    t.same(response.json(), user)
  })

  /** A token like the app's in every way but the one a case changes (iat is the app's now, the life 60 s). */
  const sign = (
    claims: Record<string, unknown>,
    { key = TEST_JWT_SECRET, algorithm = 'HS256', iss = 'taskforge', aud = 'taskforge-api', expiresIn = 60_000 }:
    { key?: string; algorithm?: 'HS256' | 'HS384' | 'HS512'; iss?: string; aud?: string; expiresIn?: number } = {}
  ) =>
    createSigner({ key, algorithm, iss, aud, expiresIn, clockTimestamp: now })(claims)

  await t.test('every way of getting it wrong is 401 with WWW-Authenticate: Bearer', async (t) => {
    await expectUnauthorized(t, {}, 'no Authorization header')
    await expectUnauthorized(t, { authorization: accessToken }, 'no Bearer scheme')
    await expectUnauthorized(t, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, 'another scheme')
    await expectUnauthorized(t, bearer('not.a.jwt'), 'garbage')
    await expectUnauthorized(t, bearer(tamperSignature(accessToken)), 'a tampered signature')
    const claims = { sub: user.id, typ: 'access' }
    t.equal((await me(bearer(sign(claims)))).statusCode, 200, 'the control: a token like ours is accepted, so each case below fails for its own reason')
    await expectUnauthorized(t, bearer(sign(claims, { key: 'another-secret-that-is-long-enough-0123456789' })), 'signed with another key')
    await expectUnauthorized(t, bearer(sign(claims, { algorithm: 'HS512' })), 'another algorithm with the right key (HS512)')
    await expectUnauthorized(t, bearer(sign(claims, { algorithm: 'HS384' })), 'another algorithm with the right key (HS384)')
    await expectUnauthorized(t, bearer(sign(claims, { iss: 'someone-else' })), 'another issuer')
    await expectUnauthorized(t, bearer(createSigner({ key: TEST_JWT_SECRET, aud: 'taskforge-api', expiresIn: 60_000, clockTimestamp: now })(claims)), 'no issuer')
    await expectUnauthorized(t, bearer(sign(claims, { aud: 'another-api' })), 'another audience')
    await expectUnauthorized(t, bearer(createSigner({ key: TEST_JWT_SECRET, iss: 'taskforge', expiresIn: 60_000, clockTimestamp: now })(claims)), 'no audience')
    await expectUnauthorized(t, bearer(sign(claims, { expiresIn: 10 * 365 * 24 * 3600 * 1000 })), 'iat now and exp in ten years')
    await expectUnauthorized(t, bearer(sign({ sub: user.id, typ: 'refresh' })), 'a token of another type')
    await expectUnauthorized(t, bearer(sign({ sub: user.id })), 'a token without a type')
    await expectUnauthorized(t, bearer(refreshToken), 'a refresh token used as an access token')

    const [, payload] = accessToken.split('.')
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')
    await expectUnauthorized(t, bearer(`${header}.${payload ?? ''}.`), 'alg: none')
    const forgedHeader = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
    const forgedPayload = Buffer.from(JSON.stringify({ sub: user.id, typ: 'access', iss: 'taskforge', aud: 'taskforge-api', iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 60 })).toString('base64url')
    const forgedSignature = createHmac('sha256', 'guess').update(`${forgedHeader}.${forgedPayload}`).digest('base64url')
    await expectUnauthorized(t, bearer(`${forgedHeader}.${forgedPayload}.${forgedSignature}`), 'a forged token')
  })

  await t.test('an expired token is 401, a moment before it is not', async (t) => {
    now += 899_000
    t.equal((await me(bearer(accessToken))).statusCode, 200, 'still valid at 14:59')
    now += 2_000
    await expectUnauthorized(t, bearer(accessToken), 'expired at 15:01')
    t.match((await me(bearer(accessToken))).json().detail, /expired/)
  })

  await t.test('a deleted account\'s token is 401', async (t) => {
    const other = await registerUser(app)
    await app.sql`delete from users where id = ${other.user.id}`
    await expectUnauthorized(t, bearer(other.accessToken), 'the user is gone')
  })
})

t.test('POST /auth/refresh and /auth/logout', async (t) => {
  let now = Date.now()
  const { app, logs } = await buildTestApp(t, {}, { clock: () => now })
  const refresh = (refreshToken: string) => app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } })
  const logout = (refreshToken: string) => app.inject({ method: 'POST', url: '/auth/logout', payload: { refreshToken } })

  await t.test('rotation: each use returns a new pair and spends the old token', async (t) => {
    const { user, refreshToken } = await registerUser(app)
    const first = await refresh(refreshToken)
    t.equal(first.statusCode, 200)
    const pair = first.json<AuthResult>()
    t.same(pair.user, user)
    t.not(pair.refreshToken, refreshToken)
    t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(pair.accessToken) })).statusCode, 200, 'the new access token works')
    const second = await refresh(pair.refreshToken)
    t.equal(second.statusCode, 200, 'the new refresh token works once')
  })

  await t.test('reuse of a spent token revokes the whole family, for thief and owner alike', async (t) => {
    const { user, refreshToken: stolen } = await registerUser(app)
    const owner = (await refresh(stolen)).json<AuthResult>()
    const reuse = await refresh(stolen)
    t.equal(reuse.statusCode, 401)
    t.equal(reuse.headers['content-type'], PROBLEM)
    t.match(reuse.json().detail, /already used/)
    t.equal((await refresh(owner.refreshToken)).statusCode, 401, 'the descendant issued before the reuse is revoked too')
    const warning = logs.find((line) => line.msg === 'refresh token reused: token family revoked' && line.userId === user.id)
    t.ok(warning, 'warned with the user id')
    t.equal(warning?.level, 40)
    t.match(warning?.familyId, UUID)

    const otherLogin = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: 'correct horse battery staple' } })
    t.equal((await refresh(otherLogin.json<AuthResult>().refreshToken)).statusCode, 200, 'other logins of the user are untouched')
  })

  await t.test('concurrent refreshes with one token: exactly one succeeds', async (t) => {
    for (let round = 0; round < 5; round++) {
      const { refreshToken } = await registerUser(app)
      const answers = await Promise.all(Array.from({ length: 5 }, () => refresh(refreshToken)))
      const statuses = answers.map((response) => response.statusCode).sort()
      t.same(statuses, [200, 401, 401, 401, 401], `round ${round}`)
    }
  })

  await t.test('an access token is never a refresh token; unknown and malformed ones are refused', async (t) => {
    const { accessToken } = await registerUser(app)
    t.equal((await refresh(accessToken)).statusCode, 401)
    t.equal((await refresh('x'.repeat(43))).statusCode, 401)
    t.equal((await refresh('')).statusCode, 400)
    t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: 'x', extra: 1 } })).statusCode, 400)
    t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: {} })).statusCode, 400)
  })

  await t.test('an expired refresh token is 401', async (t) => {
    const { refreshToken } = await registerUser(app)
    const saved = now
    now += 30 * 86_400_000 + 1000
    const response = await refresh(refreshToken)
    t.equal(response.statusCode, 401)
    t.match(response.json().detail, /expired/)
    now = saved
  })

  await t.test('logout revokes the family: 204, then the token and its family are dead', async (t) => {
    const { refreshToken, accessToken } = await registerUser(app)
    const rotated = (await refresh(refreshToken)).json<AuthResult>()
    const response = await logout(rotated.refreshToken)
    t.equal(response.statusCode, 204)
    t.equal(response.body, '')
    t.equal((await refresh(rotated.refreshToken)).statusCode, 401)
    t.equal((await logout(rotated.refreshToken)).statusCode, 401, 'a second logout with it is 401')
    t.equal((await logout(accessToken)).statusCode, 401, 'an access token cannot log out')
    t.equal((await logout('')).statusCode, 400)
  })

  await t.test('logout with a spent token is treated as reuse', async (t) => {
    const { refreshToken } = await registerUser(app)
    const rotated = (await refresh(refreshToken)).json<AuthResult>()
    t.equal((await logout(refreshToken)).statusCode, 401)
    t.equal((await refresh(rotated.refreshToken)).statusCode, 401, 'the family is revoked')
  })
})

t.test('no password or token ever reaches the logs', async (t) => {
  const { app, logs } = await buildTestApp(t, { LOG_LEVEL: 'trace' })
  const registered = await registerUser(app, { password: 'p@ssw0rd-in-the-logs?' })
  const login = (await app.inject({ method: 'POST', url: '/auth/login', payload: { email: registered.user.email, password: 'p@ssw0rd-in-the-logs?' } })).json<AuthResult>()
  const rotated = (await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: login.refreshToken } })).json<AuthResult>()
  await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: login.refreshToken } })
  await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(rotated.accessToken) })
  await app.inject({ method: 'POST', url: '/auth/login', payload: { email: registered.user.email, password: 'wrong p@ssw0rd-in-the-logs?' } })
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refreshToken: rotated.refreshToken } })
  const text = JSON.stringify(logs)
  t.ok(logs.length > 10)
  for (const secret of ['p@ssw0rd-in-the-logs?', registered.accessToken, registered.refreshToken, login.refreshToken, rotated.accessToken, rotated.refreshToken]) {
    t.notOk(text.includes(secret), `not logged: ${secret.slice(0, 6)}…`)
  }
  t.ok(logs.some((line) => line.msg === 'user registered' && line.userId === registered.user.id), 'registration is logged with the user id')
})

t.test('an access token is verified once per request, though the rate limiter and the route both read it', async (t) => {
  const { app } = await buildTestApp(t)
  const user = await registerUser(app)
  // @fastify/jwt's verify: the HMAC check (or its cached verdict).
  const verify = app.jwt.verify.bind(app.jwt)
  let calls = 0
  app.jwt.verify = ((...args: Parameters<typeof verify>) => { calls += 1; return verify(...args) }) as typeof verify
  const me = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(user.accessToken) })
  t.equal(me.statusCode, 200)
  t.equal(calls, 1)
  calls = 0
  const forged = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(`${user.accessToken}x`) })
  t.equal(forged.statusCode, 401)
  t.equal(calls, 1, 'a bad token too')
})

t.test('answers that carry tokens are kept by no cache: Cache-Control: no-store', async (t) => {
  const { app } = await buildTestApp(t)
  const register = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'store@example.io', password: 'long enough' } })
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'store@example.io', password: 'long enough' } })
  const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: login.json<AuthResult>().refreshToken } })
  for (const [route, response, status] of [['register', register, 201], ['login', login, 200], ['refresh', refresh, 200]] as const) {
    t.equal(response.statusCode, status, route)
    t.ok(response.json<AuthResult>().accessToken, `${route} carries a token`)
    t.equal(response.headers['cache-control'], 'no-store', route)
  }
})

t.test('the server starts without a security warning from the token library', async (t) => {
  const database = await createTestDatabase(t)
  const server = await startServerProcess(t, { ...LOAD_TEST_ENVIRONMENT, DATABASE_URL: database.url })
  const token = await registerOverHttp(server.baseUrl, 'warnings@example.io')
  t.equal((await fetch(`${server.baseUrl}/auth/me`, { headers: bearer(token) })).status, 200, 'tokens are issued and verified')
  server.child.kill('SIGTERM')
  await once(server.child, 'close')
  t.notMatch(server.stderr(), /FAST_JWT|Warning/, 'nothing on stderr, where Node prints process warnings')
})
