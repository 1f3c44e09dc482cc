/** The superuser's credentials, kept in DATA_DIR/credentials.json (mode 0600). */
import { randomBytes } from 'node:crypto'
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { EmbeddedPostgresError, isErrno } from './errors.js'
import type { Paths } from './paths.js'

const SUPERUSER = 'postgres'

export interface Credentials { user: string; password: string }

export async function loadOrCreateCredentials (paths: Paths, initialised: boolean): Promise<Credentials> {
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
