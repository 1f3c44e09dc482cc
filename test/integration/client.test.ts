/**
 * The TypeScript client (clients/typescript, from its sources) against a real
 * taskforge in a child process on a database of its own. The refresh under
 * concurrency is in client-refresh.test.ts, the examples in
 * client-examples.test.ts, the packed tarball in client-package.test.ts.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { ApiProblem, TaskforgeClient, type Fetch, type Task, type TaskforgeClientOptions } from '../../clients/typescript/src/index.js'
import { PASSWORD, startClientTestServer } from '../helpers/client-server.js'

const server = await startClientTestServer(t)

/** A client signed in as a new user. */
async function signedIn (options: Partial<TaskforgeClientOptions> = {}): Promise<TaskforgeClient> {
  const email = await server.newUser()
  const client = new TaskforgeClient({ baseUrl: server.baseUrl, ...options })
  await client.signIn({ email, password: PASSWORD })
  return client
}

async function rejection (promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the call to reject')
}

t.test('the client refuses to start without a base URL, and says so', async (t) => {
  t.throws(() => new TaskforgeClient({} as TaskforgeClientOptions), { name: 'TypeError', message: /needs baseUrl, the address of the taskforge API/ })
  t.throws(() => new TaskforgeClient({ baseUrl: ' ' }), { message: /needs baseUrl/ })
  t.throws(() => new TaskforgeClient({ baseUrl: 'tasks.example.com/api' }), { message: /is not an absolute URL/ })
  t.throws(() => new TaskforgeClient({ baseUrl: 'localhost:3000' }), { message: /must be an http or https URL, not localhost:/ })
  t.throws(() => new TaskforgeClient({ baseUrl: server.baseUrl, personalAccessToken: 'tfp_x', session: { refreshToken: 'r' } }), { message: /not both/ })
  t.doesNotThrow(() => new TaskforgeClient({ baseUrl: new URL(server.baseUrl) }))
})

t.test('the whole life of a task through the client', async (t) => {
  const email = await server.newUser()
  const sessions: (string | null)[] = []
  const client = new TaskforgeClient({ baseUrl: server.baseUrl, onSession: (tokens) => { sessions.push(tokens?.refreshToken ?? null) } })

  const signedInAs = await client.signIn({ email, password: PASSWORD })
  t.equal(signedInAs.user.email, email)
  t.same(sessions, [signedInAs.refreshToken], 'the hook got the refresh token to keep')
  t.equal((await client.me()).email, email)

  const created = await client.tasks.create({ title: 'Write report', tags: ['work'], priority: 'high' })
  t.match(created, { title: 'Write report', status: 'todo', priority: 'high', tags: ['work'], version: 1, completedAt: null })
  t.same(await client.tasks.get(created.id), created, 'read back as created')

  const page = await client.tasks.list({ tag: ['work'] })
  t.same(page.items.map((task) => task.id), [created.id])
  t.equal(page.nextCursor, null)

  const updated = await client.tasks.update(created, { title: 'Write the report', status: 'in_progress' }, { ifMatch: true })
  t.match(updated, { title: 'Write the report', status: 'in_progress', version: 2 })
  const replaced = await client.tasks.replace(updated, { title: 'Write the final report' }, { ifMatch: updated.version })
  t.match(replaced, { title: 'Write the final report', priority: 'medium', tags: [], version: 3 }, 'PUT reset what it was not given')
  const done = await client.tasks.complete(replaced.id)
  t.equal(done.status, 'done')
  t.type(done.completedAt, 'string')

  t.equal(await client.tasks.delete(done, { ifMatch: true }), undefined)
  const gone = await rejection(client.tasks.get(done.id))
  t.type(gone, ApiProblem)
  t.match(gone, { status: 404 })

  const refreshToken = signedInAs.refreshToken
  await client.signOut()
  t.same(sessions, [refreshToken, null], 'the hook heard the login end')
  t.equal(client.session, null)
  t.match(await rejection(client.me()), { name: 'ApiProblem', status: 401 }, 'signed out, the client sends no token')
  const refresh = await fetch(`${server.baseUrl}/auth/refresh`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken })
  })
  t.equal(refresh.status, 401, 'sign-out revoked the login on the server')
})

