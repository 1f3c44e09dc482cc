import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp, type BuildAppOptions } from '../../app.js'
import { loadConfig, type Config } from '../../config.js'
import { createTestDatabase, type TestDatabase } from './database.js'

// Random per test process, as production wants one (it refuses published values such as this file's former constant).
export const TEST_JWT_SECRET = randomBytes(48).toString('base64')

export interface TestApp {
  app: FastifyInstance
  config: Config
  database: TestDatabase
  /** Every log line the app wrote, parsed. */
  logs: Record<string, unknown>[]
}

/** Collects pino's JSON lines in memory so tests can assert on what was logged. */
export function captureLogs (): { stream: Writable; logs: Record<string, unknown>[] } {
  const logs: Record<string, unknown>[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      }
      callback()
    }
  })
  return { stream, logs }
}

export function testConfig (databaseUrl: string, environment: NodeJS.ProcessEnv = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'debug',
    DATABASE_URL: databaseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    // Test files run two at a time, some with several apps: small pools stay far below max_connections.
    DB_POOL_MAX: '4',
    // Tests register many users from one address; the rate-limit tests set their own limits.
    RATE_LIMIT_MAX: '100000',
    AUTH_RATE_LIMIT_MAX: '100000',
    LOGIN_FAILURES_MAX: '100000',
    ...environment
  })
}

export interface TestAppOptions extends Pick<BuildAppOptions, 'clock' | 'traceExporter' | 'resolveHost'> {
  /** Run on this database (e.g. one a killed server left behind) instead of a fresh one; the caller drops it. */
  database?: TestDatabase
}

/** The whole app on a fresh migrated database of its own, closed and dropped when the test ends. */
export async function buildTestApp (
  t: Test, environment: NodeJS.ProcessEnv = {}, { database: given, ...options }: TestAppOptions = {}
): Promise<TestApp> {
  const database = given ?? await createTestDatabase(t, { dropOnTeardown: false })
  const config = testConfig(database.url, environment)
  const { stream, logs } = captureLogs()
  const dropDatabase = given === undefined ? database.drop : async () => undefined
  const app = await buildApp(config, { ...options, logStream: stream }).catch(async (error: unknown) => {
    await dropDatabase()
    throw error
  })
  t.teardown(async () => {
    await app.close()
    await dropDatabase()
  })
  return { app, config, database, logs }
}
