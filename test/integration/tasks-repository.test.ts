import pino from 'pino'
import t from 'tap'
import { createUsersRepository } from '../../db/auth/users-repository.js'
import { createSql } from '../../db/client.js'
import { createIdempotencyRepository } from '../../db/tasks/idempotency-repository.js'
import { createTasksRepository, type TaskListQuery, type TaskSort } from '../../db/tasks/tasks-repository.js'
import type { Task, TaskFields } from '../../services/tasks/schemas.js'
import { createTestSql } from '../helpers/sql.js'

const defaults: TaskFields = { title: 'Write report', description: '', status: 'todo', priority: 'medium', dueAt: null, tags: [] }

t.test('tasksRepository', async (t) => {
  const sql = await createTestSql(t)
  const users = createUsersRepository(sql)
  const tasks = createTasksRepository(sql)
  const alice = await users.create({ email: 'alice@example.io', passwordHash: 'x', name: null })
  const bob = await users.create({ email: 'bob@example.io', passwordHash: 'x', name: null })

  await t.test('create maps the row to a typed task', async (t) => {
    const due = new Date('2026-12-01T09:30:00.123Z')
    const task = await tasks.create(alice.id, { ...defaults, tags: ['work', 'q4'], dueAt: due })
    t.match(task, { userId: alice.id, title: 'Write report', status: 'todo', priority: 'medium', tags: ['work', 'q4'], version: 1, completedAt: null })
    t.equal(task.dueAt?.toISOString(), due.toISOString(), 'milliseconds survive the round trip')
    t.ok(task.createdAt instanceof Date)
    const done = await tasks.create(alice.id, { ...defaults, status: 'done' })
    t.ok(done.completedAt instanceof Date, 'a task created done is completed')
  })

  await t.test('findForUser sees only the owner\'s task', async (t) => {
    const task = await tasks.create(alice.id, defaults)
    t.same(await tasks.findForUser(alice.id, task.id), task)
    t.equal(await tasks.findForUser(bob.id, task.id), null)
    t.equal(await tasks.findForUser(alice.id, 'nope'), null)
  })

  await t.test('update: partial, versioned, completedAt follows status', async (t) => {
    const task = await tasks.create(alice.id, { ...defaults, tags: ['a'] })
    const renamed = await tasks.update(alice.id, task.id, { title: 'Renamed', dueAt: new Date('2027-01-01T00:00:00Z') })
    t.match(renamed, { title: 'Renamed', tags: ['a'], version: 2, completedAt: null })
    t.ok(renamed.updatedAt >= task.updatedAt)

    const done = await tasks.update(alice.id, task.id, { status: 'done' }, [2])
    t.equal(done.version, 3)
    t.ok(done.completedAt instanceof Date)
    const stillDone = await tasks.update(alice.id, task.id, { priority: 'high' })
    t.same(stillDone.completedAt, done.completedAt, 'completedAt keeps the moment it was first done')
    const reopened = await tasks.update(alice.id, task.id, { status: 'in_progress' })
    t.equal(reopened.completedAt, null)
    const cleared = await tasks.update(alice.id, task.id, { dueAt: null })
    t.equal(cleared.dueAt, null, 'null clears a field; undefined leaves it')
  })

  await t.test('update: a stale version is refused and changes nothing', async (t) => {
    const task = await tasks.create(alice.id, defaults)
    await t.rejects(tasks.update(alice.id, task.id, { title: 'x' }, [7]), { name: 'PreconditionFailedError', kind: 'precondition-failed' })
    t.same(await tasks.findForUser(alice.id, task.id), task)
    await t.rejects(tasks.update(bob.id, task.id, { title: 'x' }), { name: 'NotFoundError', kind: 'not-found' })
    await t.rejects(tasks.update(bob.id, task.id, { title: 'x' }, [1]), { name: 'NotFoundError', kind: 'not-found' }, 'another user\'s task is not found, stale or not')
    await t.rejects(tasks.update(alice.id, 'bad-id', { title: 'x' }), { name: 'NotFoundError', kind: 'not-found' })
  })

  await t.test('delete: owner only, versioned', async (t) => {
    const task = await tasks.create(alice.id, defaults)
    await t.rejects(tasks.delete(bob.id, task.id), { name: 'NotFoundError', kind: 'not-found' })
    await t.rejects(tasks.delete(alice.id, task.id, [2]), { name: 'PreconditionFailedError', kind: 'precondition-failed' })
    await tasks.delete(alice.id, task.id, [3, 1])
    t.equal(await tasks.findForUser(alice.id, task.id), null)
    await t.rejects(tasks.delete(alice.id, task.id), { name: 'NotFoundError', kind: 'not-found' })
  })

  await t.test('deleting a user deletes their tasks', async (t) => {
    const carol = await users.create({ email: 'carol@example.io', passwordHash: 'x', name: null })
    await tasks.create(carol.id, defaults)
    await sql`delete from users where id = ${carol.id}`
    const [row] = await sql`select count(*)::int as n from tasks where user_id = ${carol.id}`
    t.equal(row?.n, 0)
  })
})