t.test('an error answer rejects with a typed ApiProblem, never a bare Response', async (t) => {
  const client = await signedIn()

  const invalid = await rejection(client.tasks.create({ title: '' }))
  t.type(invalid, ApiProblem)
  t.type(invalid, Error)
  const problem = invalid as ApiProblem
  t.match(problem, {
    name: 'ApiProblem',
    type: 'https://taskforge.dev/problems/validation-error',
    status: 400,
    title: String,
    detail: /title/,
    instance: '/tasks',
    errors: [{ path: '/body/title', message: String }]
  })
  t.match(problem.requestId, /\S/, 'the request id is there to quote')
  t.equal(problem.requestId, problem.headers.get('x-request-id'), 'the same id as the answer\'s X-Request-Id')
  t.match(problem.message, /^400 /)
  t.equal((await client.tasks.list()).items.length, 0, 'and the server made nothing')

  t.match(await rejection(client.tasks.get('00000000-0000-4000-8000-000000000000')), { status: 404, type: /not-found/ })
  t.match(await rejection(client.tasks.list({ cursor: 'made-up' })), { status: 400, detail: /cursor/ })

  const key = 'one-key-two-bodies'
  await client.tasks.create({ title: 'first' }, { idempotencyKey: key })
  t.match(await rejection(client.tasks.create({ title: 'second' }, { idempotencyKey: key })), { status: 422 }, 'the same key with another body')
})

t.test('an answer that is not a problem (a proxy\'s error page) still rejects with an ApiProblem', async (t) => {
  const proxy = createServer((_request, response) => {
    response.writeHead(502, { 'content-type': 'text/html', 'x-request-id': 'from-the-proxy' }).end('<html><body>Bad Gateway</body></html>')
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => proxy.close(() => { resolve() })))
  const client = new TaskforgeClient({ baseUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, retry: { attempts: 1 } })
  const problem = await rejection(client.me())
  t.type(problem, ApiProblem)
  t.match(problem, { type: 'about:blank', status: 502, title: 'Bad Gateway', detail: /Bad Gateway/, requestId: 'from-the-proxy' })
})

t.test('ifMatch sends If-Match from the task\'s version: a stale one answers 412 and changes nothing', async (t) => {
  const client = await signedIn()
  const task = await client.tasks.create({ title: 'Plan the offsite' })
  const renamed = await client.tasks.update(task.id, { title: 'Plan the two-day offsite' })

  const stale = await rejection(client.tasks.update(task, { priority: 'high' }, { ifMatch: true }))
  t.match(stale, { name: 'ApiProblem', status: 412 })
  t.match(await rejection(client.tasks.complete(task, { ifMatch: true })), { status: 412 })
  t.match(await rejection(client.tasks.delete(task.id, { ifMatch: task.version })), { status: 412 })
  t.same(await client.tasks.get(task.id), renamed, 'nothing changed')

  t.match(await client.tasks.update(task, { priority: 'low' }), { priority: 'low', version: 3 }, 'without ifMatch the write goes through')
  t.match(await rejection(client.tasks.update(task.id, { priority: 'high' }, { ifMatch: true })), { name: 'TypeError', message: /pass the task/ },
    'ifMatch: true with only an id is a mistake of the caller, said before anything is sent')
})

