/** `npm run migrate`: applies pending migrations to the configured database (or the embedded one) and exits. */
import dotenv from 'dotenv'
import pino from 'pino'
import { ConfigError, loadConfig } from '../config.js'
import { openDatabase } from '../db/database.js'
import { migrate, MigrationError } from '../db/migrator.js'

dotenv.config({ quiet: true })
const log = pino({ level: 'info' })
try {
  const config = loadConfig()
  const database = await openDatabase(config.database, log)
  try {
    const { applied } = await migrate(database.sql, { log })
    log.info(applied.length === 0 ? `${database.description}: up to date` : `${database.description}: applied ${applied.join(', ')}`)
  } finally {
    await database.close()
  }
} catch (error) {
  if (!(error instanceof ConfigError || error instanceof MigrationError)) throw error
  process.stderr.write(`${error.message}\n`)
  process.exitCode = 1
}
