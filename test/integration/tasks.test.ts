import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { loginUser, registerUser } from '../helpers/auth.js'
import { tasksClient, type TaskBody } from '../helpers/tasks.js'

const PROBLEM = 'application/problem+json; charset=utf-8'
const TASK_KEYS = ['completedAt', 'createdAt', 'description', 'dueAt', 'id', 'priority', 'status', 'tags', 'title', 'updatedAt', 'version']

t.test('the task resource', async (t) => {
  const { app, logs } = await buildTestApp(t)
  const alice = await registerUser(app)
  const bob = await registerUser(app)
  const a = tasksClient(app, alice.accessToken)
  const b = tasksClient(app, bob.accessToken)
  const countTasks = async () => (await app.sql`select count(*)::int as n from tasks`)[0]?.n as number

  await t.test('POST /tasks: 201, Location, ETag, defaults, trimmed title', async (t) => {
    const response = await a.create({ title: '  Write report  ', tags: ['work'] })
    t.equal(response.statusCode, 201)
    const task = response.json<TaskBody>()
    t.same(Object.keys(task).sort(), TASK_KEYS, 'exactly the Task fields (no user id)')
    t.match(task, { title: 'Write report', description: '', status: 'todo', priority: 'medium', dueAt: null, tags: ['work'], completedAt: null, version: 1 })
    t.match(task.id, /^[0-9a-f-]{36}$/)
    t.equal(response.headers.location, `/tasks/${task.id}`)
    t.equal(response.headers.etag, '"1"')
    t.match(task.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    t.equal(task.createdAt, task.updatedAt)
    t.ok(logs.some((line) => line.msg === 'task created' && line.taskId === task.id && line.userId === alice.user.id && line.level === 30))
  })

  await t.test('POST /tasks: all fields, and done means completed', async (t) => {
    const task = (await a.create({ title: 'Ship', description: 'v1', status: 'done', priority: 'high', dueAt: '2026-12-24T18:00:00+01:00', tags: ['a', 'b'] })).json<TaskBody>()
    t.match(task, { title: 'Ship', description: 'v1', status: 'done', priority: 'high', dueAt: '2026-12-24T17:00:00.000Z', tags: ['a', 'b'] })
    t.type(task.completedAt, 'string')
  })

  await t.test('POST /tasks: bad input is a 400 problem and creates nothing', async (t) => {
    const before = await countTasks()
    const cases: [string, unknown, string][] = [
      ['no title', { description: 'x' }, '/body/title'],
      ['blank title', { title: '   ' }, '/body/title'],
      ['201-character title', { title: 't'.repeat(201) }, '/body/title'],
      ['title of another type', { title: 42 }, '/body/title'],
      ['description over 10,000', { title: 'x', description: 'd'.repeat(10_001) }, '/body/description'],
      ['unknown status', { title: 'x', status: 'blocked' }, '/body/status'],
      ['unknown priority', { title: 'x', priority: 'urgent' }, '/body/priority'],
      ['dueAt not a time', { title: 'x', dueAt: 'tomorrow' }, '/body/dueAt'],
      ['dueAt without a zone', { title: 'x', dueAt: '2026-12-24T18:00:00' }, '/body/dueAt'],
      ['21 tags', { title: 'x', tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, '/body/tags'],
      ['repeated tags', { title: 'x', tags: ['a', 'a'] }, '/body/tags'],
      ['an empty tag', { title: 'x', tags: [''] }, '/body/tags/0'],
      ['a 51-character tag', { title: 'x', tags: ['t'.repeat(51)] }, '/body/tags/0'],
      ['userId in the body', { title: 'x', userId: bob.user.id }, '/body/userId'],
      ['id in the body', { title: 'x', id: '00000000-0000-4000-8000-000000000000' }, '/body/id'],
      ['version in the body', { title: 'x', version: 9 }, '/body/version'],
      ['createdAt in the body', { title: 'x', createdAt: '2020-01-01T00:00:00Z' }, '/body/createdAt'],
      ['an array', [{ title: 'x' }], '/body']
    ]
    for (const [name, payload, path] of cases) {
      const response = await a.create(payload as Record<string, unknown>)
      t.equal(response.statusCode, 400, name)
      t.equal(response.headers['content-type'], PROBLEM, name)
      t.match(response.json(), { type: 'https://taskforge.dev/problems/validation-error', errors: [{ path }] }, name)
    }
    t.equal(await countTasks(), before)
    t.equal((await a.create({ title: 't'.repeat(200), description: 'd'.repeat(10_000), tags: Array.from({ length: 20 }, (_, i) => `t${i}`) })).statusCode, 201, 'the limits themselves are fine')
  })

  await t.test('GET /tasks/:id: 200 with ETag; another user\'s, a deleted and a malformed id are all 404', async (t) => {
    const task = await a.createTask({ title: 'Mine' })
    const response = await a.get(task.id)
    t.equal(response.statusCode, 200)
    t.same(response.json(), task)
    t.equal(response.headers.etag, '"1"')

    const deleted = await a.createTask()
    t.equal((await a.delete(deleted.id)).statusCode, 204)
    for (const [name, response] of [['another user\'s', await b.get(task.id)], ['deleted', await a.get(deleted.id)], ['malformed id', await a.get('not-a-uuid')], ['unknown id', await a.get('00000000-0000-4000-8000-000000000000')]] as const) {
      t.equal(response.statusCode, 404, name)
      t.equal(response.headers['content-type'], PROBLEM, name)
      t.match(response.json(), { type: 'https://taskforge.dev/problems/not-found', detail: 'Task not found' }, name)
    }
  })

  await t.test('PUT /tasks/:id: full replace, omitted optional fields back to defaults', async (t) => {
    const task = await a.createTask({ title: 'Full', description: 'keep?', status: 'done', priority: 'high', dueAt: '2027-01-01T00:00:00Z', tags: ['x'] })
    const response = await a.put(task.id, { title: ' Replaced ' })
    t.equal(response.statusCode, 200)
    const replaced = response.json<TaskBody>()
    t.match(replaced, { id: task.id, title: 'Replaced', description: '', status: 'todo', priority: 'medium', dueAt: null, tags: [], completedAt: null, version: 2, createdAt: task.createdAt })
    t.equal(response.headers.etag, '"2"')
    t.equal((await a.put(task.id, { description: 'no title' })).statusCode, 400, 'title is required')
    t.equal((await a.put(task.id, { title: 'x', extra: 1 })).statusCode, 400)
  })

  await t.test('PATCH /tasks/:id: only the given fields change', async (t) => {
    const task = await a.createTask({ title: 'Patch me', description: 'stays', tags: ['keep'], dueAt: '2027-01-01T00:00:00Z' })
    const response = await a.patch(task.id, { priority: 'low' })
    t.equal(response.statusCode, 200)
    t.match(response.json(), { title: 'Patch me', description: 'stays', tags: ['keep'], priority: 'low', dueAt: '2027-01-01T00:00:00.000Z', version: 2 })
    t.equal(response.headers.etag, '"2"')
    t.match((await a.patch(task.id, { dueAt: null })).json(), { dueAt: null, version: 3 }, 'null clears dueAt')
    t.match((await a.patch(task.id, { status: 'done' })).json(), { status: 'done', completedAt: String, version: 4 })
    t.match((await a.patch(task.id, { status: 'in_progress' })).json(), { status: 'in_progress', completedAt: null, version: 5 }, 'leaving done clears completedAt')
    const empty = await a.patch(task.id, {})
    t.equal(empty.statusCode, 400, 'an empty patch is a 400')
    t.equal(empty.headers['content-type'], PROBLEM)
    t.equal((await a.patch(task.id, { title: '' })).statusCode, 400)
    t.equal((await a.patch(task.id, { completedAt: null })).statusCode, 400, 'completedAt is not writable')
    t.equal((await a.get(task.id)).json<TaskBody>().version, 5, 'rejected patches changed nothing')
  })

  await t.test('POST /tasks/:id/done', async (t) => {
    const task = await a.createTask()
    const response = await a.done(task.id)
    t.equal(response.statusCode, 200)
    const done = response.json<TaskBody>()
    t.match(done, { status: 'done', version: 2 })
    t.type(done.completedAt, 'string')
    t.equal(response.headers.etag, '"2"')
    const again = (await a.done(task.id)).json<TaskBody>()
    t.equal(again.completedAt, done.completedAt, 'completedAt keeps the first completion')
    t.ok(logs.some((line) => line.msg === 'task completed' && line.taskId === task.id))
  })

  await t.test('DELETE /tasks/:id', async (t) => {
    const task = await a.createTask()
    const response = await a.delete(task.id)
    t.equal(response.statusCode, 204)
    t.equal(response.body, '')
    t.equal((await a.delete(task.id)).statusCode, 404)
    t.equal((await a.get(task.id)).statusCode, 404)
    t.ok(logs.some((line) => line.msg === 'task deleted' && line.taskId === task.id && line.level === 30))
  })

  await t.test('another user\'s task is 404 for every method, and stays as it was', async (t) => {
    const task = await a.createTask({ title: 'Private' })
    const attempts = {
      get: await b.get(task.id),
      put: await b.put(task.id, { title: 'Mine now' }),
      patch: await b.patch(task.id, { title: 'Mine now' }),
      done: await b.done(task.id),
      delete: await b.delete(task.id),
      'put with If-Match': await b.put(task.id, { title: 'x' }, { 'if-match': '"1"' }),
      'delete with a stale If-Match': await b.delete(task.id, { 'if-match': '"7"' })
    }
    for (const [method, response] of Object.entries(attempts)) {
      t.equal(response.statusCode, 404, method)
      t.equal(response.headers['content-type'], PROBLEM, method)
    }
    t.same((await a.get(task.id)).json(), task)
    t.notOk((await b.list()).json<{ items: TaskBody[] }>().items.some((item) => item.id === task.id), 'nor is it listed')
  })

  await t.test('If-Match', async (t) => {
    const task = await a.createTask({ title: 'Versioned' })
    const stale = { 'if-match': '"2"' }
    for (const [method, response] of Object.entries({
      put: await a.put(task.id, { title: 'x' }, stale),
      patch: await a.patch(task.id, { title: 'x' }, stale),
      done: await a.done(task.id, stale),
      delete: await a.delete(task.id, stale),
      'a weak tag': await a.patch(task.id, { title: 'x' }, { 'if-match': 'W/"1"' }),
      'a tag we never issue': await a.patch(task.id, { title: 'x' }, { 'if-match': '"abc"' })
    })) {
      t.equal(response.statusCode, 412, method)
      t.equal(response.headers['content-type'], PROBLEM, method)
      t.equal(response.json().type, 'https://taskforge.dev/problems/precondition-failed', method)
    }
    t.same((await a.get(task.id)).json(), task, 'stale writes changed nothing')

    t.equal((await a.patch(task.id, { title: 'x' }, { 'if-match': 'garbage' })).statusCode, 400, 'an unparseable If-Match is a 400')
    const current = await a.patch(task.id, { title: 'v2' }, { 'if-match': '"1"' })
    t.equal(current.statusCode, 200)
    t.equal(current.headers.etag, '"2"')
    t.equal((await a.put(task.id, { title: 'v3' }, { 'if-match': '"9", "2"' })).statusCode, 200, 'any tag of a list may match')
    t.equal((await a.done(task.id, { 'if-match': '*' })).statusCode, 200, '* matches any version')
    t.equal((await a.delete(task.id, { 'if-match': '"4"' })).statusCode, 204)
  })

  await t.test('every task route needs a valid access token', async (t) => {
    const task = await a.createTask()
    const anonymous = [
      await app.inject({ method: 'GET', url: '/tasks' }),
      await app.inject({ method: 'POST', url: '/tasks', payload: { title: 'x' } }),
      await app.inject({ method: 'GET', url: `/tasks/${task.id}` }),
      await app.inject({ method: 'PUT', url: `/tasks/${task.id}`, payload: { title: 'x' } }),
      await app.inject({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { title: 'x' } }),
      await app.inject({ method: 'POST', url: `/tasks/${task.id}/done` }),
      await app.inject({ method: 'DELETE', url: `/tasks/${task.id}` }),
      await app.inject({ method: 'GET', url: '/tasks', headers: { authorization: 'Bearer nope' } })
    ]
    for (const response of anonymous) {
      t.equal(response.statusCode, 401)
      t.match(response.headers['www-authenticate'], /^Bearer/)
      t.equal(response.headers['content-type'], PROBLEM)
    }
    t.same((await a.get(task.id)).json(), task)
  })
})

t.test('Idempotency-Key on POST /tasks', async (t) => {
  let now = Date.now()
  const { app } = await buildTestApp(t, {}, { clock: () => now })
  const alice = await registerUser(app)
  const bob = await registerUser(app)
  const a = tasksClient(app, alice.accessToken)
  const b = tasksClient(app, bob.accessToken)
  const tasksOf = async (userId: string) => (await app.sql`select count(*)::int as n from tasks where user_id = ${userId}`)[0]?.n as number

  await t.test('a retry with the same key and body gets the first answer and creates nothing', async (t) => {
    const first = await a.create({ title: 'Once', tags: ['x'] }, { 'idempotency-key': 'key-1' })
    t.equal(first.statusCode, 201)
    await a.patch(first.json<TaskBody>().id, { title: 'Changed since' })
    const retry = await a.create({ tags: ['x'], title: 'Once' }, { 'idempotency-key': 'key-1' })
    t.equal(retry.statusCode, 201)
    t.same(retry.json(), first.json(), 'the same body, as first answered')
    t.equal(retry.headers.location, first.headers.location)
    t.equal(retry.headers.etag, first.headers.etag)
    t.equal(retry.headers['idempotent-replayed'], 'true')
    t.equal(await tasksOf(alice.user.id), 1)
  })

  await t.test('the same key with another body is 422 and creates nothing', async (t) => {
    const response = await a.create({ title: 'Something else' }, { 'idempotency-key': 'key-1' })
    t.equal(response.statusCode, 422)
    t.equal(response.headers['content-type'], PROBLEM)
    t.equal(response.json().type, 'https://taskforge.dev/problems/unprocessable-content')
    t.equal(await tasksOf(alice.user.id), 1)
  })

  await t.test('keys are per user', async (t) => {
    const response = await b.create({ title: 'Once', tags: ['x'] }, { 'idempotency-key': 'key-1' })
    t.equal(response.statusCode, 201)
    t.not(response.headers['idempotent-replayed'], 'true')
    t.equal(await tasksOf(bob.user.id), 1)
  })

  await t.test('concurrent first attempts with one key create one task', async (t) => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => a.create({ title: 'Racing' }, { 'idempotency-key': 'race' })))
    t.same(answers.map((response) => response.statusCode), [201, 201, 201, 201, 201, 201])
    t.equal(new Set(answers.map((response) => response.json<TaskBody>().id)).size, 1, 'all answers name one task')
    const [row] = await app.sql`select count(*)::int as n from tasks where title = 'Racing'`
    t.equal(row?.n, 1)
  })

  await t.test('after 24 hours the key is new again', async (t) => {
    const first = (await a.create({ title: 'Daily' }, { 'idempotency-key': 'daily' })).json<TaskBody>()
    now += 24 * 3600 * 1000 + 1000
    const tomorrow = tasksClient(app, (await loginUser(app, alice.user.email, alice.password)).accessToken)
    const later = await tomorrow.create({ title: 'Daily' }, { 'idempotency-key': 'daily' })
    t.equal(later.statusCode, 201)
    t.not(later.json<TaskBody>().id, first.id)
    t.not(later.headers['idempotent-replayed'], 'true')
    const [row] = await app.sql`select count(*)::int as n from idempotency_keys where user_id = ${alice.user.id} and expires_at <= ${new Date(now)}`
    t.equal(row?.n, 0, 'expired keys were purged')
  })

  await t.test('a key must be 1 to 255 characters', async (t) => {
    const client = tasksClient(app, (await loginUser(app, alice.user.email, alice.password)).accessToken)
    t.equal((await client.create({ title: 'x' }, { 'idempotency-key': 'k'.repeat(256) })).statusCode, 400)
    t.equal((await client.create({ title: 'x' }, { 'idempotency-key': 'k'.repeat(255) })).statusCode, 201)
  })

  await t.test('a rejected body does not spend the key', async (t) => {
    const client = tasksClient(app, (await loginUser(app, alice.user.email, alice.password)).accessToken)
    t.equal((await client.create({ title: '' }, { 'idempotency-key': 'fresh' })).statusCode, 400)
    t.equal((await client.create({ title: 'Valid' }, { 'idempotency-key': 'fresh' })).statusCode, 201)
  })
})