t.test('a create whose answer was lost is retried with the same Idempotency-Key and makes one task', async (t) => {
  const keys: (string | null)[] = []
  let answersToLose = 1
  // The network between client and server: the request reaches the server, which creates the task,
  // and the connection breaks before the answer is back.
  const losingFirstAnswer: Fetch = async (request) => {
    if (request.method === 'POST' && new URL(request.url).pathname === '/tasks') keys.push(request.headers.get('idempotency-key'))
    const response = await fetch(request)
    if (request.method === 'POST' && new URL(request.url).pathname === '/tasks' && answersToLose > 0) {
      answersToLose--
      await response.body?.cancel()
      throw new TypeError('fetch failed', { cause: new Error('socket hang up') })
    }
    return response
  }
  const client = await signedIn({ fetch: losingFirstAnswer })

  const task = await client.tasks.create({ title: 'Only once' })
  t.equal(keys.length, 2, 'sent twice')
  t.match(keys[0], /^[0-9a-f-]{36}$/, 'with a generated key')
  t.equal(keys[1], keys[0], 'the retry with the same key')
  const all = await client.tasks.list()
  t.same(all.items.map((listed: Task) => listed.id), [task.id], 'one task, the one the retry answered with')

  await t.test('with retries off, the caller retries with the key it chose: still one task', async (t) => {
    const once = await signedIn({ fetch: losingFirstAnswer, retry: { attempts: 1 } })
    answersToLose = 1
    const key = 'my-retry-key'
    t.match(await rejection(once.tasks.create({ title: 'Mine' }, { idempotencyKey: key })), { name: 'TypeError' }, 'no answer: fetch\'s own error')
    const retried = await once.tasks.create({ title: 'Mine' }, { idempotencyKey: key })
    t.same((await once.tasks.list()).items.map((listed) => listed.id), [retried.id])
  })

  await t.test('two creates without a key of the caller\'s are two tasks', async (t) => {
    const fresh = await signedIn()
    await fresh.tasks.create({ title: 'Twice' })
    await fresh.tasks.create({ title: 'Twice' })
    t.equal((await fresh.tasks.list()).items.length, 2, 'each call gets a key of its own')
  })
})

/**
 * A gateway in front of the server, as a load balancer is: it answers 503 (with Retry-After) to the
 * requests refuse() picks, before they reach the server, and passes the others on. Resolves with its URL.
 */
async function gateway (t: Test, refuse: (method: string, path: string) => string | undefined): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = []
  const proxy = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const method = request.method ?? 'GET'
      const path = request.url ?? '/'
      seen.push(`${method} ${path}`)
      const retryAfter = refuse(method, path)
      if (retryAfter !== undefined) {
        response.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': retryAfter })
          .end(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503 }))
        return
      }
      const headers = Object.entries(request.headers).flatMap(([name, value]) => typeof value === 'string' && name !== 'host' ? [[name, value] as [string, string]] : [])
      fetch(`${server.baseUrl}${path}`, { method, headers, ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }) }).then(async (answer) => {
        response.writeHead(answer.status, Object.fromEntries(answer.headers)).end(Buffer.from(await answer.arrayBuffer()))
      }, () => response.destroy())
    })
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => proxy.close(() => { resolve() })))
  return { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, seen }
}

t.test('reads and creates are retried after a 503; other writes, and waits longer than maxDelayMs, are not', async (t) => {
  const email = await server.newUser()
  const refusedOnce = new Set<string>()
  const { url, seen } = await gateway(t, (method, path) => {
    if (path === '/auth/login' || refusedOnce.has(`${method} ${path}`)) return undefined
    refusedOnce.add(`${method} ${path}`)
    return path.startsWith('/tasks?q=') ? '120' : '0'
  })
  const client = new TaskforgeClient({ baseUrl: url })
  await client.signIn({ email, password: PASSWORD })

  t.equal((await client.me()).email, email, 'a read, answered on its second try')
  const task = await client.tasks.create({ title: 'Through the gateway' })
  t.equal((await client.tasks.list()).items.length, 1, 'a create, answered on its second try: one task')
  t.match(await rejection(client.tasks.update(task, { title: 'Renamed' })), { name: 'ApiProblem', status: 503 }, 'a PATCH is not retried')
  t.match(await rejection(client.tasks.list({ q: 'x' })), { status: 503 }, 'Retry-After: 120 is longer than the client waits')
  t.same(seen.filter((request) => request !== 'POST /auth/login'), [
    'GET /auth/me', 'GET /auth/me', 'POST /tasks', 'POST /tasks', 'GET /tasks', 'GET /tasks', `PATCH /tasks/${task.id}`, 'GET /tasks?q=x'
  ])
  t.equal((await client.tasks.get(task.id)).title, 'Through the gateway', 'the refused PATCH changed nothing')
})

