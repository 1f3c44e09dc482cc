import postgres from 'postgres'
import { BadRequestError, ConflictError, DomainError, UnavailableError, UnprocessableError } from '../errors.js'

// SQLSTATE classes and codes: https://www.postgresql.org/docs/current/errcodes-appendix.html
const UNIQUE_VIOLATION = '23505'
const FOREIGN_KEY_VIOLATION = '23503'
const CHECK_VIOLATION = '23514'
// Text PostgreSQL cannot store: a NUL in text (character_not_in_repertoire) or a \u0000 escape in jsonb
// (untranslatable_character). The schemas refuse such text first (schemas.ts, Text); this is the second line.
const UNSTORABLE_TEXT_CODES = new Set(['22021', '22P05'])
const TRANSIENT_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300' // too_many_connections
])
// postgres.js reports lost or refused connections with these codes.
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND'
])

/**
 * The database could not be opened or brought up to date for a reason the
 * operator can fix (the embedded server's set-up, a migration): its message
 * says what to do, and start-up prints it alone, without a stack trace.
 */
export class DatabaseSetupError extends Error {}

export function isUniqueViolation (error: unknown, constraint?: string): boolean {
  return error instanceof postgres.PostgresError && error.code === UNIQUE_VIOLATION &&
    (constraint === undefined || error.constraint_name === constraint)
}

/**
 * Turns the PostgreSQL and driver errors we understand into typed domain
 * errors (keeping the original as `cause` for the logs); anything else is
 * returned unchanged and ends up as a 500.
 */
export function toDomainError (error: unknown): unknown {
  if (error instanceof DomainError) return error
  if (error instanceof postgres.PostgresError) {
    const options = { cause: error }
    if (error.code === UNIQUE_VIOLATION) return new ConflictError('A record with the same unique value already exists', options)
    if (error.code === FOREIGN_KEY_VIOLATION) return new ConflictError('The record refers to a record that does not exist', options)
    if (error.code === CHECK_VIOLATION) return new UnprocessableError('The record breaks a rule of the data model', options)
    if (UNSTORABLE_TEXT_CODES.has(error.code)) return new BadRequestError('The request contains a character that cannot be stored, such as NUL (U+0000)', options)
    if (TRANSIENT_CODES.has(error.code) || error.code.startsWith('08')) {
      return new UnavailableError('The database is temporarily unavailable', options)
    }
    return error
  }
  if (error instanceof Error && 'code' in error && typeof error.code === 'string' && CONNECTION_CODES.has(error.code)) {
    return new UnavailableError('The database is temporarily unavailable', { cause: error })
  }
  return error
}

type Repository = Record<string, (...args: never[]) => Promise<unknown>>

/**
 * The repository with each method's PostgreSQL and driver errors turned into
 * domain errors (toDomainError), at the boundary where SQL ends: services and
 * the job worker see kinds of failure (conflict, unavailable, ...), never
 * SQLSTATEs. Errors a method throws itself (NotFoundError, ...) pass as they are.
 */
export function withDomainErrors<R extends Repository> (repository: R): R {
  const mapped: Record<string, unknown> = {}
  const rethrow = (error: unknown): never => { throw toDomainError(error) }
  for (const [name, method] of Object.entries(repository)) {
    // A rejection handler on the method's own promise, not an async wrapper that awaits it: one promise less and no
    // extra turn of the microtask queue on every query a request makes. (The methods are async: they reject, never throw.)
    mapped[name] = (...args: never[]) => method(...args).then(undefined, rethrow)
  }
  return mapped as R
}
