import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp, type BuildAppOptions } from '../../app.js'
import { loadConfig, type Config } from '../../config.js'
import { createTestDatabase, type TestDatabase } from './database.js'

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789'

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
    ...environment
  })
}

/** The whole app on a fresh migrated database of its own, closed and dropped when the test ends. */
export async function buildTestApp (t: Test, environment: NodeJS.ProcessEnv = {}, options: Pick<BuildAppOptions, 'clock'> = {}): Promise<TestApp> {
  const database = await createTestDatabase(t, { dropOnTeardown: false })
  const config = testConfig(database.url, environment)
  const { stream, logs } = captureLogs()
  const app = await buildApp(config, { ...options, logStream: stream }).catch(async (error: unknown) => {
    await database.drop()
    throw error
  })
  t.teardown(async () => {
    await app.close()
    await database.drop()
  })
  return { app, config, database, logs }
}
