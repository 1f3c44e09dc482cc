import { Type } from '@sinclair/typebox'
import pino from 'pino'
import type { Test } from 'tap'
import type { Sql } from '../../db/client.js'
import type { Job } from '../../db/jobs/jobs-repository.js'
import type { JobHandlers } from '../../plugins/jobs/definitions.js'
import { JobWorker, type WorkerOptions } from '../../plugins/jobs/worker.js'

/** Job types for tests of the queue itself. */
export const testCatalog = {
  'test-job': { payload: Type.Object({ n: Type.Integer() }, { additionalProperties: false }), maxAttempts: 3 },
  'slow-job': { payload: Type.Object({ ms: Type.Integer() }, { additionalProperties: false }), timeoutMs: 5000 }
}

export type TestHandlers = JobHandlers<typeof testCatalog>

/** A worker on the test catalog with fast timings, closed when the test ends. */
export function createTestWorker (
  t: Test, sql: Sql, handlers: TestHandlers, overrides: Partial<WorkerOptions<typeof testCatalog>> = {}
): JobWorker<typeof testCatalog> {
  const worker = new JobWorker({
    sql,
    catalog: testCatalog,
    handlers,
    log: pino({ level: 'silent' }),
    concurrency: 4,
    pollIntervalMs: 50,
    leaseMs: 2000,
    backoff: { baseMs: 20, maxMs: 100 },
    timeoutMs: 5000,
    retentionMs: 3_600_000,
    ...overrides
  })
  t.teardown(() => worker.close(1000))
  return worker
}

export async function jobById (sql: Sql, id: string): Promise<Job | undefined> {
  const [job] = await sql<Job[]>`select * from jobs where id = ${id}`
  return job
}

/** Polls until the check passes or the time runs out. */
export async function eventually<T> (check: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const result = await check()
    if (result !== undefined && result !== false) return result
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
