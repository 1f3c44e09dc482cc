import postgres from 'postgres'
import type { FastifyBaseLogger } from 'fastify'

export type Sql = postgres.Sql
export type TransactionSql = postgres.TransactionSql
/** What repositories query through: the pool, or a transaction of it. */
export type Queryable = Sql | TransactionSql

export interface SqlOptions {
  poolMax: number
  statementTimeoutMs: number
  log: FastifyBaseLogger
}

/** The longest wait, in seconds, before a connection tries again after a failed attempt. */
export const RECONNECT_BACKOFF_MAX_S = 1

/**
 * postgres.js's `backoff`: seconds a connection that failed waits before its
 * next connect attempt. The driver's default grows with a counter the whole
 * pool shares (one step per failed attempt, reset only by a success) up to
 * 10–20 s, and the wait is paid by the next query handed to that connection:
 * the pool gives a query to a closed connection rather than queue it behind a
 * busy one, and connect_timeout starts only after the wait. So after a
 * restart a query could wait 20 s on a server that was back; this is what
 * left requests unanswered in `npm run chaos`. Same curve and jitter, capped:
 * the driver connects only for a query that needs it, so a short wait does
 * not hammer a server that is down.
 */
export function reconnectBackoff (retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, RECONNECT_BACKOFF_MAX_S)
}

/**
 * One postgres.js pool for the process. Columns map to camelCase; the driver's
 * debug mode stays off so query parameters (passwords, token hashes) never
 * reach an error object's enumerable fields or a log line.
 */
export function createSql (url: string, { poolMax, statementTimeoutMs, log }: SqlOptions): Sql {
  return postgres(url, {
    max: poolMax,
    connect_timeout: 5,
    backoff: reconnectBackoff,
    idle_timeout: 60,
    max_lifetime: 60 * 30,
    transform: postgres.camel,
    connection: {
      application_name: 'taskforge',
      statement_timeout: statementTimeoutMs
    },
    onnotice: (notice) => { log.debug({ notice: notice.message }, 'postgres notice') }
  })
}

/** The URL of another database on the same server: `serverUrl` with its path replaced by `database` (credentials and options kept). */
export function databaseUrlFor (serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

/** host:port/database of a URL, without its credentials, for logs. */
export function describeDatabaseUrl (url: string): string {
  const parsed = new URL(url)
  return `${parsed.hostname}:${parsed.port === '' ? '5432' : parsed.port}${parsed.pathname}`
}

/**
 * Resolves when the database answers `select 1` within timeoutMs, rejects
 * otherwise. A pool waiting to connect would hang far longer than a
 * readiness probe may, so the wait is bounded here. The query is left to
 * finish, not cancelled: postgres.js 3.4.9 never gives back to the pool a
 * connection whose start-up query was cancelled (it skips the query and the
 * connection stays "connecting" until max_lifetime), and cancelling a running
 * query opens a connection whose failure is a rejection nobody handles. A
 * stray `select 1` costs nothing.
 */
export async function pingDatabase (sql: Sql, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`no answer within ${timeoutMs} ms`)) }, timeoutMs)
  })
  try {
    // race() handles the query's rejection even when it comes after the time-out.
    await Promise.race([sql`select 1`, timeout])
  } finally {
    clearTimeout(timer)
  }
}
