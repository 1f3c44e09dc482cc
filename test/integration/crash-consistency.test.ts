import { once } from 'node:events'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { createTestDatabase } from '../helpers/database.js'
import { eventually } from '../helpers/jobs.js'
import { LOAD_TEST_ENVIRONMENT, registerOverHttp, startServerProcess } from '../helpers/server-process.js'

const WORKERS = 12

t.test('SIGKILL while clients create and update tasks: every acknowledged write survives, no write is half done', async (t) => {
  const database = await createTestDatabase(t)
  const server = await startServerProcess(t, { ...LOAD_TEST_ENVIRONMENT, DATABASE_URL: database.url })
  const accessToken = await registerOverHttp(server.baseUrl, 'crash@example.io')
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` }

  // Each task's title says how many updates it has had: "w<k>" must come with version k + 1.
  const created = new Set<string>()
  const acknowledged = new Map<string, number>()
  const state = { killed: false }
  // Read through a function: the kill happens while these loops await.
  const running = () => !state.killed
  const worker = async () => {
    while (running()) {
      try {
        const response = await fetch(`${server.baseUrl}/tasks`, { method: 'POST', headers, body: JSON.stringify({ title: 'w0', tags: ['crash'] }) })
        if (response.status !== 201) continue
        const { id } = await response.json() as { id: string }
        created.add(id)
        acknowledged.set(id, 0)
        for (let k = 1; k <= 5 && running(); k++) {
          const update = await fetch(`${server.baseUrl}/tasks/${id}`, { method: 'PATCH', headers, body: JSON.stringify({ title: `w${k}`, status: k % 2 === 0 ? 'done' : 'in_progress' }) })
          if (update.status !== 200) break
          acknowledged.set(id, k)
        }
      } catch {
        // the server is gone: what it acknowledged is checked below
      }
    }
  }
  const load = Promise.all(Array.from({ length: WORKERS }, () => worker()))
  await eventually(async () => created.size > 60 || undefined, 20_000, 'writes to pile up')
  server.child.kill('SIGKILL')
  await once(server.child, 'exit')
  state.killed = true
  await load

  const { app } = await buildTestApp(t, {}, { database })
  const rows = await app.sql<{ id: string; title: string; version: number; status: string; completedAt: Date | null }[]>`
    select id, title, version, status, completed_at from tasks`
  const stored = new Map(rows.map((row) => [row.id, row]))
  t.same([...created].filter((id) => !stored.has(id)), [], `all ${created.size} acknowledged creates are there`)
  const lost = [...acknowledged].filter(([id, k]) => Number((stored.get(id)?.title ?? 'w-1').slice(1)) < k)
  t.same(lost, [], 'no acknowledged update is lost')
  const torn = rows.filter((row) => !/^w\d+$/.test(row.title) || row.version !== Number(row.title.slice(1)) + 1 || (row.status === 'done') !== (row.completedAt !== null))
  t.same(torn, [], 'every row is a whole write: title, version and completedAt agree')
  t.ok(rows.length >= created.size, `${rows.length} rows (some creates may have committed without their answer)`)
})
