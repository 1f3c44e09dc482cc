import type postgres from 'postgres'
import type { Queryable } from '../client.js'
import { withDomainErrors } from '../errors.js'
import { firstRow } from '../rows.js'

export const JOB_STATES = ['queued', 'running', 'done', 'dead'] as const
export type JobState = typeof JOB_STATES[number]

export interface Job {
  id: string
  type: string
  payload: unknown
  state: JobState
  attempts: number
  maxAttempts: number
  runAt: Date
  lockedBy: string | null
  lockedUntil: Date | null
  lastError: string | null
  /** A recurring job: the start of the slot it was enqueued for (null for the others). */
  recurringSlot: Date | null
  /** W3C traceparent of the span that enqueued the job; null when tracing was off. */
  traceparent: string | null
  createdAt: Date
  updatedAt: Date
  finishedAt: Date | null
}

/** A job as a worker claims it: what running it takes. */
export type ClaimedJob = Pick<Job, 'id' | 'type' | 'payload' | 'attempts' | 'maxAttempts' | 'traceparent'>

export interface NewJob {
  type: string
  payload: postgres.JSONValue
  maxAttempts: number
  runAt?: Date
  traceparent?: string | null
}

export interface NewRecurringJob {
  type: string
  payload: postgres.JSONValue
  maxAttempts: number
  /** Slots are this long, counted from the Unix epoch on the database clock. */
  everyMs: number
}

// Whoever enqueues also notifies: PostgreSQL delivers it at commit, to every listening instance.
export const JOBS_CHANNEL = 'taskforge_jobs'

export type JobsRepository = ReturnType<typeof createJobsRepository>

