/**
 * A realistic session, every answer checked against the committed
 * openapi.json (test/helpers/openapi-validator.ts): status, body and headers.
 * It uses every operation and answers every main error status; an answer the
 * document does not describe fails the test.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { OpenAPIV3_1 as OpenApi } from 'openapi-types'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { createResponseValidator, type ResponseValidator } from '../helpers/openapi-validator.js'
import { PROJECT_ROOT } from '../helpers/test-server.js'

const document = JSON.parse(await readFile(join(PROJECT_ROOT, 'openapi.json'), 'utf8')) as OpenApi.Document
const validator = createResponseValidator(document)

/** Statuses seen, by operation ("GET /tasks/{id}"), over every app of this file. */
const seen = new Map<string, Set<number>>()

/** app.inject, with each answer checked against the document and counted. */
function checkedClient (t: Test, app: FastifyInstance, validator: ResponseValidator) {
  return async (options: InjectOptions & { method: string; url: string }): Promise<LightMyRequestResponse> => {
    const response = await app.inject(options)
    const answer = { method: options.method, url: options.url, status: response.statusCode, headers: response.headers, body: response.body }
    t.same(validator.check(answer), [], `${options.method} ${options.url.slice(0, 80)} → ${response.statusCode} is as the document says`)
    const key = validator.findOperation(options.method, options.url)?.key
    if (key !== undefined) seen.set(key, (seen.get(key) ?? new Set()).add(response.statusCode))
    return response
  }
}

const json = { 'content-type': 'application/json' }
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('the check refuses what the document does not say', async (t) => {
  const headers = { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'r1' }
  const limits = { 'ratelimit-limit': '5', 'ratelimit-remaining': '4', 'ratelimit-reset': '60', 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '4', 'x-ratelimit-reset': '60' }
  const live = { method: 'GET', url: '/health/live', headers: { ...headers, ...limits }, body: '{"status":"ok"}' }
  t.same(validator.check({ ...live, status: 200 }), [], 'a conforming answer passes')
  t.match(validator.check({ ...live, status: 418 }), [/does not list/], 'an undocumented status')
  t.match(validator.check({ ...live, status: 200, body: '{"status":"fine"}' }), [/body\/status/], 'a body that does not fit')
  t.match(validator.check({ ...live, status: 200, headers: { ...live.headers, 'x-secret': '1' } }), [/x-secret is not documented/])
  t.match(validator.check({ ...live, status: 200, headers: { ...headers } }), [/ratelimit-limit is missing/])
  t.match(validator.check({ ...live, status: 200, headers: { ...live.headers, 'ratelimit-limit': 'many' } }), [/ratelimit-limit: "many"/])
  t.match(validator.check({ ...live, method: 'DELETE', status: 200 }), [/no operation/])
})

