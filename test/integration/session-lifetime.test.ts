import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { bearer, loginUser, registerUser, type AuthResult } from '../helpers/auth.js'
import { createTestDatabase } from '../helpers/database.js'

const DAY_MS = 86_400_000
const PROBLEM = 'application/problem+json; charset=utf-8'

t.test('REFRESH_TOKEN_MAX_AGE (90 days by default) ends a login however often it was refreshed', async (t) => {
  const loggedInAt = Date.now()
  let now = loggedInAt
  const { app } = await buildTestApp(t, {}, { clock: () => now })
  const refresh = (refreshToken: string) => app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } })
  const sessionEnd = loggedInAt + 90 * DAY_MS
  const { user, refreshToken, password } = await registerUser(app)
  const newestTokenExpiry = async () => {
    const [row] = await app.sql<{ expiresAt: Date }[]>`
      select t.expires_at from refresh_tokens t join refresh_token_families f on f.id = t.family_id
      where f.user_id = ${user.id} and t.spent_at is null`
    return row?.expiresAt.getTime()
  }
  t.equal(await newestTokenExpiry(), loggedInAt + 30 * DAY_MS, 'a fresh login\'s token lives REFRESH_TOKEN_TTL (30 days)')

  // Refreshed within its 30 days each time, the login would otherwise live for ever.
  let token = refreshToken
  for (const day of [29, 58, 87]) {
    now = loggedInAt + day * DAY_MS
    const response = await refresh(token)
    t.equal(response.statusCode, 200, `refresh on day ${day}`)
    token = response.json<AuthResult>().refreshToken
  }
  t.equal(await newestTokenExpiry(), sessionEnd, 'the token issued on day 87 expires with the login on day 90, not on day 117')

  now = sessionEnd - 1000
  const lastOne = await refresh(token)
  t.equal(lastOne.statusCode, 200, 'a second before the end it still works')
  token = lastOne.json<AuthResult>().refreshToken
  t.equal(await newestTokenExpiry(), sessionEnd, 'and its successor ends with the login too')

  now = sessionEnd
  const ended = await refresh(token)
  t.equal(ended.statusCode, 401)
  t.equal(ended.headers['content-type'], PROBLEM)
  t.match(ended.json(), { status: 401, detail: /maximum age; log in again/ })
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', payload: { refreshToken: token } })).statusCode, 401, 'nor can it log out')

  const again = await loginUser(app, user.email, password)
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(again.accessToken) })).statusCode, 200, 'logging in again starts a new session')
  t.equal((await refresh(again.refreshToken)).statusCode, 200)
})

t.test('a shorter REFRESH_TOKEN_MAX_AGE applies to sessions already running', async (t) => {
  const loggedInAt = Date.now()
  let now = loggedInAt
  const database = await createTestDatabase(t)
  const before = await buildTestApp(t, {}, { clock: () => now, database })
  const { refreshToken } = await registerUser(before.app)
  // The operator restarts with a tighter policy, on the same database.
  const after = await buildTestApp(t, { REFRESH_TOKEN_TTL: '1h', REFRESH_TOKEN_MAX_AGE: '2h' }, { clock: () => now, database })
  now = loggedInAt + 2 * 3_600_000
  const response = await after.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } })
  t.equal(response.statusCode, 401, 'the 30-day token of a login two hours old')
  t.match(response.json().detail, /maximum age/)
})
