import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { createTestDatabase } from '../helpers/database.js'
import { bearer, registerUser } from '../helpers/auth.js'
import { createToken, unknownToken } from '../helpers/tokens.js'
import { freePort } from '../helpers/smtp.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

const PROBLEM = 'application/problem+json; charset=utf-8'
const WRONG = 'wrong password'

/** A loopback address of our own for each client: counters in a shared Redis never meet another test's (or run's). */
function uniqueAddress (): string {
  const bytes = randomBytes(3)
  return `127.${bytes[0] ?? 0}.${bytes[1] ?? 0}.${bytes[2] ?? 0}`
}

/** The app sees the socket's address as request.ip (no proxy is trusted). */
const from = (address: string) => ({ remoteAddress: address })

const login = (app: FastifyInstance, address: string, email: string, password: string) =>
  app.inject({ method: 'POST', url: '/auth/login', ...from(address), payload: { email, password } })

async function statuses (app: FastifyInstance, address: string, email: string, passwords: string[]): Promise<number[]> {
  const answers = []
  for (const password of passwords) answers.push((await login(app, address, email, password)).statusCode)
  return answers
}

function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('the global limit: per user, else per IP; 429 is a problem with Retry-After and both header families', async (t) => {
  const { app, logs } = await buildTestApp(t, { RATE_LIMIT_MAX: '5' })
  const ip = uniqueAddress()
  const answers = []
  for (let i = 0; i < 6; i++) answers.push(await app.inject({ method: 'GET', url: '/health/live', ...from(ip) }))
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

  const other = await app.inject({ method: 'GET', url: '/health/live', ...from(uniqueAddress()) })
  t.equal(other.statusCode, 200, 'another address has its own budget')
})

t.test('authenticated clients are counted per user, not per address', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '4', AUTH_RATE_LIMIT_MAX: '100' })
  const ip = uniqueAddress()
  const alice = await registerUser(app)
  const bob = await registerUser(app)
  const list = (token: string) => app.inject({ method: 'GET', url: '/tasks', ...from(ip), headers: bearer(token) })
  const aliceAnswers = []
  for (let i = 0; i < 5; i++) aliceAnswers.push((await list(alice.accessToken)).statusCode)
  t.same(aliceAnswers, [200, 200, 200, 200, 429])
  t.equal((await list(bob.accessToken)).statusCode, 200, 'Bob, behind the same address, still has his budget')
})

t.test('a personal access token\'s requests count against its user, like a session\'s, cached or looked up', async (t) => {
  for (const cacheTtl of ['4000', '0']) {
    await t.test(`PAT_CACHE_TTL_MS=${cacheTtl}`, async (t) => {
      const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '6', AUTH_RATE_LIMIT_MAX: '100', JOBS_CONCURRENCY: '0', PAT_CACHE_TTL_MS: cacheTtl })
      const ada = await registerUser(app)
      const bob = await registerUser(app)
      const [first, second, third] = [uniqueAddress(), uniqueAddress(), uniqueAddress()]
      // Ada's budget: 1.
      const reader = await createToken(app, ada.accessToken, { scopes: ['tasks:read'] })
      const bobs = await createToken(app, bob.accessToken, { scopes: ['tasks:read'] })
      const answers = []
      for (const [address, token, method] of [
        [first, reader.token, 'GET'], [first, reader.token, 'GET'], [second, ada.accessToken, 'GET'],
        // Refused for its scope: counted all the same.
        [second, reader.token, 'POST'], [third, reader.token, 'GET'], [third, reader.token, 'GET']
      ] as const) {
        answers.push((await app.inject({ method, url: '/tasks', ...from(address), headers: bearer(token), payload: method === 'POST' ? { title: 'x' } : undefined })).statusCode)
      }
      t.same(answers, [200, 200, 200, 403, 200, 429], 'one budget for the user, whatever the address or the credential')
      t.equal((await app.inject({ method: 'GET', url: '/tasks', ...from(first), headers: bearer(bobs.token) })).statusCode, 200,
        'Bob\'s token, from an address Ada used, has Bob\'s budget')
      const unknown = []
      const stranger = uniqueAddress()
      for (let i = 0; i < 7; i++) unknown.push((await app.inject({ method: 'GET', url: '/tasks', ...from(stranger), headers: bearer(unknownToken()) })).statusCode)
      t.same(unknown, [401, 401, 401, 401, 401, 401, 429], 'tokens nobody issued count against their address')
    })
  }
})

