/** The operator-facing error of the embedded PostgreSQL, and helpers to read caught errors. */
import { DatabaseSetupError } from '../errors.js'

/** A problem the operator can fix; the message says what went wrong and what to do. */
export class EmbeddedPostgresError extends DatabaseSetupError {
  override name = 'EmbeddedPostgresError'
}

export function isErrno (error: unknown, code: string): boolean {
  return error instanceof Error && 'code' in error && error.code === code
}

export function errorMessage (error: unknown): string {
  return error instanceof Error ? error.message.trim() : String(error)
}