t.test('a session through every operation: each answer as documented', async (t) => {
  // Webhooks to a local address that answers nothing; no worker, so no delivery is tried (webhooks-delivery.test.ts does that).
  const { app } = await buildTestApp(t, { BODY_LIMIT: '4096', WEBHOOKS_ALLOW_PRIVATE_URLS: 'true', JOBS_CONCURRENCY: '0' })
  const send = checkedClient(t, app, validator)

  // Operations
  await send({ method: 'GET', url: '/health/live' })
  await send({ method: 'GET', url: '/health/ready' })
  await send({ method: 'GET', url: '/metrics' })

  // Accounts: register, refused twice, log in, refresh, who am I
  const email = 'ada@example.io'
  const password = 'correct horse battery staple'
  const registered = await send({ method: 'POST', url: '/auth/register', payload: { email, password, name: 'Ada' } })
  t.equal(registered.statusCode, 201)
  t.equal((await send({ method: 'POST', url: '/auth/register', payload: { email: 'ADA@example.io', password } })).statusCode, 409)
  t.equal((await send({ method: 'POST', url: '/auth/register', payload: { email, password: 'short' } })).statusCode, 400)
  t.equal((await send({ method: 'POST', url: '/auth/register', headers: json, payload: '{"email":' })).statusCode, 400)
  t.equal((await send({ method: 'POST', url: '/auth/register', headers: { 'content-type': 'text/plain' }, payload: 'ada' })).statusCode, 415)
  t.equal((await send({ method: 'POST', url: '/auth/register', payload: { email, password, name: 'x'.repeat(5000) } })).statusCode, 413)
  t.equal((await send({ method: 'POST', url: '/auth/login', payload: { email, password: 'wrong password' } })).statusCode, 401)
  const login = await send({ method: 'POST', url: '/auth/login', payload: { email, password } })
  t.equal(login.statusCode, 200)
  const { refreshToken } = login.json<{ refreshToken: string }>()
  const refreshed = await send({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } })
  t.equal(refreshed.statusCode, 200)
  t.equal((await send({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } })).statusCode, 401, 'a spent refresh token')
  const { accessToken } = registered.json<{ accessToken: string }>()
  const auth = bearer(accessToken)
  t.equal((await send({ method: 'GET', url: '/auth/me', headers: auth })).statusCode, 200)

  // Tasks: create (and replay, and a reused key), list and page, read, replace, change, complete, delete
  const create = (payload: object, key: string) => send({ method: 'POST', url: '/tasks', headers: { ...auth, 'idempotency-key': key }, payload })
  const created = await create({ title: 'Write report', tags: ['work'] }, 'key-1')
  t.equal(created.statusCode, 201)
  const replayed = await create({ title: 'Write report', tags: ['work'] }, 'key-1')
  t.equal(replayed.headers['idempotent-replayed'], 'true')
  t.equal((await create({ title: 'Another' }, 'key-1')).statusCode, 422)
  t.equal((await create({ title: 'Second', dueAt: '2026-12-01T10:00:00.000Z' }, 'key-2')).statusCode, 201)
  t.equal((await create({ title: '   ' }, 'key-3')).statusCode, 400)
  const page = await send({ method: 'GET', url: '/tasks?limit=1&sort=-createdAt', headers: auth })
  t.match(page.headers.link, /rel="next"/)
  const { nextCursor } = page.json<{ nextCursor: string }>()
  t.equal((await send({ method: 'GET', url: `/tasks?limit=1&cursor=${encodeURIComponent(nextCursor)}`, headers: auth })).statusCode, 200)
  t.equal((await send({ method: 'GET', url: '/tasks?cursor=made-up', headers: auth })).statusCode, 400)
  t.equal((await send({ method: 'GET', url: '/tasks?status=todo&status=done&tag=work&q=report&limit=0', headers: auth })).statusCode, 400)

  const task = created.json<{ id: string }>()
  const url = `/tasks/${task.id}`
  const read = await send({ method: 'GET', url, headers: auth })
  t.equal(read.statusCode, 200)
  t.equal((await send({ method: 'GET', url: '/tasks/00000000-0000-4000-8000-000000000000', headers: auth })).statusCode, 404)
  t.equal((await send({ method: 'GET', url: `/tasks/${'x'.repeat(600)}`, headers: auth })).statusCode, 414)
  t.equal((await send({ method: 'GET', url: '/tasks/%E0%A4%A', headers: auth })).statusCode, 400)
  const etag = read.headers.etag as string
  const replaced = await send({ method: 'PUT', url, headers: { ...auth, 'if-match': etag }, payload: { title: 'Write the report', priority: 'high' } })
  t.equal(replaced.statusCode, 200)
  t.equal((await send({ method: 'PUT', url, headers: { ...auth, 'if-match': etag }, payload: { title: 'Stale' } })).statusCode, 412)
  t.equal((await send({ method: 'PUT', url, headers: { ...auth, 'if-match': 'three' }, payload: { title: 'x' } })).statusCode, 400)
  const changed = await send({ method: 'PATCH', url, headers: { ...auth, 'if-match': replaced.headers.etag as string }, payload: { status: 'in_progress' } })
  t.equal(changed.statusCode, 200)
  t.equal((await send({ method: 'PATCH', url, headers: auth, payload: {} })).statusCode, 400)
  t.equal((await send({ method: 'POST', url: `${url}/done`, headers: { ...auth, 'if-match': 'W/"1"x' } })).statusCode, 400)
  t.equal((await send({ method: 'POST', url: `${url}/done`, headers: { ...auth, 'if-match': etag } })).statusCode, 412)
  t.equal((await send({ method: 'POST', url: `${url}/done`, headers: auth })).statusCode, 200)
  t.equal((await send({ method: 'DELETE', url, headers: { ...auth, 'if-match': 'v4' } })).statusCode, 400)
  t.equal((await send({ method: 'DELETE', url, headers: { ...auth, 'if-match': etag } })).statusCode, 412)
  t.equal((await send({ method: 'DELETE', url, headers: { ...auth, 'content-type': 'text/plain' }, payload: 'now' })).statusCode, 415)
  t.equal((await send({ method: 'DELETE', url, headers: auth })).statusCode, 204)
  t.equal((await send({ method: 'DELETE', url, headers: auth })).statusCode, 404)

  // Personal access tokens: made, listed, used within and outside their scope, refused where only a session may go, revoked
  const minted = await send({ method: 'POST', url: '/auth/tokens', headers: auth, payload: { name: 'export', scopes: ['tasks:read'] } })
  t.equal(minted.statusCode, 201)
  t.equal((await send({ method: 'POST', url: '/auth/tokens', headers: auth, payload: { name: 'x', scopes: ['everything'] } })).statusCode, 400)
  t.equal((await send({ method: 'GET', url: '/auth/tokens', headers: auth })).statusCode, 200)
  const pat = bearer(minted.json<{ token: string }>().token)
  t.equal((await send({ method: 'GET', url: '/tasks', headers: pat })).statusCode, 200, 'within its scope')
  t.equal((await send({ method: 'GET', url: '/auth/me', headers: pat })).statusCode, 200, 'any token says whose it is')
  t.equal((await send({ method: 'POST', url: '/tasks', headers: pat, payload: { title: 'x' } })).statusCode, 403, 'outside its scope')
  t.equal((await send({ method: 'GET', url: '/auth/tokens', headers: pat })).statusCode, 403, 'a session\'s route')
  const tokenUrl = `/auth/tokens/${minted.json<{ id: string }>().id}`
  t.equal((await send({ method: 'DELETE', url: tokenUrl, headers: auth })).statusCode, 204)
  t.equal((await send({ method: 'DELETE', url: tokenUrl, headers: auth })).statusCode, 404)
  t.equal((await send({ method: 'GET', url: '/tasks', headers: pat })).statusCode, 401, 'a revoked token')

  // Webhooks: create (and refused), list, read, change, rotate, the deliveries log, delete; a token without the scope
  const hook = await send({ method: 'POST', url: '/webhooks', headers: auth, payload: { url: 'http://127.0.0.1:9/hook', events: ['task.created'] } })
  t.equal(hook.statusCode, 201)
  t.equal((await send({ method: 'POST', url: '/webhooks', headers: auth, payload: { url: 'http://169.254.169.254/', events: ['task.created'] } })).statusCode, 400)
  t.equal((await send({ method: 'POST', url: '/webhooks', headers: auth, payload: { url: 'http://127.0.0.1:9/hook', events: [] } })).statusCode, 400)
  const hookUrl = `/webhooks/${hook.json<{ id: string }>().id}`
  t.equal((await send({ method: 'GET', url: '/webhooks', headers: auth })).statusCode, 200)
  t.equal((await send({ method: 'GET', url: hookUrl, headers: auth })).statusCode, 200)
  t.equal((await send({ method: 'GET', url: '/webhooks/00000000-0000-4000-8000-000000000000', headers: auth })).statusCode, 404)
  t.equal((await send({ method: 'PATCH', url: hookUrl, headers: auth, payload: { events: ['task.created', 'task.updated'] } })).statusCode, 200)
  t.equal((await send({ method: 'POST', url: `${hookUrl}/rotate-secret`, headers: auth })).statusCode, 200)
  await create({ title: 'Heard by the webhook' }, 'key-4')
  await create({ title: 'Heard by the webhook too' }, 'key-5')
  const deliveries = await send({ method: 'GET', url: `${hookUrl}/deliveries?limit=1`, headers: auth })
  t.equal(deliveries.statusCode, 200)
  t.match(deliveries.headers.link, /rel="next"/)
  t.equal((await send({ method: 'GET', url: `${hookUrl}/deliveries?cursor=made-up`, headers: auth })).statusCode, 400)
  const reader = await send({ method: 'POST', url: '/auth/tokens', headers: auth, payload: { name: 'reader', scopes: ['tasks:read'] } })
  t.equal((await send({ method: 'GET', url: '/webhooks', headers: bearer(reader.json<{ token: string }>().token) })).statusCode, 403, 'a token without the webhooks scope')
  t.equal((await send({ method: 'DELETE', url: hookUrl, headers: auth })).statusCode, 204)

  // Every operation the document secures answers 401 without a token: the default (bearer) is what the routes do.
  for (const key of validator.operations()) {
    const [method = '', template = ''] = key.split(' ')
    const operation = validator.findOperation(method, template.replace('{id}', task.id))?.operation
    if ((operation?.security ?? []).length === 0) continue
    const response = await send({ method, url: template.replace('{id}', task.id), headers: { authorization: 'Bearer not-a-token' } })
    t.equal(response.statusCode, 401, `${key} without a valid token`)
  }

  // The registration's login: the other one was revoked whole when its spent refresh token came back.
  t.equal((await send({ method: 'POST', url: '/auth/logout', payload: { refreshToken: registered.json<{ refreshToken: string }>().refreshToken } })).statusCode, 204)
  t.equal((await send({ method: 'POST', url: '/auth/logout', payload: { refreshToken: 'not-a-token' } })).statusCode, 401)

  // Draining, then closing: readiness says 503 not-ready, then every request gets the 503 shutting-down problem.
  app.startDraining()
  t.equal((await send({ method: 'GET', url: '/health/ready' })).statusCode, 503)
  await app.closeConnections(performance.now())
  t.equal((await send({ method: 'GET', url: '/tasks', headers: auth })).statusCode, 503)
  t.equal((await send({ method: 'POST', url: '/auth/login', payload: { email, password } })).statusCode, 503)
})

t.test('rate limits: 429 as documented, on the credential routes and on every other', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '4', AUTH_RATE_LIMIT_MAX: '2' })
  const send = checkedClient(t, app, validator)
  const payload = { email: 'grace@example.io', password: 'correct horse battery staple' }
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await send({ method: 'POST', url: '/auth/register', payload })).statusCode)
  t.same(statuses, [201, 409, 429], 'the credential routes\' stricter limit')
  for (let i = 0; i < 4; i++) await send({ method: 'GET', url: '/health/live' })
  t.equal((await send({ method: 'GET', url: '/health/live' })).statusCode, 429, 'the limit every route has')
})

t.test('every operation was used, and every main error status answered', async (t) => {
  const unused = validator.operations().filter((key) => !seen.has(key))
  t.same(unused, [], 'no operation left out')
  const statuses = new Set([...seen.values()].flatMap((set) => [...set]))
  for (const status of [200, 201, 204, 400, 401, 403, 404, 409, 412, 413, 414, 415, 422, 429, 503]) t.ok(statuses.has(status), `a ${status} was checked`)
})
