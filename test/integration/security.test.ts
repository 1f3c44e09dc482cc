import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { bearer, registerUser } from '../helpers/auth.js'

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
    t.notOk(preflight.headers['access-control-allow-origin'])
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
