import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { Writable, type Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedPostgres } from '../../db/embedded/index.js'

const holderScript = fileURLToPath(new URL('../fixtures/embedded-holder.ts', import.meta.url))

/** A data dir under a fresh 0755 folder (mkdtemp makes 0700, which the postgres OS user cannot enter). */
async function freshDataDir (t: Test): Promise<string> {
  const parent = await mkdtemp(path.join(tmpdir(), 'taskforge-embedded-'))
  await chmod(parent, 0o755)
  t.teardown(() => rm(parent, { recursive: true, force: true }))
  return path.join(parent, 'data')
}

/** A real logger that keeps what it writes, so tests can read the log. */
function captureLog (): { log: FastifyBaseLogger; messages: () => string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'))
      done()
    }
  })
  const log: FastifyBaseLogger = Fastify({ logger: { level: 'info', stream } }).log
  return { log, messages: () => lines.map((line) => String((JSON.parse(line) as { msg?: unknown }).msg)) }
}

async function start (t: Test, dataDir: string, port?: number): Promise<EmbeddedPostgres> {
  const db = await startEmbeddedPostgres({ dataDir, port, log: captureLog().log })
  t.teardown(() => db.stop())
  return db
}

async function withSql<T> (url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined })
  try {
    return await run(sql)
  } finally {
    await sql.end()
  }
}

async function readPostmasterPid (dataDir: string): Promise<number> {
  const text = await readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8')
  return Number.parseInt(text, 10)
}

/** Running, not merely a zombie: an orphan's new parent (here pid 1) may never reap it. */
async function isRunning (pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (stat === undefined) return false
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
}

async function readCredentials (dataDir: string): Promise<unknown> {
  return JSON.parse(await readFile(path.join(dataDir, 'credentials.json'), 'utf8'))
}

