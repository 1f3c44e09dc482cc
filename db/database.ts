import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import { createSql, describeDatabaseUrl, type Sql } from './client.js'
import { loadEmbeddedPostgres } from './embedded/load.js'

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
      close: () => sql.end({ timeout: 5 })
    }
  }

  const { startEmbeddedPostgres } = await loadEmbeddedPostgres()
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPort, log })
  const sql = createSql(embedded.url, sqlOptions)
  return {
    sql,
    description: `embedded PostgreSQL at ${describeDatabaseUrl(embedded.url)}, data in ${embedded.dataDir} (no DATABASE_URL set)`,
    close: async () => {
      await sql.end({ timeout: 5 })
      await embedded.stop()
    }
  }
}
