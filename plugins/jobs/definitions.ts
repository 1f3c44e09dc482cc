import type { Static, TSchema } from '@sinclair/typebox'

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

export type JobCatalog = Record<string, JobDefinition>
export type JobPayload<C extends JobCatalog, T extends keyof C> = Static<C[T]['payload']>

/** A handler per type. It may run more than once for one job (delivery is at least once), so it must be safe to repeat. */
export type JobHandlers<C extends JobCatalog> = {
  [T in keyof C]: (payload: JobPayload<C, T>, context: { jobId: string; attempt: number; signal: AbortSignal }) => Promise<void>
}