t.test('requests without a valid token count against their address, though the route refuses them', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '3' })
  const ip = uniqueAddress()
  const answers = []
  for (const headers of [{}, bearer('garbage'), bearer('garbage'), bearer('garbage')]) {
    answers.push(await app.inject({ method: 'GET', url: '/tasks', ...from(ip), headers }))
  }
  t.same(answers.map((response) => response.statusCode), [401, 401, 401, 429])
  t.equal(answers[0]?.headers['ratelimit-limit'], '3', 'a refused request carries the limit too')
  t.equal(answers[3]?.json().type, 'https://taskforge.dev/problems/too-many-requests')
  t.equal((await app.inject({ method: 'GET', url: '/health/live', ...from(ip) })).statusCode, 429, 'the same budget as every route')
})

t.test('the credential routes have a far stricter limit per address, over all of them', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '1000', AUTH_RATE_LIMIT_MAX: '3' })
  const ip = uniqueAddress()

  const byAddress = []
  for (let i = 0; i < 4; i++) byAddress.push((await login(app, ip, `someone${i}@example.io`, WRONG)).statusCode)
  t.same(byAddress, [401, 401, 401, 429], 'three tries a minute from one address')
  const firstTry = await login(app, uniqueAddress(), 'someone-else@example.io', WRONG)
  t.equal(firstTry.headers['ratelimit-limit'], '3', 'the headers tell the credential limit, not the global one')
  t.equal(firstTry.headers['x-ratelimit-limit'], '3')
  const limited = await login(app, ip, 'another@example.io', WRONG)
  t.equal(limited.headers['content-type'], PROBLEM)
  t.equal(limited.json().type, 'https://taskforge.dev/problems/too-many-requests')
  t.match(limited.json().detail, /at most 3 a minute/)
  t.match(limited.headers['retry-after'], /^\d+$/)
  t.equal(limited.headers['ratelimit-remaining'], '0')
  t.equal(limited.headers['x-ratelimit-limit'], '3')
  const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', ...from(ip), payload: { refreshToken: 'x' } })
  t.equal(refresh.statusCode, 429, 'the credential routes share the budget')
  t.equal((await app.inject({ method: 'GET', url: '/health/live', ...from(ip) })).statusCode, 200, 'other routes are not affected')
})

t.test('wrong passwords for someone else\'s email do not keep its owner out', async (t) => {
  // The defaults but a small per-address budget: what an attacker with one address can do in a minute, many times over.
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '1000', AUTH_RATE_LIMIT_MAX: '3' })
  const alice = await registerUser(app)
  const attacker = uniqueAddress()
  t.same(await statuses(app, attacker, alice.user.email, [WRONG, WRONG, WRONG, WRONG, WRONG]), [401, 401, 401, 429, 429])
  t.same(await statuses(app, uniqueAddress(), alice.user.email, [WRONG, WRONG, WRONG]), [401, 401, 401], 'a second address of the attacker')
  const owner = await login(app, uniqueAddress(), alice.user.email, alice.password)
  t.equal(owner.statusCode, 200, 'the owner, from an address that has not failed, gets in')
  t.equal(owner.json().user.id, alice.user.id)
})

