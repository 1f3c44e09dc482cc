import { Value } from '@sinclair/typebox/value'
import type postgres from 'postgres'
import type { Queryable } from '../../db/client.js'
import { createJobsRepository } from '../../db/jobs/jobs-repository.js'
import { activeTraceparent } from '../../observability/tracing.js'
import type { JobCatalog, JobPayload } from './definitions.js'

export class InvalidJobError extends Error {
  override name = 'InvalidJobError'
}

export interface EnqueueOptions {
  /** The client to insert with: pass the caller's transaction so the job commits with its work. */
  sql?: Queryable
  /** Not before this time. */
  runAt?: Date
}

export type JobQueue<C extends JobCatalog> = ReturnType<typeof createJobQueue<C>>

/** Enqueues through one client, a transaction: the jobs commit or roll back with that transaction's work. */
export interface JobEnqueuer<C extends JobCatalog> {
  enqueue: <T extends keyof C & string>(type: T, payload: JobPayload<C, T>, options?: Omit<EnqueueOptions, 'sql'>) => Promise<string>
}

export interface JobQueueOptions {
  sql: Queryable
  maxAttempts: number
  /** Called after each enqueue (metrics hook in). */
  onEnqueued?: (type: string) => void
}

/**
 * Enqueues jobs of the catalog's types, refusing unknown types and payloads
 * that break their schema. A job keeps the trace context it was enqueued in,
 * so that its run continues the enqueuing request's trace.
 */
export function createJobQueue<C extends JobCatalog> (catalog: C, defaults: JobQueueOptions) {
  async function enqueue<T extends keyof C & string> (type: T, payload: JobPayload<C, T>, options: EnqueueOptions = {}): Promise<string> {
    const definition = catalog[type]
    if (definition === undefined) throw new InvalidJobError(`unknown job type "${type}"`)
    const problem = Value.Errors(definition.payload, payload).First()
    if (problem !== undefined) throw new InvalidJobError(`bad payload for job "${type}": ${problem.path || '/'} ${problem.message}`)
    const id = await createJobsRepository(options.sql ?? defaults.sql).enqueue({
      type,
      payload: payload as postgres.JSONValue,
      maxAttempts: definition.maxAttempts ?? defaults.maxAttempts,
      traceparent: activeTraceparent(),
      ...(options.runAt === undefined ? {} : { runAt: options.runAt })
    })
    defaults.onEnqueued?.(type)
    return id
  }

  return {
    enqueue,

    /** The queue as a unit of work hands it out: enqueue writes through `sql`, the work's transaction. */
    within (sql: Queryable): JobEnqueuer<C> {
      return { enqueue: (type, payload, options = {}) => enqueue(type, payload, { ...options, sql }) }
    },

    /**
     * Enqueues the current slot's job of each recurring type (catalog `every`),
     * where no instance has yet. Safe to call from every instance at any time:
     * a slot gets one job. Returns the types it enqueued.
     */
    async scheduleRecurring (): Promise<string[]> {
      const enqueued: string[] = []
      for (const [type, definition] of Object.entries(catalog)) {
        if (definition.every === undefined) continue
        const payload = {}
        if (!Value.Check(definition.payload, payload)) throw new InvalidJobError(`recurring job "${type}" must accept {} as its payload`)
        const id = await createJobsRepository(defaults.sql).enqueueRecurring({
          type,
          payload,
          maxAttempts: definition.maxAttempts ?? defaults.maxAttempts,
          everyMs: definition.every
        })
        if (id === null) continue
        defaults.onEnqueued?.(type)
        enqueued.push(type)
      }
      return enqueued
    }
  }
}
