/**
 * The embedded cluster's two login roles and their passwords, kept in
 * DATA_DIR/credentials.json (mode 0600): the superuser, used only to set the
 * cluster up, and the app's own role, which owns the app's database and is
 * what the app connects as. The superuser stays at the top level of the file,
 * where versions before the app role kept it.
 */
import { randomBytes } from 'node:crypto'
import { chmod, readFile, rename, writeFile } from 'node:fs/promises'
import { EmbeddedPostgresError, isErrno } from './errors.js'
import type { Paths } from './paths.js'

const SUPERUSER = 'postgres'
/** The app's role: NOSUPERUSER NOCREATEDB NOCREATEROLE, owner of the app's database (see app-role.ts). */
export const APP_ROLE = 'taskforge'

export interface Credentials { user: string; password: string }

export interface ClusterCredentials {
  superuser: Credentials
  app: Credentials
}

export async function loadOrCreateCredentials (paths: Paths, initialised: boolean): Promise<ClusterCredentials> {
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
  const superuser: Credentials = { user: SUPERUSER, password: newPassword() }
  const app: Credentials = { user: APP_ROLE, password: newPassword() }
  await writeFile(paths.credentialsFile, serialise(superuser, app), { mode: 0o600, flag: 'wx' })
  return { superuser, app }
}

function newPassword (): string {
  return randomBytes(24).toString('base64url')
}

function serialise (superuser: Credentials, app: Credentials): string {
  return `${JSON.stringify({ ...superuser, app })}\n`
}

async function parseCredentials (paths: Paths, text: string): Promise<ClusterCredentials> {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  const app: unknown = isCredentials(parsed) && 'app' in parsed ? parsed.app : undefined
  if (!isCredentials(parsed) || (app !== undefined && !isCredentials(app))) {
    throw new EmbeddedPostgresError(`${paths.credentialsFile} is not a JSON object with "user" and "password" (and "app" with its own); restore it from a backup.`)
  }
  const superuser = { user: parsed.user, password: parsed.password }
  await chmod(paths.credentialsFile, 0o600) // it holds passwords, whatever mode a copy gave it
  if (isCredentials(app)) return { superuser, app: { user: app.user, password: app.password } }
  // Written by a version that connected as the superuser: add the app role's password,
  // atomically (a crash leaves the old file or the new one).
  const added: Credentials = { user: APP_ROLE, password: newPassword() }
  const temporary = `${paths.credentialsFile}.new`
  await writeFile(temporary, serialise(superuser, added), { mode: 0o600 })
  await chmod(temporary, 0o600) // writeFile's mode applies only to a file it creates
  await rename(temporary, paths.credentialsFile)
  return { superuser, app: added }
}

function isCredentials (value: unknown): value is Credentials {
  return typeof value === 'object' && value !== null && 'user' in value && 'password' in value &&
    typeof value.user === 'string' && typeof value.password === 'string'
}