t.test('the iterator visits every task exactly once, with the same filters, while tasks are added', async (t) => {
  const client = await signedIn()
  const before: string[] = []
  for (let index = 0; index < 23; index++) {
    const task = await client.tasks.create({ title: `task ${index}`, tags: index % 2 === 0 ? ['even'] : ['odd'] })
    before.push(task.id)
  }
  // The tasks that match the filter, kept up to date as the test adds some.
  const matching = before.filter((_id, index) => index % 2 === 0)

  for (const sort of ['createdAt', '-createdAt'] as const) {
    const atStart = [...matching]
    const added: string[] = []
    const seen: string[] = []
    for await (const page of client.tasks.pages({ tag: ['even'], sort, limit: 5 })) {
      seen.push(...page.items.map((task) => task.id))
      // A task that matches and one that does not, added between every two pages.
      added.push((await client.tasks.create({ title: `added ${sort} ${seen.length}`, tags: ['even'] })).id)
      await client.tasks.create({ title: 'not matching', tags: ['odd'] })
    }
    matching.push(...added)
    t.equal(new Set(seen).size, seen.length, `${sort}: no task twice`)
    t.ok(atStart.every((id) => seen.includes(id)), `${sort}: every task there at the start`)
    t.ok(seen.every((id) => atStart.includes(id) || added.includes(id)), `${sort}: only tasks that match the filter`)
    if (sort === 'createdAt') {
      t.same(seen.slice(atStart.length), added.slice(0, seen.length - atStart.length), 'ascending: the tasks added behind the cursor come too')
    } else {
      t.equal(seen.length, atStart.length, 'descending: the tasks added before the cursor do not')
    }
  }

  const titles: string[] = []
  for await (const task of client.tasks.all({ q: 'task 1', limit: 2 })) titles.push(task.title)
  t.same(titles.sort(), ['task 1', 'task 10', 'task 11', 'task 12', 'task 13', 'task 14', 'task 15', 'task 16', 'task 17', 'task 18', 'task 19'],
    'all() gives the tasks of every page')
})

t.test('a client given a personal access token sends it as the bearer and never refreshes', async (t) => {
  const owner = await signedIn()
  const made = await owner.tokens.create({ name: 'client test', scopes: ['tasks:write'] })
  t.match(made, { name: 'client test', scopes: ['tasks:write'], expiresAt: null, lastUsedAt: null, token: /^tfp_[\w-]{43}$/ })
  const sent: { path: string; authorization: string | null }[] = []
  const recording: Fetch = (request) => {
    sent.push({ path: new URL(request.url).pathname, authorization: request.headers.get('authorization') })
    return fetch(request)
  }
  const refreshesBefore = await server.metric('http_requests_total', { route: '/auth/refresh' })
  const client = new TaskforgeClient({ baseUrl: server.baseUrl, personalAccessToken: made.token, fetch: recording })

  t.equal((await client.me()).id, (await owner.me()).id, 'the token acts as its owner')
  const task = await client.tasks.create({ title: 'By token' })
  t.equal((await owner.tasks.get(task.id)).title, 'By token')
  t.same(sent, [{ path: '/auth/me', authorization: `Bearer ${made.token}` }, { path: '/tasks', authorization: `Bearer ${made.token}` }],
    'each request with the token')
  t.equal(client.session, null, 'a personal access token is no login')

  const refusedTokens = await rejection(client.tokens.list())
  t.type(refusedTokens, ApiProblem)
  t.match(refusedTokens, { status: 403, type: 'https://taskforge.dev/problems/insufficient-scope' }, 'a token cannot manage tokens')
  t.same((await owner.tokens.list()).map((listed) => listed.id), [made.id], 'the login can')

  await owner.tokens.revoke(made)
  const refused = await rejection(client.me())
  t.type(refused, ApiProblem)
  t.match(refused, { status: 401, detail: /revoked/ })
  t.equal(sent.filter((request) => request.path === '/auth/me').length, 2, 'refused once, not retried')
  t.equal(await server.metric('http_requests_total', { route: '/auth/refresh' }), refreshesBefore, 'the server saw no refresh')
})
