import fc from 'fast-check'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { bearer, registerUser } from '../helpers/auth.js'
import { createToken, unknownToken } from '../helpers/tokens.js'
import { badJson, encodeQueryText, fuzzBody, nastyString, operationsOf, validish, type Operation } from '../helpers/fuzz.js'
import { tasksClient } from '../helpers/tasks.js'

// `npm run fuzz` raises FUZZ_RUNS; a failure prints its seed and path, so it replays exactly.
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000)
const SEED = Number(process.env.FUZZ_SEED ?? 20261127)

const headerText = fc.string({ unit: 'grapheme-ascii', maxLength: 300 })

t.test(`every operation of the OpenAPI document, ${RUNS} generated requests`, async (t) => {
  const { app } = await buildTestApp(t, {
    JOBS_CONCURRENCY: '0',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    LOG_LEVEL: 'silent'
  })
  const alice = await registerUser(app)
  const bob = await registerUser(app)
  const own = await tasksClient(app, alice.accessToken).createTask({ title: 'mine', tags: ['a'] })
  const others = await tasksClient(app, bob.accessToken).createTask({ title: 'theirs' })
  const reader = await createToken(app, alice.accessToken, { scopes: ['tasks:read'] })
  const writer = await createToken(app, alice.accessToken, { scopes: ['tasks:write', 'webhooks'] })
  const operations = operationsOf((await app.inject({ method: 'GET', url: '/docs/json' })).json())
  t.ok(operations.length >= 14, `${operations.length} operations`)

  const fingerprint = async () => {
    const [row] = await app.sql`
      select (select count(*) from users)::int as users, (select count(*) from tasks)::int as tasks,
        (select coalesce(sum(version), 0) from tasks)::int as versions,
        (select coalesce(max(updated_at), 'epoch') from tasks) as last_update,
        (select count(*) from idempotency_keys)::int as keys,
        (select count(*) from refresh_token_families where revoked_at is null)::int as live_families,
        (select count(*) from refresh_tokens where spent_at is null)::int as live_tokens,
        (select count(*) from personal_access_tokens where revoked_at is null)::int as live_personal_access_tokens`
    return JSON.stringify(row)
  }

  const idValue = fc.oneof(fc.constant(own.id), fc.constant(others.id), fc.constant(reader.id), fc.uuid(), nastyString.map(encodeQueryText))
  const authorization = fc.oneof(
    { weight: 6, arbitrary: fc.constant(bearer(alice.accessToken)) },
    { weight: 1, arbitrary: fc.constant(bearer(bob.accessToken)) },
    { weight: 1, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: fc.constant(bearer(alice.refreshToken)) },
    { weight: 2, arbitrary: fc.constantFrom(bearer(reader.token), bearer(writer.token)) },
    { weight: 1, arbitrary: fc.constant(bearer(unknownToken())) },
    { weight: 1, arbitrary: headerText.map((text) => ({ authorization: text })) },
    { weight: 1, arbitrary: headerText.map((text) => bearer(text.replace(/\s/g, ''))) }
  )
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant('application/json') },
    { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'application/json; charset=latin1', 'multipart/form-data; boundary=x', '') }
  )
  const queryFor = (operation: Operation) => {
    const query = operation.parameters.filter((parameter) => parameter.in === 'query')
    const entries = fc.array(fc.oneof(
      {
        weight: 4,
        arbitrary: query.length === 0
          ? fc.tuple(headerText, nastyString)
          : fc.constantFrom(...query).chain((parameter) =>
            fc.tuple(fc.constant(parameter.name), fc.oneof(validish(parameter.schema), nastyString)))
      },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom('__proto__', 'constructor', 'extra', 'limit', 'cursor'), nastyString) }
    ), { maxLength: 5 })
    return entries.map((pairs) => pairs.flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [value]).map((item) => `${encodeQueryText(name)}=${encodeQueryText(typeof item === 'string' ? item : JSON.stringify(item))}`)).join('&'))
  }

  const request = fc.constantFrom(...operations).chain((operation) => fc.record({
    operation: fc.constant(operation),
    id: idValue,
    query: queryFor(operation),
    authorization,
    contentType,
    body: fc.oneof(
      { weight: 5, arbitrary: fuzzBody(operation.body).map((value) => value === undefined ? undefined : JSON.stringify(value)) },
      { weight: 1, arbitrary: badJson }
    ),
    ifMatch: fc.option(fc.oneof(fc.constantFrom('"1"', '"2"', '*', 'W/"1"', '"1", "2"'), headerText), { nil: undefined }),
    idempotencyKey: fc.option(headerText, { nil: undefined })
  }))

  let checked = 0
  const statuses = new Map<number, number>()
  await fc.assert(fc.asyncProperty(request, async (generated) => {
    const { operation } = generated
    const url = operation.path.replace('{id}', generated.id) + (generated.query === '' ? '' : `?${generated.query}`)
    const headers: Record<string, string> = { ...generated.authorization }
    if (generated.body !== undefined && generated.contentType !== '') headers['content-type'] = generated.contentType
    if (generated.ifMatch !== undefined) headers['if-match'] = generated.ifMatch
    if (generated.idempotencyKey !== undefined) headers['idempotency-key'] = generated.idempotencyKey
    const before = await fingerprint()
    const response = await app.inject({ method: operation.method as 'GET', url, headers, ...(generated.body === undefined ? {} : { payload: generated.body }) })
    statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
    checked += 1
    const context = `${operation.method} ${url} → ${response.statusCode} ${response.body.slice(0, 300)}`
    if (response.statusCode >= 500) throw new Error(`server error: ${context}`)
    if (response.statusCode >= 400) {
      if (response.headers['content-type'] !== 'application/problem+json; charset=utf-8') throw new Error(`not problem+json: ${context}`)
      const problem = response.json<{ type?: unknown; title?: unknown; status?: unknown }>()
      if (typeof problem.type !== 'string' || typeof problem.title !== 'string' || problem.status !== response.statusCode) throw new Error(`bad problem: ${context}`)
      if (await fingerprint() !== before) throw new Error(`a rejected request changed the database: ${context}`)
    }
  }), { numRuns: RUNS, seed: SEED, endOnFailure: true })

  t.equal(checked, RUNS)
  t.ok([...statuses.keys()].some((status) => status < 300), 'some requests were valid enough to succeed')
  t.ok([...statuses.keys()].filter((status) => status >= 400).length >= 4, `many kinds of rejection (${JSON.stringify(Object.fromEntries(statuses))})`)
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was not polluted')
})