t.test('listByUser: keyset paging, sorts and filters', async (t) => {
  const sql = await createTestSql(t)
  const users = createUsersRepository(sql)
  const tasks = createTasksRepository(sql)
  const owner = await users.create({ email: 'owner@example.io', passwordHash: 'x', name: null })
  const other = await users.create({ email: 'other@example.io', passwordHash: 'x', name: null })
  await tasks.create(other.id, { ...defaults, title: 'not mine' })

  // 25 tasks with many ties: 3 priorities, due dates with repeats and nulls, shared created_at.
  const priorities = ['low', 'medium', 'high'] as const
  const statuses = ['todo', 'in_progress', 'done'] as const
  for (let i = 0; i < 25; i++) {
    await tasks.create(owner.id, {
      ...defaults,
      title: i === 7 ? 'Pay 100% of the_bill' : `Task ${i}`,
      description: i === 8 ? 'mentions 100% literally' : '',
      priority: priorities[i % 3] ?? 'medium',
      status: statuses[i % 3] ?? 'todo',
      dueAt: i % 4 === 0 ? null : new Date(Date.UTC(2027, 0, 1 + (i % 5))),
      tags: i % 2 === 0 ? ['even', 'work'] : ['odd']
    })
  }
  await sql`update tasks set created_at = '2026-11-01T00:00:00Z' where user_id = ${owner.id} and title in ('Task 3', 'Task 4', 'Task 5')`

  async function walk (query: Omit<TaskListQuery, 'limit' | 'after'>, limit: number): Promise<Task[]> {
    const seen: Task[] = []
    let after: TaskListQuery['after']
    for (let pages = 0; pages < 100; pages++) {
      const page = await tasks.listByUser(owner.id, { ...query, limit, ...(after === undefined ? {} : { after }) })
      seen.push(...page.items)
      if (page.last === null) return seen
      after = page.last
    }
    throw new Error('paging did not end')
  }

  const all = await sql<Task[]>`select * from tasks where user_id = ${owner.id}`
  const byIdAsc = (a: Task, b: Task) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  const rank = { low: 0, medium: 1, high: 2 }
  const sortValue = (task: Task, key: TaskSort['key']): number | null =>
    key === 'priority' ? rank[task.priority] : task[key]?.getTime() ?? null

  for (const key of ['createdAt', 'updatedAt', 'dueAt', 'priority'] as const) {
    for (const direction of ['asc', 'desc'] as const) {
      await t.test(`sort ${direction === 'desc' ? '-' : ''}${key} visits every task once, in order, ties by id`, async (t) => {
        const seen = await walk({ sort: { key, direction } }, 4)
        const expected = [...all].sort((a, b) => {
          const [x, y] = [sortValue(a, key), sortValue(b, key)]
          if (x !== y) {
            if (x === null) return 1 // no due date: last either way
            if (y === null) return -1
            return direction === 'asc' ? x - y : y - x
          }
          return direction === 'asc' ? byIdAsc(a, b) : byIdAsc(b, a)
        })
        t.same(seen.map((task) => task.id), expected.map((task) => task.id))
      })
    }
  }

  await t.test('a page that ends the list says so', async (t) => {
    const page = await tasks.listByUser(owner.id, { sort: { key: 'createdAt', direction: 'desc' }, limit: 25 })
    t.equal(page.items.length, 25)
    t.equal(page.last, null)
  })

  await t.test('filters, alone and combined', async (t) => {
    const sort: TaskSort = { key: 'createdAt', direction: 'desc' }
    const count = async (query: Omit<TaskListQuery, 'limit' | 'sort'>) => (await tasks.listByUser(owner.id, { ...query, sort, limit: 100 })).items
    t.equal((await count({ statuses: ['done'] })).length, all.filter((task) => task.status === 'done').length)
    t.equal((await count({ statuses: ['done', 'todo'] })).length, all.filter((task) => task.status !== 'in_progress').length)
    t.equal((await count({ priorities: ['high'] })).length, all.filter((task) => task.priority === 'high').length)
    t.equal((await count({ tags: ['even', 'work'] })).length, 13, 'every tag must be present')
    t.equal((await count({ tags: ['even', 'odd'] })).length, 0)
    t.same((await count({ search: '100%' })).map((task) => task.title).sort(), ['Pay 100% of the_bill', 'Task 8'], 'title or description, case-insensitive')
    t.same((await count({ search: 'THE_BILL' })).map((task) => task.title), ['Pay 100% of the_bill'])
    t.equal((await count({ search: 'the_' })).length, 1, '_ is literal')
    t.equal((await count({ search: '%' })).length, 2, '% is literal')
    const dueAfter = new Date(Date.UTC(2027, 0, 3))
    const dueBefore = new Date(Date.UTC(2027, 0, 5))
    const window = await count({ dueAfter, dueBefore })
    t.ok(window.length > 0)
    t.ok(window.every((task) => task.dueAt !== null && task.dueAt > dueAfter && task.dueAt < dueBefore))
    const combined = await count({ statuses: ['todo'], tags: ['even'], priorities: ['low'] })
    t.same(combined.map((task) => task.id).sort(), all.filter((task) => task.status === 'todo' && task.tags.includes('even') && task.priority === 'low').map((task) => task.id).sort())
    t.ok((await count({})).every((task) => task.userId === owner.id), 'never another user\'s task')
  })

  await t.test('paging stays exact while tasks are added', async (t) => {
    const sort: TaskSort = { key: 'createdAt', direction: 'desc' }
    const first = await tasks.listByUser(owner.id, { sort, limit: 10 })
    t.not(first.last, null)
    const added = await tasks.create(owner.id, { ...defaults, title: 'added during paging' })
    const second = await tasks.listByUser(owner.id, { sort, limit: 100, after: first.last ?? undefined })
    const ids = [...first.items, ...second.items].map((task) => task.id)
    t.equal(new Set(ids).size, ids.length, 'no task twice')
    t.same([...ids].sort(), all.map((task) => task.id).sort(), 'every task that existed is visited')
    t.notOk(ids.includes(added.id), 'the newer task sorts before the cursor, on a page already read')
  })
})

t.test('repositories answer domain errors, not PostgreSQL\'s: what services and the job worker see', async (t) => {
  const sql = await createTestSql(t)
  const tasks = createTasksRepository(sql)
  await t.rejects(tasks.create('00000000-0000-4000-8000-000000000000', defaults), { name: 'ConflictError', kind: 'conflict', cause: { code: '23503' } },
    'a task of a user that does not exist breaks a foreign key')
  const idempotencyKeys = createIdempotencyRepository(sql)
  await t.rejects(idempotencyKeys.saveResponse('00000000-0000-4000-8000-000000000000', 'key', 201, 'nul \u0000 in jsonb'), { name: 'BadRequestError', kind: 'bad-request' },
    'text PostgreSQL cannot store')
  const unreachable = createSql('postgres://taskforge@127.0.0.1:1/none', { poolMax: 1, statementTimeoutMs: 1000, log: pino({ level: 'silent' }) })
  t.teardown(() => unreachable.end())
  await t.rejects(createUsersRepository(unreachable).findById('00000000-0000-4000-8000-000000000000'), { name: 'UnavailableError', kind: 'unavailable', cause: { code: 'ECONNREFUSED' } },
    'a database that does not answer')
})
