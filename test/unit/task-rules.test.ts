import t from 'tap'
import { expectedVersions, etagOf } from '../../routes/tasks/preconditions.js'
import { createTaskCursors } from '../../services/tasks/task-cursor.js'
import { hashRequestBody, parseSort, reviveTask, toTaskChanges, toTaskFields } from '../../services/tasks/tasks.js'

t.test('toTaskFields fills defaults and trims the title', async (t) => {
  t.same(toTaskFields({ title: '  Plan  ' }), { title: 'Plan', description: '', status: 'todo', priority: 'medium', dueAt: null, tags: [] })
  const full = toTaskFields({ title: 'x', description: 'd', status: 'done', priority: 'high', dueAt: '2027-01-01T10:00:00+02:00', tags: ['a'] })
  t.same(full, { title: 'x', description: 'd', status: 'done', priority: 'high', dueAt: new Date('2027-01-01T08:00:00Z'), tags: ['a'] })
})

t.test('toTaskChanges keeps only what was sent; null clears dueAt', async (t) => {
  t.same(toTaskChanges({ priority: 'low' }), { priority: 'low' })
  t.same(toTaskChanges({ dueAt: null, title: ' t ' }), { dueAt: null, title: 't' })
  t.same(toTaskChanges({}), {})
})

t.test('parseSort', async (t) => {
  t.same(parseSort(undefined), { key: 'createdAt', direction: 'desc' }, 'newest first by default')
  t.same(parseSort('dueAt'), { key: 'dueAt', direction: 'asc' })
  t.same(parseSort('-priority'), { key: 'priority', direction: 'desc' })
  t.throws(() => parseSort('title'), { name: 'BadRequestError' })
})

t.test('hashRequestBody ignores key order, not values', async (t) => {
  t.same(hashRequestBody({ a: 1, b: { c: [1, 2], d: null } }), hashRequestBody({ b: { d: null, c: [1, 2] }, a: 1 }))
  t.notSame(hashRequestBody({ a: 1 }), hashRequestBody({ a: '1' }))
  t.notSame(hashRequestBody({ tags: [1, 2] }), hashRequestBody({ tags: [2, 1] }))
})

t.test('reviveTask turns stored times back into Dates', async (t) => {
  const task = reviveTask({ id: 'x', dueAt: null, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-02T00:00:00.000Z', completedAt: '2026-01-02T00:00:00.000Z', version: 2 })
  t.same(task.createdAt, new Date('2026-01-01T00:00:00.000Z'))
  t.same(task.completedAt, new Date('2026-01-02T00:00:00.000Z'))
  t.equal(task.dueAt, null)
})

t.test('If-Match parsing', async (t) => {
  t.equal(etagOf({ version: 7 }), '"7"')
  t.equal(expectedVersions(undefined), undefined)
  t.equal(expectedVersions('*'), undefined)
  t.same(expectedVersions('"3"'), [3])
  t.same(expectedVersions('"3", "5"'), [3, 5])
  t.same(expectedVersions('W/"3"'), [], 'weak tags never match')
  t.same(expectedVersions('"abc"'), [], 'tags we never issue never match')
  t.same(expectedVersions('"0"'), [])
  t.same(expectedVersions('"99999999999"'), [], 'beyond any version: no overflow, no match')
  t.throws(() => expectedVersions('3'), { name: 'BadRequestError' })
  t.throws(() => expectedVersions('"3'), { name: 'BadRequestError' })
})

t.test('cursors', async (t) => {
  const cursors = createTaskCursors('secret-'.repeat(8))
  const sort = { key: 'createdAt', direction: 'desc' } as const
  const position = { value: new Date('2026-11-24T14:00:00.123Z'), id: '6f1c7e4a-1b2c-4d3e-8f90-123456789abc' }
  const cursor = cursors.encode('user-a', sort, position)
  t.match(cursor, /^[\w-]+\.[\w-]+$/, 'base64url, opaque')
  t.same(cursors.decode('user-a', sort, cursor), position)

  const due = { key: 'dueAt', direction: 'asc' } as const
  t.same(cursors.decode('user-a', due, cursors.encode('user-a', due, { value: null, id: position.id })), { value: null, id: position.id }, 'tasks without a due date page too')
  const priority = { key: 'priority', direction: 'asc' } as const
  t.same(cursors.decode('user-a', priority, cursors.encode('user-a', priority, { value: 'high', id: position.id })), { value: 'high', id: position.id })

  const invalid = { name: 'BadRequestError' }
  t.throws(() => cursors.decode('user-b', sort, cursor), invalid, 'another user\'s cursor')
  t.throws(() => cursors.decode('user-a', { key: 'createdAt', direction: 'asc' }, cursor), invalid, 'another sort')
  t.throws(() => cursors.decode('user-a', sort, `${cursor}x`), invalid, 'an edited signature')
  t.throws(() => cursors.decode('user-a', sort, `x${cursor}`), invalid, 'an edited body')
  t.throws(() => cursors.decode('user-a', sort, 'garbage'), invalid)
  t.throws(() => cursors.decode('user-a', sort, '.'), invalid)
  t.throws(() => createTaskCursors('another-secret-of-some-length').decode('user-a', sort, cursor), invalid, 'another deployment\'s cursor')
})
