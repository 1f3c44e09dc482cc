import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { registerUser } from '../helpers/auth.js'
import { tasksClient, type TaskBody } from '../helpers/tasks.js'

interface Page { items: TaskBody[]; nextCursor: string | null }
const PROBLEM = 'application/problem+json; charset=utf-8'

t.test('GET /tasks', async (t) => {
  const { app } = await buildTestApp(t)
  const alice = await registerUser(app)
  const bob = await registerUser(app)
  const a = tasksClient(app, alice.accessToken)
  const b = tasksClient(app, bob.accessToken)
  await b.createTask({ title: 'Bob\'s report', tags: ['work'] })

  const statuses = ['todo', 'in_progress', 'done'] as const
  const priorities = ['low', 'medium', 'high'] as const
  const created: TaskBody[] = []
  for (let i = 0; i < 45; i++) {
    created.push(await a.createTask({
      title: i === 3 ? 'Pay 100% of the_bill' : `Task ${i}`,
      description: i === 4 ? 'REPORT due friday' : '',
      status: statuses[i % 3],
      priority: priorities[(i >> 1) % 3],
      dueAt: i % 5 === 0 ? null : new Date(Date.UTC(2027, 0, 1 + (i % 7))).toISOString(),
      tags: [i % 2 === 0 ? 'even' : 'odd', ...(i % 3 === 0 ? ['work'] : [])]
    }))
  }

  const page = async (query: string): Promise<Page & { link: string | undefined }> => {
    const response = await a.list(query)
    t.equal(response.statusCode, 200, `GET /tasks${query}`)
    return { ...response.json<Page>(), link: response.headers.link as string | undefined }
  }

  /** Follows nextCursor to the end; returns every item seen. */
  const walk = async (query: string): Promise<TaskBody[]> => {
    const seen: TaskBody[] = []
    let next: string | null = query
    for (let pages = 0; next !== null && pages < 100; pages++) {
      const current = await page(next)
      seen.push(...current.items)
      next = current.nextCursor === null ? null : `${query}${query === '' ? '?' : '&'}cursor=${encodeURIComponent(current.nextCursor)}`
    }
    return seen
  }

  await t.test('the first page: 20 newest first, a cursor and a Link to the next', async (t) => {
    const first = await page('')
    t.equal(first.items.length, 20)
    // Newest first; tasks made in the same millisecond are ordered by id, descending too.
    const newestFirst = [...created].sort((x, y) => Date.parse(y.createdAt) - Date.parse(x.createdAt) || (x.id < y.id ? 1 : -1))
    t.same(first.items.map((task) => task.id), newestFirst.slice(0, 20).map((task) => task.id))
    t.type(first.nextCursor, 'string')
    t.equal(first.link, `</tasks?cursor=${encodeURIComponent(first.nextCursor ?? '')}>; rel="next"`)
    const last = await page('?limit=100')
    t.equal(last.items.length, 45, 'only Alice\'s tasks')
    t.equal(last.nextCursor, null)
    t.equal(last.link, undefined, 'no Link on the last page')
  })

  await t.test('the Link keeps the query and replaces the cursor', async (t) => {
    const first = await page('?status=todo&limit=3&tag=work')
    t.match(first.link, /^<\/tasks\?status=todo&limit=3&tag=work&cursor=[^>]+>; rel="next"$/)
    const url = /^<([^>]+)>/.exec(first.link ?? '')?.[1] ?? ''
    const second = await page(url.replace('/tasks', ''))
    const third = /^<([^>]+)>/.exec(second.link ?? '')?.[1] ?? ''
    t.equal((third.match(/cursor=/g) ?? []).length, 1, 'one cursor, not two')
  })

  await t.test('paging over 3 pages with an insert in between visits every task once', async (t) => {
    const first = await page('?limit=16')
    const added = await a.createTask({ title: 'Added while paging' })
    const second = await page(`?limit=16&cursor=${encodeURIComponent(first.nextCursor ?? '')}`)
    const third = await page(`?limit=16&cursor=${encodeURIComponent(second.nextCursor ?? '')}`)
    t.equal(third.nextCursor, null)
    const ids = [...first.items, ...second.items, ...third.items].map((task) => task.id)
    t.equal(ids.length, 45)
    t.equal(new Set(ids).size, 45, 'none twice')
    t.same([...ids].sort(), created.map((task) => task.id).sort(), 'none missed')
    t.notOk(ids.includes(added.id), 'the new task is newer than the first page, which was already read')
    await a.delete(added.id)
  })

  const rank = { low: 0, medium: 1, high: 2 }
  const valueOf = (task: TaskBody, key: string): number | null =>
    key === 'priority' ? rank[task.priority] : task[key as 'createdAt' | 'updatedAt' | 'dueAt'] === null ? null : Date.parse(task[key as 'createdAt'])

  for (const sort of ['createdAt', '-createdAt', 'dueAt', '-dueAt', 'priority', '-priority', 'updatedAt', '-updatedAt']) {
    await t.test(`sort=${sort}: in order, ties broken by id, every task once over pages of 7`, async (t) => {
      const key = sort.replace('-', '')
      const descending = sort.startsWith('-')
      const seen = await walk(`?sort=${sort}&limit=7`)
      const expected = [...created].sort((x, y) => {
        const [p, q] = [valueOf(x, key), valueOf(y, key)]
        if (p !== q) {
          if (p === null) return 1
          if (q === null) return -1
          return descending ? q - p : p - q
        }
        return (x.id < y.id ? -1 : 1) * (descending ? -1 : 1)
      })
      t.same(seen.map((task) => task.id), expected.map((task) => task.id))
    })
  }

  await t.test('filters, alone and combined', async (t) => {
    const ids = (tasks: TaskBody[]) => tasks.map((task) => task.id).sort()
    const expect = async (query: string, predicate: (task: TaskBody) => boolean) => {
      const expected = ids(created.filter(predicate))
      t.ok(expected.length > 0 || query.includes('none'), `${query} matches something`)
      t.same(ids(await walk(query)), expected, query)
    }
    await expect('?status=done', (task) => task.status === 'done')
    await expect('?status=done&status=todo', (task) => task.status !== 'in_progress')
    await expect('?priority=high', (task) => task.priority === 'high')
    await expect('?priority=low&priority=high', (task) => task.priority !== 'medium')
    await expect('?tag=work', (task) => task.tags.includes('work'))
    await expect('?tag=work&tag=odd', (task) => task.tags.includes('work') && task.tags.includes('odd'))
    await expect('?q=report', (task) => /report/i.test(task.title + task.description))
    await expect('?q=100%25', (task) => task.title.includes('100%'))
    await expect('?q=the_bill', (task) => task.title.includes('the_bill'))
    await expect('?q=_', (task) => task.title.includes('_'))
    await expect('?dueAfter=2027-01-03T00:00:00Z', (task) => task.dueAt !== null && Date.parse(task.dueAt) > Date.UTC(2027, 0, 3))
    await expect('?dueBefore=2027-01-03T00:00:00Z', (task) => task.dueAt !== null && Date.parse(task.dueAt) < Date.UTC(2027, 0, 3))
    await expect('?status=todo&priority=low&tag=even&dueAfter=2027-01-01T00:00:00Z',
      (task) => task.status === 'todo' && task.priority === 'low' && task.tags.includes('even') && task.dueAt !== null && Date.parse(task.dueAt) > Date.UTC(2027, 0, 1))
    t.same((await page('?tag=none-such')).items, [])
    t.same((await page('?q=Bob')).items, [], 'never another user\'s task')
  })

  await t.test('bad queries are 400 problems', async (t) => {
    const first = await page('?limit=5')
    const cursor = first.nextCursor ?? ''
    const [body = '', signature = ''] = cursor.split('.')
    const tampered = `${Buffer.from(Buffer.from(body, 'base64url').toString().replace(/"i":"[^"]+"/, '"i":"00000000-0000-4000-8000-000000000000"')).toString('base64url')}.${signature}`
    const bobsCursor = (await b.list('?limit=1')).json<Page>().nextCursor
    const bobFirst = await b.createTask()
    t.ok(bobFirst)
    const bobsOtherCursor = (await b.list('?limit=1')).json<Page>().nextCursor ?? ''
    for (const query of [
      '?limit=0', '?limit=101', '?limit=ten', '?status=blocked', '?priority=urgent', '?sort=title', '?sort=-', '?dueBefore=soon',
      '?unknown=1', `?cursor=${encodeURIComponent(tampered)}`, '?cursor=garbage', `?cursor=${encodeURIComponent(cursor)}&sort=priority`,
      `?cursor=${encodeURIComponent(bobsOtherCursor)}`, `?tag=${'t'.repeat(51)}`, '?q='
    ]) {
      const response = await a.list(query)
      t.equal(response.statusCode, 400, query)
      t.equal(response.headers['content-type'], PROBLEM, query)
      if (query.startsWith('?cursor=')) t.match(response.json(), { type: 'https://taskforge.dev/problems/bad-request', detail: /cursor is not valid/ }, query)
    }
    t.equal(bobsCursor, null, 'Bob had one task, so no cursor at first')
    const own = await a.list(`?limit=5&cursor=${encodeURIComponent(cursor)}`)
    t.equal(own.statusCode, 200, 'the untampered cursor still works')
  })
})
