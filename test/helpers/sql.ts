import pino from 'pino'
import type { Test } from 'tap'
import { createSql, type Sql } from '../../db/client.js'
import { createTestDatabase } from './database.js'

/** A postgres.js client, configured as the app configures it, on a fresh migrated database. */
export async function createTestSql (t: Test, { poolMax = 4 }: { poolMax?: number } = {}): Promise<Sql> {
  const database = await createTestDatabase(t, { dropOnTeardown: false })
  const sql = createSql(database.url, { poolMax, statementTimeoutMs: 10_000, log: pino({ level: 'silent' }) })
  t.teardown(async () => {
    await sql.end()
    await database.drop()
  })
  return sql
}