t.test('failed logins are limited per address and email: LOGIN_FAILURES_MAX in 15 minutes, then that pair waits', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '1000', AUTH_RATE_LIMIT_MAX: '1000', LOGIN_FAILURES_MAX: '3' })
  const alice = await registerUser(app)
  const bob = await registerUser(app)
  const attacker = uniqueAddress()
  t.same(await statuses(app, attacker, alice.user.email, [WRONG, WRONG, WRONG]), [401, 401, 401])
  const limited = await login(app, attacker, alice.user.email, alice.password)
  t.equal(limited.statusCode, 429, 'even the right password waits, from this address')
  t.equal(limited.headers['content-type'], PROBLEM)
  t.match(limited.json(), { type: 'https://taskforge.dev/problems/too-many-requests', detail: /failed logins for this email from your address: at most 3 in 15 minutes/ })
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(retryAfter > 60 && retryAfter <= 900, `Retry-After ${retryAfter} s: the rest of the 15 minutes`)
  t.equal(limited.headers['ratelimit-limit'], '3')
  t.equal(limited.headers['ratelimit-remaining'], '0')
  t.equal(limited.headers['x-ratelimit-limit'], '3')
  t.equal(limited.headers['x-ratelimit-reset'], limited.headers['retry-after'])

  t.equal((await login(app, attacker, ` ${alice.user.email.toUpperCase()} `, alice.password)).statusCode, 429, 'another spelling of the email is the same budget')
  t.equal((await login(app, attacker, bob.user.email, WRONG)).statusCode, 401, 'the address may still fail on another email')
  t.equal((await login(app, uniqueAddress(), alice.user.email, alice.password)).statusCode, 200, 'the owner gets in from another address')
  t.same(await statuses(app, attacker, 'nobody@example.io', [WRONG, WRONG, WRONG, WRONG]), [401, 401, 401, 429], 'an email without an account is limited alike: the limit says nothing of which emails exist')
})

t.test('only failures count: a login that succeeds spends nothing and clears its address\'s failures', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '1000', AUTH_RATE_LIMIT_MAX: '1000', LOGIN_FAILURES_MAX: '2' })
  const alice = await registerUser(app)
  const right = alice.password
  t.same(await statuses(app, uniqueAddress(), alice.user.email, [WRONG, right, right, right, WRONG, right, WRONG, WRONG, WRONG]),
    [401, 200, 200, 200, 401, 200, 401, 401, 429])
})

t.test('an email with many failures: addresses that failed on it wait, an address that did not still gets its try', async (t) => {
  // Two failures per address and email; four on the email from any addresses put it under attack.
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '1000', AUTH_RATE_LIMIT_MAX: '1000', LOGIN_FAILURES_MAX: '2' })
  const alice = await registerUser(app)
  const bob = await registerUser(app)
  const email = alice.user.email
  t.same(await statuses(app, uniqueAddress(), email, [WRONG, WRONG]), [401, 401])
  const second = uniqueAddress()
  t.same(await statuses(app, second, email, [WRONG, WRONG]), [401, 401])

  const third = uniqueAddress()
  t.same(await statuses(app, third, email, [WRONG]), [401], 'a fresh address gets its try')
  const refused = await login(app, third, email, alice.password)
  t.equal(refused.statusCode, 429, 'then waits, though it is below its own limit, and even with the right password')
  t.match(refused.json().detail, /many failed logins recently, and one came from your address/)
  t.equal(refused.headers['ratelimit-limit'], '4')
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(retryAfter > 60 && retryAfter <= 900, `Retry-After ${retryAfter} s`)
  t.equal((await login(app, second, email, WRONG)).statusCode, 429)
  t.same(await statuses(app, uniqueAddress(), email, [WRONG, WRONG]), [401, 429], 'each guess now takes an address of its own')
  t.equal((await login(app, third, bob.user.email, WRONG)).statusCode, 401, 'other emails are not affected')

  const owner = uniqueAddress()
  t.same(await statuses(app, owner, email, [alice.password, alice.password]), [200, 200], 'the owner, from an address that has not failed, gets in')
})

