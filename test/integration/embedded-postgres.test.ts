import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { Writable, type Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import { buildApp } from '../../app.js'
import { initialiseCluster, newServer, startServer } from '../../db/embedded/cluster.js'
import { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedPostgres } from '../../db/embedded/index.js'
import { pathsFor } from '../../db/embedded/paths.js'
import { findFreePort } from '../../db/embedded/processes.js'
import { defaultMigrationsDirectory, migrate } from '../../db/migrator.js'
import { createPasswordHasher } from '../../services/auth/passwords.js'
import { captureLogs, testConfig } from '../helpers/app.js'
import { bearer, registerUser, type AuthResult } from '../helpers/auth.js'
import { eventually } from '../helpers/jobs.js'
import { tasksClient } from '../helpers/tasks.js'

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

interface CredentialsFile { user: string; password: string; app: { user: string; password: string } }

async function readCredentials (dataDir: string): Promise<CredentialsFile> {
  return JSON.parse(await readFile(path.join(dataDir, 'credentials.json'), 'utf8')) as CredentialsFile
}

/** The whole app with no DATABASE_URL, as `npm start` runs it: on an embedded server in dataDir. Closed when the test ends. */
async function buildEmbeddedApp (t: Test, dataDir: string): Promise<{ app: FastifyInstance; logs: Record<string, unknown>[] }> {
  const { stream, logs } = captureLogs()
  const app = await buildApp(testConfig('', { DATA_DIR: dataDir, JOBS_POLL_INTERVAL_MS: '50' }), { logStream: stream })
  t.teardown(() => app.close())
  return { app, logs }
}

interface RoleRow {
  name: string
  rolsuper: boolean
  rolcreatedb: boolean
  rolcreaterole: boolean
  rolreplication: boolean
  rolbypassrls: boolean
  databaseOwner: string
}

async function currentRole (sql: postgres.Sql): Promise<RoleRow | undefined> {
  const [row] = await sql<RoleRow[]>`
    select current_user as name, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls,
      pg_get_userbyid(d.datdba) as database_owner
    from pg_roles r, pg_database d where r.rolname = current_user and d.datname = current_database()`
  return row
}

const APP_ROLE: RoleRow = { name: 'taskforge', rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false, databaseOwner: 'taskforge' }

/** What the versions before the app role left in DATA_DIR: a cluster whose only role is the superuser, which the app connected as. */
async function createLegacyDataDir (dataDir: string, fill: (sql: postgres.Sql) => Promise<void>): Promise<void> {
  await mkdir(dataDir, { mode: 0o755 })
  const paths = pathsFor(dataDir)
  const superuser = { user: 'postgres', password: randomBytes(24).toString('base64url') }
  await writeFile(paths.credentialsFile, `${JSON.stringify(superuser)}\n`, { mode: 0o600 })
  const port = await findFreePort()
  const { log } = captureLog()
  const server = newServer(paths, port, superuser, process.getuid?.() === 0, () => undefined, log)
  await initialiseCluster(server, paths, log)
  await startServer(server, paths, port, false, () => '')
  try {
    const url = (database: string) => `postgres://postgres:${superuser.password}@127.0.0.1:${port}/${database}`
    await withSql(url('postgres'), (sql) => sql`create database taskforge`)
    await withSql(url('taskforge'), fill)
  } finally {
    await server.stop()
  }
}

/** The migrations up to `last`, in a folder of their own: the schema an older version had. */
async function migrationsUpTo (t: Test, last: string): Promise<string> {
  const directory = await mkdtemp(path.join(tmpdir(), 'taskforge-old-migrations-'))
  t.teardown(() => rm(directory, { recursive: true, force: true }))
  for (const name of await readdir(defaultMigrationsDirectory())) {
    if (name <= `${last}.sql`) await copyFile(path.join(defaultMigrationsDirectory(), name), path.join(directory, name))
  }
  return directory
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
  // Server settings such as the socket folder are for the superuser's eyes only.
  const settings = await withSql(db.adminUrl, async (sql) => {
    const [one] = await sql<{ one: number }[]>`select 1 as one`
    const [row] = await sql<{ listen: string; sockets: string; encoding: string; database: string }[]>`
      select current_setting('listen_addresses') as listen, current_setting('unix_socket_directories') as sockets,
             current_setting('server_encoding') as encoding, current_database() as database`
    return { one: one?.one, ...row }
  })
  t.same(settings, { one: 1, listen: '127.0.0.1', sockets: '', encoding: 'UTF8', database: 'taskforge' })

  t.equal((await stat(path.join(dataDir, 'credentials.json'))).mode & 0o777, 0o600, 'credentials are private')
  const credentials = await readCredentials(dataDir)
  t.match(credentials, { user: 'postgres', password: /^[\w-]{32}$/, app: { user: 'taskforge', password: /^[\w-]{32}$/ } }, 'the superuser\'s and the app role\'s')
  t.equal(url.username, 'taskforge', 'the app connects as its own role')
  t.equal(url.password, encodeURIComponent(credentials.app.password))
  const admin = new URL(db.adminUrl)
  t.same([admin.username, admin.password, admin.port, admin.pathname], ['postgres', encodeURIComponent(credentials.password), url.port, '/taskforge'], 'the superuser is there for setting up')
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

t.test('the app connects as a role that owns its database and nothing more, and runs on it', async (t) => {
  const dataDir = await freshDataDir(t)
  const { app } = await buildEmbeddedApp(t, dataDir)

  t.same(await currentRole(app.sql), APP_ROLE, 'not a superuser, cannot create databases or roles; owns the database')
  await t.rejects(app.sql`create database not_for_the_app`, { code: '42501' }, 'no CREATE DATABASE')
  await t.rejects(app.sql`create role not_for_the_app`, { code: '42501' }, 'no CREATE ROLE')
  await t.rejects(app.sql.unsafe('copy (select 1) to program \'true\''), { code: '42501' }, 'no programs run by the server')
  await t.rejects(app.sql`select pg_read_file('postgresql.conf')`, { code: '42501' }, 'no server files')

  const applied = await app.sql<{ id: string }[]>`select id from schema_migrations order by id`
  const files = (await readdir(defaultMigrationsDirectory())).filter((name) => name.endsWith('.sql'))
  t.equal(applied.length, files.length, 'every migration applied, by that role')

  const user = await registerUser(app)
  const tasks = tasksClient(app, user.accessToken)
  t.equal((await tasks.create({ title: 'On the embedded server' }, { 'idempotency-key': 'once' })).statusCode, 201)
  t.equal((await tasks.list()).json<{ items: unknown[] }>().items.length, 1)
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: user.refreshToken } })
  t.equal(refreshed.statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(refreshed.json<AuthResult>().accessToken) })).statusCode, 200)
  await eventually(async () => {
    const rows = await app.sql`select type from jobs where state = 'done'`
    const done = rows.map((row) => String(row.type))
    return done.includes('welcome-email') && done.includes('purge-expired')
  }, 20_000, 'the welcome email and the purge to run')
})

