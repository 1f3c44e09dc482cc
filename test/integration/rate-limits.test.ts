import { randomBytes } from 'node:crypto'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { createTestDatabase } from '../helpers/database.js'
import { bearer, registerUser } from '../helpers/auth.js'
import { freePort } from '../helpers/smtp.js'

const PROBLEM = 'application/problem+json; charset=utf-8'

/** An address of our own for each test: counters in a shared Redis never meet another test's (or run's). */
function uniqueIp (): string {
  const bytes = randomBytes(3)
  return `10.${bytes[0] ?? 0}.${bytes[1] ?? 0}.${bytes[2] ?? 0}`
}

const from = (ip: string) => ({ 'x-forwarded-for': ip })

t.test('the global limit: per user, else per IP; 429 is a problem with Retry-After and both header families', async (t) => {
  const { app, logs } = await buildTestApp(t, { RATE_LIMIT_MAX: '5', TRUST_PROXY: 'true' })
  const ip = uniqueIp()
  const answers = []
  for (let i = 0; i < 6; i++) answers.push(await app.inject({ method: 'GET', url: '/health/live', headers: from(ip) }))
  t.same(answers.map((response) => response.statusCode), [200, 200, 200, 200, 200, 429])
  const ok = answers[0]
  t.equal(ok?.headers['ratelimit-limit'], '5')
  t.equal(ok?.headers['ratelimit-remaining'], '4')
  t.equal(ok?.headers['x-ratelimit-limit'], '5')
  t.equal(ok?.headers['x-ratelimit-remaining'], '4')
  const limited = answers[5]
  t.equal(limited?.headers['content-type'], PROBLEM)
  t.match(limited?.json(), { type: 'https://taskforge.dev/problems/too-many-requests', title: 'Too many requests', status: 429, detail: /at most 5 a minute/ })
  t.match(limited?.headers['retry-after'], /^\d+$/)
  t.equal(limited?.headers['ratelimit-remaining'], '0')
  t.equal(limited?.headers['x-ratelimit-remaining'], '0')
  t.match(ok?.headers['ratelimit-reset'], /^\d+$/)
  t.equal(ok?.headers['x-ratelimit-reset'], ok?.headers['ratelimit-reset'])
  t.equal(limited?.json().requestId, limited?.headers['x-request-id'])
  t.ok(logs.some((line) => line.msg === 'rate limit hit' && line.level === 40), 'warned')

  const other = await app.inject({ method: 'GET', url: '/health/live', headers: from(uniqueIp()) })
  t.equal(other.statusCode, 200, 'another address has its own budget')
})

t.test('authenticated clients are counted per user, not per address', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '4', AUTH_RATE_LIMIT_MAX: '100', TRUST_PROXY: 'true' })
  const ip = uniqueIp()
  const alice = await registerUser(app)
  const bob = await registerUser(app)
  const list = (token: string) => app.inject({ method: 'GET', url: '/tasks', headers: { ...from(ip), ...bearer(token) } })
  const aliceAnswers = []
  for (let i = 0; i < 5; i++) aliceAnswers.push((await list(alice.accessToken)).statusCode)
  t.same(aliceAnswers, [200, 200, 200, 200, 429])
  t.equal((await list(bob.accessToken)).statusCode, 200, 'Bob, behind the same address, still has his budget')
})

t.test('requests without a valid token count against their address, though the route refuses them', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '3', TRUST_PROXY: 'true' })
  const ip = uniqueIp()
  const answers = []
  for (const headers of [{}, bearer('garbage'), bearer('garbage'), bearer('garbage')]) {
    answers.push(await app.inject({ method: 'GET', url: '/tasks', headers: { ...from(ip), ...headers } }))
  }
  t.same(answers.map((response) => response.statusCode), [401, 401, 401, 429])
  t.equal(answers[0]?.headers['ratelimit-limit'], '3', 'a refused request carries the limit too')
  t.equal(answers[3]?.json().type, 'https://taskforge.dev/problems/too-many-requests')
  t.equal((await app.inject({ method: 'GET', url: '/health/live', headers: from(ip) })).statusCode, 429, 'the same budget as every route')
})

t.test('the credential routes have a far stricter limit, per address and, for login, per email', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '1000', AUTH_RATE_LIMIT_MAX: '3', TRUST_PROXY: 'true' })
  const ip = uniqueIp()
  const login = (email: string, address: string) => app.inject({ method: 'POST', url: '/auth/login', headers: from(address), payload: { email, password: 'wrong password' } })

  const byAddress = []
  for (let i = 0; i < 4; i++) byAddress.push((await login(`someone${i}@example.io`, ip)).statusCode)
  t.same(byAddress, [401, 401, 401, 429], 'three tries a minute from one address')
  const firstTry = await login('someone-else@example.io', uniqueIp())
  t.equal(firstTry.headers['ratelimit-limit'], '3', 'the headers tell the credential limit, not the global one')
  t.equal(firstTry.headers['x-ratelimit-limit'], '3')
  const limited = await login('another@example.io', ip)
  t.equal(limited.headers['content-type'], PROBLEM)
  t.equal(limited.json().type, 'https://taskforge.dev/problems/too-many-requests')
  t.match(limited.headers['retry-after'], /^\d+$/)
  t.equal(limited.headers['ratelimit-remaining'], '0')
  t.equal(limited.headers['x-ratelimit-limit'], '3')
  const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', headers: from(ip), payload: { refreshToken: 'x' } })
  t.equal(refresh.statusCode, 429, 'the credential routes share the budget')
  t.equal((await app.inject({ method: 'GET', url: '/health/live', headers: from(ip) })).statusCode, 200, 'other routes are not affected')

  const byEmail = []
  for (let i = 0; i < 4; i++) byEmail.push((await login('Target@Example.io', uniqueIp())).statusCode)
  t.same(byEmail, [401, 401, 401, 429], 'three tries a minute at one email, from any number of addresses')
  const otherCase = await login(' target@example.IO ', uniqueIp())
  t.equal(otherCase.statusCode, 429, 'the same email in another letter case is the same budget')
})

t.test('with REDIS_URL, instances share their counters', async (t) => {
  const database = await createTestDatabase(t)
  const environment = { REDIS_URL: 'redis://127.0.0.1:6379', RATE_LIMIT_MAX: '4', TRUST_PROXY: 'true' }
  const first = await buildTestApp(t, environment, { database })
  const second = await buildTestApp(t, environment, { database })
  const ip = uniqueIp()
  const statuses = []
  for (const app of [first.app, second.app, first.app, second.app, first.app, second.app]) {
    statuses.push((await app.inject({ method: 'GET', url: '/health/live', headers: from(ip) })).statusCode)
  }
  t.same(statuses, [200, 200, 200, 200, 429, 429], 'four in all, not four per instance')
  t.ok(first.logs.some((line) => line.msg === 'rate limits: counted in Redis'))
})

t.test('if Redis is down, requests go through rather than fail', async (t) => {
  const { app, logs } = await buildTestApp(t, { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RATE_LIMIT_MAX: '2' })
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await app.inject({ method: 'GET', url: '/health/live' })).statusCode)
  t.same(statuses, [200, 200, 200])
  t.ok(logs.some((line) => typeof line.msg === 'string' && line.msg.includes('redis for rate limits is unreachable')))
})
