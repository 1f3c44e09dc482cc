import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { UUID_PATTERN } from '../../db/uuid.js'

/** What the queue knows of a job type: its payload's schema and how hard to try. */
export interface JobDefinition<S extends TSchema = TSchema> {
  payload: S
  /** Attempts before the job is dead; the worker's default when absent. */
  maxAttempts?: number
  /** A run that takes longer is aborted and counts as a failed attempt. */
  timeoutMs?: number
  /**
   * A recurring job: the workers enqueue it once per slot of this many ms
   * (slots counted from the Unix epoch on the database clock), with `{}` as
   * its payload, whatever the number of instances. See queue.scheduleRecurring.
   */
  every?: number
}

/** How often the purge of expired credentials and keys runs. */
export const PURGE_EXPIRED_EVERY_MS = 3_600_000

/** Every job type of the app, in one place. Payloads are checked against these at enqueue time. */
export const jobCatalog = {
  'welcome-email': {
    payload: Type.Object({
      userId: Type.String({ pattern: UUID_PATTERN }),
      email: Type.String({ minLength: 3, maxLength: 254 }),
      name: Type.Union([Type.String(), Type.Null()])
    }, { additionalProperties: false }),
    timeoutMs: 60_000
  },
  // Dead refresh-token families and expired idempotency keys of every user (services/jobs/purge-expired.ts).
  'purge-expired': {
    payload: Type.Object({}, { additionalProperties: false }),
    every: PURGE_EXPIRED_EVERY_MS,
    // Deletes in batches of short statements; a large backlog may take a while.
    timeoutMs: 600_000
  }
} satisfies Record<string, JobDefinition>

export type JobCatalog = Record<string, JobDefinition>
export type AppJobType = keyof typeof jobCatalog
export type JobPayload<C extends JobCatalog, T extends keyof C> = Static<C[T]['payload']>

/** A handler per type. It may run more than once for one job (delivery is at least once), so it must be safe to repeat. */
export type JobHandlers<C extends JobCatalog> = {
  [T in keyof C]: (payload: JobPayload<C, T>, context: { jobId: string; attempt: number; signal: AbortSignal }) => Promise<void>
}