t.test('a data dir from a version that connected as the superuser is upgraded on start, its data kept', async (t) => {
  const dataDir = await freshDataDir(t)
  const password = 'written before the upgrade'
  const oldMigrations = await migrationsUpTo(t, '0006_job_trace_context')
  await createLegacyDataDir(dataDir, async (sql) => {
    await migrate(sql, { directory: oldMigrations })
    const hash = await createPasswordHasher({ memoryCost: 19_456, timeCost: 2, parallelism: 1 }).hash(password)
    const [user] = await sql<{ id: string }[]>`insert into users (email, password_hash) values ('legacy@example.io', ${hash}) returning id`
    await sql`insert into tasks (user_id, title) values (${user?.id ?? null}, 'Kept through the upgrade')`
    // An operator's own objects go to the role too.
    await sql`create view open_tasks as select * from tasks where status <> 'done'`
    await sql`create function count_tasks () returns bigint language sql as 'select count(*) from tasks'`
  })
  const before = await readCredentials(dataDir)
  t.same(Object.keys(before), ['user', 'password'], 'only the superuser, as older versions wrote it')

  const { app, logs } = await buildEmbeddedApp(t, dataDir)
  t.same(await currentRole(app.sql), APP_ROLE, 'the app now connects as its own role')
  const after = await readCredentials(dataDir)
  t.match(after, { user: 'postgres', password: before.password, app: { user: 'taskforge', password: /^[\w-]{32}$/ } }, 'the role\'s password added beside the superuser\'s')
  t.equal((await stat(path.join(dataDir, 'credentials.json'))).mode & 0o777, 0o600)
  t.ok(logs.some((line) => String(line.msg).startsWith('Created the database role taskforge')))
  t.ok(logs.some((line) => /^Gave the role taskforge ownership of \d+ objects in the database taskforge/.test(String(line.msg))))

  const [foreign] = await app.sql<{ relations: number; types: number; routines: number }[]>`
    select
      (select count(*)::int from pg_class where relnamespace = 'public'::regnamespace and relowner <> current_user::regrole) as relations,
      (select count(*)::int from pg_type where typnamespace = 'public'::regnamespace and typowner <> current_user::regrole) as types,
      (select count(*)::int from pg_proc where pronamespace = 'public'::regnamespace and proowner <> current_user::regrole) as routines`
  t.same(foreign, { relations: 0, types: 0, routines: 0 }, 'every table, index, sequence, view, type and function in it belongs to the role')
  const applied = await app.sql<{ id: string }[]>`select id from schema_migrations where id > '0006' order by id`
  t.ok(applied.length > 0, 'the newer migrations were applied by the role, on tables it was given')

  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'legacy@example.io', password } })
  t.equal(login.statusCode, 200, 'the account made before the upgrade logs in')
  const tasks = tasksClient(app, login.json<AuthResult>().accessToken)
  t.same((await tasks.list()).json<{ items: { title: string }[] }>().items.map((task) => task.title), ['Kept through the upgrade'])
  t.equal((await tasks.create({ title: 'After the upgrade' })).statusCode, 201)
  const [counted] = await app.sql<{ n: string }[]>`select count_tasks() as n`
  t.equal(Number(counted?.n), 2)
})
