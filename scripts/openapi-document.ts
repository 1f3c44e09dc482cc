import pino from 'pino'
import { buildApp } from '../app.js'
import { loadConfig } from '../config.js'
import { createSql } from '../db/client.js'

/**
 * The OpenAPI document as pretty JSON. It comes from the routes' schemas
 * alone, so the app is built on a client that never connects (postgres.js
 * connects on the first query, and rendering sends none).
 */
export async function renderOpenApi (): Promise<string> {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', JWT_SECRET: 'openapi-rendering-needs-no-real-secret', JOBS_CONCURRENCY: '0' })
  const sql = createSql('postgres://127.0.0.1:1/unused', { poolMax: 1, statementTimeoutMs: 1000, log: pino({ level: 'silent' }) })
  const app = await buildApp(config, { sql })
  try {
    await app.ready()
    return `${JSON.stringify(app.swagger(), null, 2)}\n`
  } finally {
    await app.close()
    await sql.end()
  }
}