t.test('concurrent attempts cannot overrun the failure budgets: an attempt counts from the moment it is checked', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '1000', AUTH_RATE_LIMIT_MAX: '1000', LOGIN_FAILURES_MAX: '2' })
  const alice = await registerUser(app)
  const together = async (address: string, count: number) => {
    const answers = await Promise.all(Array.from({ length: count }, () => login(app, address, alice.user.email, WRONG)))
    return answers.map((response) => response.statusCode).sort()
  }
  t.same(await together(uniqueAddress(), 6), [401, 401, 429, 429, 429, 429], 'two failures per address, however many arrive at once')
  t.same(await together(uniqueAddress(), 2), [401, 401], 'four in all: the email is under attack')
  t.same(await together(uniqueAddress(), 5), [401, 429, 429, 429, 429], 'a fresh address gets one try, not one per connection')
})

t.test('one normalised email for storage, lookup and limits: another spelling is the same budget, or not the account', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '1000', AUTH_RATE_LIMIT_MAX: '1000', LOGIN_FAILURES_MAX: '2' })
  const alice = await registerUser(app, { email: 'alice@example.io' })
  // U+0130: PostgreSQL's lower() makes it "i", JavaScript's toLowerCase() "i̇"; the limiter and the lookup once disagreed on it.
  const dotted = 'alİce@example.io'
  t.equal((await login(app, uniqueAddress(), dotted, alice.password)).statusCode, 401, 'not Alice\'s account')
  const register = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: dotted, password: alice.password } })
  t.equal(register.statusCode, 400, 'nor can it become an account: emails are ASCII')

  const address = uniqueAddress()
  t.same(await statuses(app, address, 'Alice@Example.io', [WRONG]), [401])
  t.same(await statuses(app, address, 'ALICE@example.IO', [WRONG]), [401])
  t.equal((await login(app, address, 'alice@example.io', alice.password)).statusCode, 429, 'letter case is one budget')
  t.equal((await login(app, uniqueAddress(), 'ALICE@EXAMPLE.IO', alice.password)).statusCode, 200, 'and one account (API.md)')
})

t.test('with REDIS_URL, instances share their counters', async (t) => {
  const database = await createTestDatabase(t)
  const environment = { REDIS_URL: 'redis://127.0.0.1:6379', RATE_LIMIT_MAX: '4' }
  const first = await buildTestApp(t, environment, { database })
  const second = await buildTestApp(t, environment, { database })
  const ip = uniqueAddress()
  const answers = []
  for (const app of [first.app, second.app, first.app, second.app, first.app, second.app]) {
    answers.push((await app.inject({ method: 'GET', url: '/health/live', ...from(ip) })).statusCode)
  }
  t.same(answers, [200, 200, 200, 200, 429, 429], 'four in all, not four per instance')
  t.ok(first.logs.some((line) => line.msg === 'rate limits: counted in Redis'))
})

t.test('with REDIS_URL, instances share the login failure budgets', async (t) => {
  const database = await createTestDatabase(t)
  const environment = { REDIS_URL: 'redis://127.0.0.1:6379', LOGIN_FAILURES_MAX: '2' }
  const first = await buildTestApp(t, environment, { database })
  const second = await buildTestApp(t, environment, { database })
  // Unique to this run: the counters in Redis outlive it.
  const alice = await registerUser(first.app, { email: `alice-${randomUUID()}@example.io` })
  const attacker = uniqueAddress()
  t.equal((await login(first.app, attacker, alice.user.email, WRONG)).statusCode, 401)
  t.equal((await login(second.app, attacker, alice.user.email, WRONG)).statusCode, 401)
  t.equal((await login(first.app, attacker, alice.user.email, alice.password)).statusCode, 429, 'two failures in all, whichever instance saw them')
  t.equal((await login(second.app, uniqueAddress(), alice.user.email, alice.password)).statusCode, 200)
})