t.test('two PATCHes racing with the same If-Match: exactly one 200 and one 412, round after round', async (t) => {
  const { app } = await buildTestApp(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const alice = await registerUser(app)
  const a = tasksClient(app, alice.accessToken)
  const patch = (id: string, title: string) => fetch(`${baseUrl}/tasks/${id}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${alice.accessToken}`, 'content-type': 'application/json', 'if-match': '"1"' },
    body: JSON.stringify({ title })
  })

  for (let round = 1; round <= 10; round++) {
    const task = await a.createTask({ title: `Contested ${round}` })
    // Both on the wire at once, over two connections of a real server: neither waits for the other's answer.
    const answers = await Promise.all([patch(task.id, `left ${round}`), patch(task.id, `right ${round}`)])
    const statuses = answers.map((response) => response.status)
    t.same([...statuses].sort(), [200, 412], `round ${round}: one 200 and one 412 (${statuses.join(', ')})`)
    const winner = answers.find((response) => response.status === 200)
    const loser = answers.find((response) => response.status === 412)
    if (winner === undefined || loser === undefined) continue
    const written = await winner.json() as TaskBody
    t.equal(winner.headers.get('etag'), '"2"', `round ${round}: the winner's ETag`)
    t.equal(loser.headers.get('content-type'), PROBLEM, `round ${round}: the loser is told why`)
    t.equal((await loser.json() as { type: string }).type, 'https://taskforge.dev/problems/precondition-failed')
    const [row] = await app.sql`select title, version from tasks where id = ${task.id}`
    t.same(row, { title: written.title, version: 2 }, `round ${round}: the winner's write alone is stored, version 2`)
  }
})