/** Runs the holder fixture and resolves with the URL it prints once its server is up. */
async function startHolder (t: Test, dataDir: string): Promise<{ child: ChildProcessByStdio<null, Readable, null>; url: string }> {
  const child: ChildProcessByStdio<null, Readable, null> = spawn(process.execPath, ['--import', 'tsx', holderScript, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const lines = createInterface({ input: child.stdout })
  const [line] = await Promise.race([
    once(lines, 'line') as Promise<string[]>,
    once(child, 'exit').then(() => { throw new Error('the holder exited before printing its URL') })
  ])
  const printed = JSON.parse(line ?? '') as { url: string }
  return { child, url: printed.url }
}

t.test('first start initialises a cluster on 127.0.0.1 that answers queries', async (t) => {
  const dataDir = await freshDataDir(t)
  const { log, messages } = captureLog()
  const db = await startEmbeddedPostgres({ dataDir, log })
  t.teardown(() => db.stop())

  const url = new URL(db.url)
  t.equal(url.hostname, '127.0.0.1')
  t.equal(url.port, String(db.port))
  t.equal(url.pathname, '/taskforge')
  t.equal(db.dataDir, dataDir)
  const settings = await withSql(db.url, async (sql) => {
    const [one] = await sql<{ one: number }[]>`select 1 as one`
    const [row] = await sql<{ listen: string; sockets: string; encoding: string; database: string }[]>`
      select current_setting('listen_addresses') as listen, current_setting('unix_socket_directories') as sockets,
             current_setting('server_encoding') as encoding, current_database() as database`
    return { one: one?.one, ...row }
  })
  t.same(settings, { one: 1, listen: '127.0.0.1', sockets: '', encoding: 'UTF8', database: 'taskforge' })

  t.equal((await stat(path.join(dataDir, 'credentials.json'))).mode & 0o777, 0o600, 'credentials are private')
  t.match(await readCredentials(dataDir), { user: 'postgres', password: /^[\w-]{32}$/ })
  t.equal(url.password, encodeURIComponent((await readCredentials(dataDir) as { password: string }).password))
  t.equal((await readFile(path.join(dataDir, 'owner.pid'), 'utf8')).trim(), String(process.pid))
  t.ok(messages().some((message) => message.includes('embedded PostgreSQL 18') && message.includes(String(db.port)) && message.includes(dataDir)),
    'logs that it uses embedded PostgreSQL 18, with port and data dir')

  const pid = await readPostmasterPid(dataDir)
  await Promise.all([db.stop(), db.stop()])
  await db.stop() // idempotent
  t.notOk(await isRunning(pid), 'stop() waits for postgres to exit')
  await t.rejects(stat(path.join(dataDir, 'owner.pid')), { code: 'ENOENT' }, 'stop() removes owner.pid')
})

t.test('stop and restart on the same data dir keeps the data and the password', async (t) => {
  const dataDir = await freshDataDir(t)
  const first = await start(t, dataDir)
  await withSql(first.url, async (sql) => {
    await sql`create table notes (body text not null)`
    await sql`insert into notes values ('kept')`
  })
  const pid = await readPostmasterPid(dataDir)
  await first.stop()
  t.notOk(await isRunning(pid), 'stop() waits for postgres to exit')

  const second = await start(t, dataDir)
  t.equal(new URL(second.url).password, new URL(first.url).password, 'same password')
  const rows = await withSql(second.url, (sql) => sql<{ body: string }[]>`select body from notes`)
  t.same(rows.map((row) => row.body), ['kept'])
})

t.test('restart after the app was SIGKILLed stops the orphaned server and goes on', async (t) => {
  const dataDir = await freshDataDir(t)
  const { child, url } = await startHolder(t, dataDir)
  await withSql(url, async (sql) => {
    await sql`create table notes (body text not null)`
    await sql`insert into notes values ('survives')`
  })
  const orphan = await readPostmasterPid(dataDir)
  t.teardown(async () => { if (await isRunning(orphan)) process.kill(orphan, 'SIGINT') })

  const inUse = await startEmbeddedPostgres({ dataDir, log: captureLog().log }).then(() => undefined, (error: unknown) => error)
  t.type(inUse, EmbeddedPostgresError, 'refuses a data dir whose owner is alive')
  t.match(inUse, { message: `DATA_DIR=${dataDir} is in use by another running process pid ${String(child.pid)}` })

  child.kill('SIGKILL')
  await once(child, 'exit')
  t.ok(await isRunning(orphan), 'postgres outlives its killed parent')
  t.equal(await readPostmasterPid(dataDir), orphan, 'and still holds postmaster.pid')

  const db = await start(t, dataDir)
  t.notOk(await isRunning(orphan), 'the orphan was stopped')
  t.not(await readPostmasterPid(dataDir), orphan, 'the new server holds the data dir')
  const rows = await withSql(db.url, (sql) => sql<{ body: string }[]>`select body from notes`)
  t.same(rows.map((row) => row.body), ['survives'])
})

t.test('an early exit reports what postgres logged', async (t) => {
  const dataDir = await freshDataDir(t)
  const blocker: Server = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => { resolve() })))
  const address = blocker.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0

  const error = await startEmbeddedPostgres({ dataDir, port, log: captureLog().log }).then(() => undefined, (error: unknown) => error)
  t.type(error, EmbeddedPostgresError)
  t.match(error, { message: /exited during startup[\s\S]*EMBEDDED_PG_PORT[\s\S]*could not bind IPv4 address "127\.0\.0\.1"/ })
  await t.rejects(stat(path.join(dataDir, 'owner.pid')), { code: 'ENOENT' }, 'no owner.pid left behind')
})

const notRoot = process.getuid?.() !== 0 && 'only meaningful when running as root'
t.test('as root, a data dir the postgres user cannot reach is refused with a fix', { skip: notRoot }, async (t) => {
  const parent = await mkdtemp(path.join(tmpdir(), 'taskforge-embedded-private-')) // 0700
  t.teardown(() => rm(parent, { recursive: true, force: true }))
  const dataDir = path.join(parent, 'data')

  const error = await startEmbeddedPostgres({ dataDir, log: captureLog().log }).then(() => undefined, (error: unknown) => error)
  t.type(error, EmbeddedPostgresError)
  const message = error instanceof Error ? error.message : ''
  t.match(message, `DATA_DIR=${dataDir}`)
  t.match(message, `cannot enter ${parent} (mode 0700`)
  t.match(message, 'chmod o+x')
  t.match(message, 'DATABASE_URL')
  await t.rejects(stat(dataDir), { code: 'ENOENT' }, 'nothing was created')
})
