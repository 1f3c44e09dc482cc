import type { InjectOptions } from 'fastify'
import t from 'tap'
import { STORABLE_TEXT_MESSAGE } from '../../schemas.js'
import { buildTestApp } from '../helpers/app.js'
import { bearer, registerUser } from '../helpers/auth.js'
import { tasksClient } from '../helpers/tasks.js'

const ALLOWED = 'https://app.example.com'

t.test('CORS', async (t) => {
  const { app } = await buildTestApp(t, { CORS_ORIGINS: `${ALLOWED}, https://admin.example.com` })
  const user = await registerUser(app)

  await t.test('a preflight from an allowed origin succeeds with what the API uses', async (t) => {
    const response = await app.inject({
      method: 'OPTIONS',
      url: '/tasks/123',
      headers: { origin: ALLOWED, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization, content-type, if-match, idempotency-key' }
    })
    t.equal(response.statusCode, 204)
    t.equal(response.headers['access-control-allow-origin'], ALLOWED)
    t.match(response.headers['access-control-allow-methods'], /PATCH/)
    for (const header of ['Authorization', 'Content-Type', 'If-Match', 'Idempotency-Key']) {
      t.match(response.headers['access-control-allow-headers'], new RegExp(header, 'i'), header)
    }
    t.equal(response.headers['access-control-max-age'], '600')
    t.notOk(response.headers['access-control-allow-credentials'])
  })

  await t.test('a request from an allowed origin can read the headers it needs', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/tasks', headers: { origin: ALLOWED, ...bearer(user.accessToken) }, payload: { title: 'x' } })
    t.equal(response.statusCode, 201)
    t.equal(response.headers['access-control-allow-origin'], ALLOWED)
    for (const header of ['ETag', 'Location', 'Link', 'X-Request-Id', 'RateLimit-Remaining', 'X-RateLimit-Remaining']) {
      t.match(response.headers['access-control-expose-headers'], new RegExp(header, 'i'), header)
    }
  })

  await t.test('any other origin gets no CORS headers', async (t) => {
    const preflight = await app.inject({ method: 'OPTIONS', url: '/tasks', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
    t.notOk(preflight.headers['access-control-allow-origin'])
    t.notOk(preflight.headers['access-control-allow-methods'])
    const request = await app.inject({ method: 'GET', url: '/tasks', headers: { origin: 'https://evil.example', ...bearer(user.accessToken) } })
    t.notOk(request.headers['access-control-allow-origin'])
    t.notOk(request.headers['access-control-expose-headers'])
  })

  await t.test('with no CORS_ORIGINS no origin is allowed', async (t) => {
    const { app: closed } = await buildTestApp(t)
    const preflight = await closed.inject({ method: 'OPTIONS', url: '/tasks', headers: { origin: ALLOWED, 'access-control-request-method': 'POST' } })
    t.equal(preflight.statusCode, 404)
    t.notOk(preflight.headers['access-control-allow-origin'])
    const request = await closed.inject({ method: 'GET', url: '/health/live', headers: { origin: ALLOWED } })
    t.notOk(request.headers['access-control-allow-origin'])
    t.notOk(request.headers.vary, 'no answer varies by origin, and none says it does')
  })
})

t.test('security headers', async (t) => {
  const { app } = await buildTestApp(t)
  const api = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(api.headers['x-content-type-options'], 'nosniff')
  t.match(api.headers['content-security-policy'], /default-src 'none'/)
  t.match(api.headers['content-security-policy'], /frame-ancestors 'none'/)
  t.match(api.headers['strict-transport-security'], /max-age=\d+/)
  t.equal(api.headers['x-frame-options'], 'DENY')
  t.equal(api.headers['cross-origin-resource-policy'], 'same-site')
  t.notOk(api.headers['x-xss-protection'], 'headers that concern HTML pages are left off JSON answers')
  t.notOk(api.headers['cross-origin-opener-policy'])
  t.equal(api.headers['referrer-policy'], 'no-referrer')
  t.notOk(api.headers['x-powered-by'])

  const errorAnswer = await app.inject({ method: 'GET', url: '/nope' })
  t.equal(errorAnswer.headers['x-content-type-options'], 'nosniff', 'errors carry them too')

  const docs = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(docs.statusCode, 200)
  t.match(docs.headers['content-security-policy'], /script-src 'self'/, 'Swagger UI gets a CSP it can run under')
  t.equal(docs.headers['cross-origin-opener-policy'], 'same-origin', 'and the headers for HTML pages')
  t.equal(docs.headers['x-content-type-options'], 'nosniff')
})

t.test('bodies: JSON only, and no bigger than BODY_LIMIT', async (t) => {
  const { app } = await buildTestApp(t, { BODY_LIMIT: '4096' })
  const user = await registerUser(app)
  const big = await app.inject({ method: 'POST', url: '/tasks', headers: bearer(user.accessToken), payload: { title: 'x', description: 'd'.repeat(5000) } })
  t.equal(big.statusCode, 413)
  t.equal(big.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(big.json().type, 'https://taskforge.dev/problems/payload-too-large')
  for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
    const response = await app.inject({ method: 'POST', url: '/tasks', headers: { ...bearer(user.accessToken), 'content-type': contentType }, payload: 'title=x' })
    t.equal(response.statusCode, 415, contentType)
    t.equal(response.json().type, 'https://taskforge.dev/problems/unsupported-media-type', contentType)
  }
  const [row] = await app.sql`select count(*)::int as n from tasks`
  t.equal(row?.n, 0, 'nothing was created')
})

t.test('deeply nested JSON is refused cleanly, within the body limit', async (t) => {
  const { app } = await buildTestApp(t)
  const user = await registerUser(app)
  for (const depth of [1000, 100_000]) {
    const deepTags = `{"title":"x","tags":${'['.repeat(depth)}${']'.repeat(depth)}}`
    const started = Date.now()
    const response = await app.inject({ method: 'POST', url: '/tasks', headers: { ...bearer(user.accessToken), 'content-type': 'application/json' }, payload: deepTags })
    t.equal(response.statusCode, 400, `depth ${depth}`)
    t.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8')
    t.ok(Date.now() - started < 2000, `answered in ${Date.now() - started} ms`)
  }
  const [row] = await app.sql`select count(*)::int as n from tasks`
  t.equal(row?.n, 0)
})

t.test('text the database cannot store (a NUL, an unpaired surrogate) is a 400 naming the field, and changes nothing', async (t) => {
  const { app } = await buildTestApp(t)
  const user = await registerUser(app, { email: 'text@example.io', password: 'long enough' })
  const task = await tasksClient(app, user.accessToken).createTask({ title: 'kept', tags: ['a'] })
  const auth = bearer(user.accessToken)
  const snapshot = async () => JSON.stringify(await app.sql`
    select (select count(*) from users)::int as users, (select count(*) from refresh_tokens)::int as tokens,
      (select json_agg(tasks order by id) from tasks) as tasks, (select count(*) from idempotency_keys)::int as keys`)
  const before = await snapshot()

  const cases = (bad: string): [string, InjectOptions][] => [
    ['/body/email', { method: 'POST', url: '/auth/register', payload: { email: `a${bad}b@example.io`, password: 'long enough' } }],
    ['/body/password', { method: 'POST', url: '/auth/register', payload: { email: 'p@example.io', password: `long${bad}enough` } }],
    ['/body/name', { method: 'POST', url: '/auth/register', payload: { email: 'n@example.io', password: 'long enough', name: `Ada${bad}` } }],
    ['/body/email', { method: 'POST', url: '/auth/login', payload: { email: `text${bad}@example.io`, password: 'long enough' } }],
    ['/body/title', { method: 'POST', url: '/tasks', headers: auth, payload: { title: `t${bad}` } }],
    ['/body/description', { method: 'POST', url: '/tasks', headers: auth, payload: { title: 't', description: `d${bad}` } }],
    ['/body/tags/1', { method: 'POST', url: '/tasks', headers: auth, payload: { title: 't', tags: ['ok', `x${bad}`] } }],
    ['/body/title', { method: 'PUT', url: `/tasks/${task.id}`, headers: auth, payload: { title: `t${bad}` } }],
    ['/body/description', { method: 'PATCH', url: `/tasks/${task.id}`, headers: auth, payload: { description: bad } }],
    ['/body/tags/0', { method: 'PATCH', url: `/tasks/${task.id}`, headers: auth, payload: { tags: [bad] } }],
    ['/headers/idempotency-key', { method: 'POST', url: '/tasks', headers: { ...auth, 'idempotency-key': `k${bad}` }, payload: { title: 't' } }]
  ]
  // A query string is UTF-8 once decoded, so only a NUL (%00) can arrive there.
  const queries: [string, string][] = [['/querystring/q', '/tasks?q=a%00'], ['/querystring/tag/0', '/tasks?tag=%00']]

  for (const [name, bad] of [['NUL', '\u0000'], ['an unpaired surrogate', '\ud800']] as const) {
    const requests: [string, InjectOptions][] = [
      ...cases(bad),
      ...(bad === '\u0000' ? queries.map(([path, url]): [string, InjectOptions] => [path, { method: 'GET', url, headers: auth }]) : [])
    ]
    for (const [path, request] of requests) {
      const why = `${name}: ${request.method ?? 'GET'} ${request.url as string} ${path}`
      const response = await app.inject(request)
      t.equal(response.statusCode, 400, why)
      t.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8', why)
      t.match(response.json(), { type: 'https://taskforge.dev/problems/validation-error', errors: [{ path }] }, why)
    }
  }
  const title = await app.inject({ method: 'POST', url: '/tasks', headers: auth, payload: { title: 'a\u0000b' } })
  t.same(title.json().errors, [{ path: '/body/title', message: STORABLE_TEXT_MESSAGE }], 'the message says what is wrong, not the pattern')
  t.equal(title.json().detail, `body/title ${STORABLE_TEXT_MESSAGE}`)
  t.equal(await snapshot(), before, 'nothing was stored')

  // A password is only hashed: login takes any string, so an account made before the rule still gets in.
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'text@example.io', password: 'long\u0000enough' } })
  t.equal(login.statusCode, 401, 'a NUL in a login password is just a wrong password')
})