/** The SQL of the job queue. Times come from the database clock, shared by every instance. */
export function createJobsRepository (sql: Queryable) {
  return withDomainErrors({
    /**
     * Inserts with the caller's client: inside their transaction, the job commits or rolls back with their work.
     * The notification rides in the same statement (one round trip), so it too is sent only if that transaction commits.
     */
    async enqueue (job: NewJob): Promise<string> {
      const rows = await sql<{ id: string }[]>`
        insert into jobs (type, payload, max_attempts, run_at, traceparent)
        values (${job.type}, ${sql.json(job.payload)}, ${job.maxAttempts}, coalesce(${job.runAt ?? null}::timestamptz, now()), ${job.traceparent ?? null})
        returning id, pg_notify(${JOBS_CHANNEL}, type)`
      return firstRow(rows).id
    },

    /**
     * Enqueues the job of the slot the database clock is in, due at once,
     * unless that slot already has its job or the type has one still queued or
     * running (the unique indexes of migration 0008). Every instance calls this
     * now and then; only the first call of a slot inserts, so one job runs per
     * slot whatever the number of instances. Returns its id, or null when
     * there was nothing to do.
     */
    async enqueueRecurring (job: NewRecurringJob): Promise<string | null> {
      const rows = await sql<{ id: string }[]>`
        insert into jobs (type, payload, max_attempts, run_at, recurring_slot)
        select ${job.type}, ${sql.json(job.payload)}, ${job.maxAttempts}, slot, slot
        from (select date_bin(${job.everyMs} * interval '1 millisecond', now(), timestamptz '1970-01-01 00:00:00+00') as slot) as current_slot
        on conflict do nothing
        returning id, pg_notify(${JOBS_CHANNEL}, type)`
      return rows[0]?.id ?? null
    },

    /**
     * Claims up to `limit` due jobs for this worker. SKIP LOCKED lets workers
     * of several instances claim side by side without waiting on each other
     * or taking the same job. The claimed rows are then found by primary key
     * (`= any(array(...))`): joined to the CTE instead, the planner hashed the
     * whole table, done jobs included, at every claim. Returns what a run
     * needs, not the whole row: parsing five timestamps per job the worker
     * never reads was a fifth of its CPU per no-op job.
     */
    async claim (workerId: string, limit: number, leaseMs: number): Promise<ClaimedJob[]> {
      return sql<ClaimedJob[]>`
        with due as (
          select id from jobs
          where state = 'queued' and run_at <= now()
          order by run_at, id
          limit ${limit}
          for update skip locked
        )
        update jobs set state = 'running', attempts = jobs.attempts + 1, locked_by = ${workerId},
          locked_until = now() + ${leaseMs} * interval '1 millisecond', updated_at = now()
        where jobs.id = any(array(select id from due))
        returning jobs.id, jobs.type, jobs.payload, jobs.attempts, jobs.max_attempts, jobs.traceparent`
    },

    /**
     * Extends the leases of the jobs this worker holds, all in one statement;
     * returns the ids it still held (a job missing from the answer was lost:
     * its lease ran out and another worker requeued it).
     */
    async renewLeases (ids: string[], workerId: string, leaseMs: number): Promise<string[]> {
      if (ids.length === 0) return []
      const rows = await sql<{ id: string }[]>`
        update jobs set locked_until = now() + ${leaseMs} * interval '1 millisecond'
        where id = any(${ids}::bigint[]) and state = 'running' and locked_by = ${workerId}
        returning id`
      return rows.map((row) => row.id)
    },

    /**
     * Records jobs done, as many as finished together: one statement and one commit for all.
     * A job this worker no longer holds (its lease expired and it was requeued) is left alone.
     */
    async markDone (ids: string[], workerId: string): Promise<void> {
      if (ids.length === 0) return
      await sql`
        update jobs set state = 'done', finished_at = now(), updated_at = now(), locked_by = null, locked_until = null
        where id = any(${ids}::bigint[]) and state = 'running' and locked_by = ${workerId}`
    },

    /** A failed attempt: queued again after retryInMs, or dead when out of attempts. */
    async markFailed (id: string, workerId: string, error: string, retryInMs: number | null): Promise<void> {
      await sql`
        update jobs set
          state = ${retryInMs === null ? 'dead' : 'queued'}::job_state,
          run_at = case when ${retryInMs === null} then run_at else now() + ${retryInMs ?? 0} * interval '1 millisecond' end,
          finished_at = case when ${retryInMs === null} then now() end,
          last_error = ${error}, updated_at = now(), locked_by = null, locked_until = null
        where id = ${id} and state = 'running' and locked_by = ${workerId}`
    },

    /** Hands unfinished jobs back at shutdown; the interrupted attempt does not count. */
    async release (ids: string[], workerId: string): Promise<void> {
      if (ids.length === 0) return
      await sql`
        update jobs set state = 'queued', attempts = greatest(attempts - 1, 0), run_at = now(),
          locked_by = null, locked_until = null, updated_at = now()
        where id = any(${ids}::bigint[]) and state = 'running' and locked_by = ${workerId}`
    },

    /** Jobs whose worker died (lease ran out): queued again, or dead if that was their last attempt. */
    async reclaimExpired (): Promise<number> {
      const rows = await sql`
        update jobs set
          state = case when attempts >= max_attempts then 'dead' else 'queued' end::job_state,
          finished_at = case when attempts >= max_attempts then now() end,
          last_error = 'the worker running it stopped before it finished (lease expired)',
          run_at = now(), locked_by = null, locked_until = null, updated_at = now()
        where state = 'running' and locked_until < now()
        returning id`
      return rows.length
    },

    async purgeFinished (olderThanMs: number): Promise<number> {
      const rows = await sql`
        delete from jobs where state = 'done' and finished_at < now() - ${olderThanMs} * interval '1 millisecond' returning id`
      return rows.length
    },

    /**
     * Jobs queued, running and dead: the queue's depth. Done jobs (a week of
     * them) are not counted; each count reads a partial index of its state.
     */
    async countUnfinished (): Promise<Record<Exclude<JobState, 'done'>, number>> {
      const rows = await sql<Record<Exclude<JobState, 'done'>, number>[]>`
        select (select count(*) from jobs where state = 'queued')::int as queued,
          (select count(*) from jobs where state = 'running')::int as running,
          (select count(*) from jobs where state = 'dead')::int as dead`
      return firstRow(rows)
    }
  })
}