t.test('if Redis is unreachable, every limit holds in memory and each failed store operation is counted', async (t) => {
  const { app, logs } = await buildTestApp(t, { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RATE_LIMIT_MAX: '3', AUTH_RATE_LIMIT_MAX: '2', LOGIN_FAILURES_MAX: '1' })
  t.ok(logs.some((line) => line.msg === 'rate limits: counted in memory until Redis answers'))

  const health = []
  const client = uniqueAddress()
  for (let i = 0; i < 4; i++) health.push((await app.inject({ method: 'GET', url: '/health/live', ...from(client) })).statusCode)
  t.same(health, [200, 200, 200, 429], 'the global limit, per instance')

  const guesser = uniqueAddress()
  const guesses = []
  for (let i = 0; i < 3; i++) guesses.push((await login(app, guesser, `nobody${i}@example.io`, WRONG)).statusCode)
  t.same(guesses, [401, 401, 429], 'the credential limit')
  const failing = uniqueAddress()
  t.equal((await login(app, failing, 'someone@example.io', WRONG)).statusCode, 401)
  const refused = await login(app, failing, 'someone@example.io', WRONG)
  t.equal(refused.statusCode, 429, 'the login failure budgets')
  t.match(refused.json().detail, /from your address/)

  const metrics = await app.inject({ method: 'GET', url: '/metrics', ...from(uniqueAddress()) })
  t.equal(sample(metrics.body, 'taskforge_rate_limit_store_errors_total{limiter="global"}'), 10, 'every request: 4 + 3 + 2 logins + this scrape')
  t.equal(sample(metrics.body, 'taskforge_rate_limit_store_errors_total{limiter="credentials"}'), 5, 'every login')
  t.ok((sample(metrics.body, 'taskforge_rate_limit_store_errors_total{limiter="login_failures_address_email"}') ?? 0) >= 4)
  t.ok((sample(metrics.body, 'taskforge_rate_limit_store_errors_total{limiter="login_failures_email"}') ?? 0) >= 4)
  t.equal(logs.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('rate limits: Redis failed')).length, 1, 'one warning for the outage, not one per request')
})

t.test('if Redis goes away, counting moves to memory at once, and the metric counts it', async (t) => {
  const database = await createTestDatabase(t)
  const proxy = await startTcpProxy(t, { host: '127.0.0.1', port: 6379 })
  const environment = { RATE_LIMIT_MAX: '3' }
  const behindProxy = await buildTestApp(t, { ...environment, REDIS_URL: `redis://127.0.0.1:${proxy.port}` }, { database })
  const direct = await buildTestApp(t, { ...environment, REDIS_URL: 'redis://127.0.0.1:6379' }, { database })
  const client = uniqueAddress()
  const live = async (app: FastifyInstance) => (await app.inject({ method: 'GET', url: '/health/live', ...from(client) })).statusCode
  t.same([await live(behindProxy.app), await live(direct.app), await live(behindProxy.app)], [200, 200, 200], 'counted in Redis, together')
  t.equal(await live(direct.app), 429)

  await proxy.cut()
  t.same(
    [await live(behindProxy.app), await live(behindProxy.app), await live(behindProxy.app), await live(behindProxy.app)],
    [200, 200, 200, 429],
    'a fresh count in this instance\'s memory, limited all the same'
  )
  const metrics = await behindProxy.app.inject({ method: 'GET', url: '/metrics', ...from(uniqueAddress()) })
  t.equal(sample(metrics.body, 'taskforge_rate_limit_store_errors_total{limiter="global"}'), 5, 'the four requests and the scrape')
  t.equal(sample(metrics.body, 'taskforge_rate_limit_store_errors_total{limiter="credentials"}'), 0, 'a series from the start, for alerts on its increase')
  t.ok(behindProxy.logs.some((line) => line.msg === 'rate limits: Redis failed; counting in this instance\'s memory until it answers again' && line.level === 40))
})
