import type postgres from 'postgres'
import type { Delivery, DeliveryStatus, TaskEventType } from '../../services/webhooks/schemas.js'
import type { Queryable } from '../client.js'
import { withDomainErrors } from '../errors.js'

/** Where a page of deliveries ended: newest first, so the next page is older than this. */
export interface DeliveryPosition { createdAt: Date; id: string }

/** What an attempt needs: the delivery, its webhook's address and secrets, and its event. */
export interface DeliveryTarget {
  id: string
  webhookId: string
  eventType: TaskEventType
  status: DeliveryStatus
  attempts: number
  /** An attempt of it holds a slot now (under another job). */
  inFlight: boolean
  url: string
  enabled: boolean
  secret: Buffer
  previousSecret: Buffer | null
  previousSecretUntil: Date | null
  occurredAt: Date
  /** The event's data, as recorded. */
  data: Record<string, unknown>
}

export interface AttemptOutcome {
  status: DeliveryStatus
  at: Date
  statusCode: number | null
  error: string | null
}

export type DeliveriesRepository = ReturnType<typeof createDeliveriesRepository>

/** The SQL of the outbox (task_events) and of deliveries, their attempts and their per-webhook slots. */
export function createDeliveriesRepository (sql: Queryable) {
  return withDomainErrors({
    /**
     * Records a task change for the user's enabled webhooks that want any of
     * its event types: one task_events row (only if some webhook wants it) and
     * one delivery per webhook and wanted type, in one statement. `data` is the
     * events' data (JSON). Call it in the change's transaction. Returns the deliveries' ids.
     */
    async recordEvent (userId: string, taskId: string, types: TaskEventType[], data: Record<string, unknown>): Promise<string[]> {
      const rows = await sql<{ id: string }[]>`
        with hooks as (
          select id, events from webhooks where user_id = ${userId} and enabled and events && ${types}::text[]
        ), event as (
          insert into task_events (user_id, task_id, types, occurred_at, data)
          select ${userId}, ${taskId}, ${types}::text[], now(), ${sql.json(data as postgres.JSONValue)}
          where exists (select 1 from hooks)
          returning id
        )
        insert into webhook_deliveries (webhook_id, event_id, event_type)
        select hooks.id, event.id, type
        from hooks cross join event cross join unnest(${types}::text[]) with ordinality as wanted (type, position)
        where type = any(hooks.events)
        order by hooks.id, position
        returning id`
      return rows.map((row) => row.id)
    },

    /** A page of a webhook's deliveries, newest first; one row more than `limit` says another page follows. */
    async listByWebhook (webhookId: string, limit: number, after?: DeliveryPosition): Promise<Delivery[]> {
      const beyond = after === undefined ? sql`` : sql`and (created_at, id) < (${after.createdAt}, ${after.id})`
      return sql<Delivery[]>`
        select id, webhook_id, event_type, status, attempts, last_attempt_at, last_status_code, last_error, created_at
        from webhook_deliveries
        where webhook_id = ${webhookId} ${beyond}
        order by created_at desc, id desc
        limit ${limit + 1}`
    },

    /**
     * The delivery with its webhook and event, its webhook's row locked (FOR NO
     * KEY UPDATE) until the transaction ends: call it in a transaction, before
     * takeSlot, so that attempts of one webhook take their slots one at a time.
     */
    async findTargetLocked (id: string): Promise<DeliveryTarget | null> {
      const [row] = await sql<DeliveryTarget[]>`
        select d.id, d.webhook_id, d.event_type, d.status, d.attempts, coalesce(d.in_flight_until >= now(), false) as in_flight,
          w.url, w.enabled, w.secret, w.previous_secret, w.previous_secret_until,
          e.occurred_at, e.data
        from webhook_deliveries d
        join webhooks w on w.id = d.webhook_id
        join task_events e on e.id = d.event_id
        where d.id = ${id}
        for no key update of w`
      return row ?? null
    },

    /**
     * Takes one of the webhook's `cap` slots for the delivery's attempt, for
     * leaseMs, unless `cap` attempts of the webhook are in flight (false). Call
     * it after findTargetLocked, in its transaction: this statement's count
     * then sees every slot committed before the lock was had.
     */
    async takeSlot (webhookId: string, deliveryId: string, cap: number, leaseMs: number): Promise<boolean> {
      const rows = await sql`
        update webhook_deliveries set in_flight_until = now() + ${leaseMs} * interval '1 millisecond', waiting_since = null
        where id = ${deliveryId}
          and (select count(*) from webhook_deliveries
               where webhook_id = ${webhookId} and in_flight_until is not null and in_flight_until >= now()) < ${cap}
        returning id`
      return rows.length > 0
    },

    /** The delivery waits for a slot: it joins the webhook's waiting list, or keeps its place there. */
    async markWaiting (id: string): Promise<void> {
      await sql`update webhook_deliveries set waiting_since = coalesce(waiting_since, now()) where id = ${id}`
    },

    /**
     * The oldest delivery of the webhook waiting for a slot, taken off the
     * waiting list for its job to try again (null when none waits). Called
     * where an attempt ends, in the transaction that frees its slot.
     */
    async wakeNextWaiting (webhookId: string): Promise<{ id: string; attempts: number } | null> {
      const rows = await sql<{ id: string; attempts: number }[]>`
        update webhook_deliveries set waiting_since = null
        where id = (
          select id from webhook_deliveries
          where webhook_id = ${webhookId} and waiting_since is not null and status = 'pending'
          order by waiting_since, id
          limit 1
          for update skip locked)
        returning id, attempts`
      return rows[0] ?? null
    },

    /**
     * Records attempt number expectedAttempts + 1 and frees its slot; false
     * (and nothing written) if that attempt was recorded already, by a twin run.
     */
    async recordAttempt (id: string, expectedAttempts: number, outcome: AttemptOutcome): Promise<boolean> {
      const rows = await sql`
        update webhook_deliveries set status = ${outcome.status}::webhook_delivery_status, attempts = attempts + 1,
          last_attempt_at = ${outcome.at}, last_status_code = ${outcome.statusCode}, last_error = ${outcome.error},
          in_flight_until = null, waiting_since = null
        where id = ${id} and attempts = ${expectedAttempts} and status = 'pending'
        returning id`
      return rows.length > 0
    },

    /** A pending delivery that will not be attempted (its webhook was disabled): failed, with why. */
    async abandon (id: string, expectedAttempts: number, reason: string): Promise<void> {
      await sql`
        update webhook_deliveries set status = 'failed', last_error = ${reason}, in_flight_until = null, waiting_since = null
        where id = ${id} and attempts = ${expectedAttempts} and status = 'pending'`
    },

    /** Deletes up to `limit` finished deliveries of this status created before `before`. */
    async purgeFinished (status: Exclude<DeliveryStatus, 'pending'>, before: Date, limit: number): Promise<number> {
      const rows = await sql`
        delete from webhook_deliveries where id in (
          select id from webhook_deliveries where status = ${status}::webhook_delivery_status and created_at < ${before} limit ${limit})
        returning id`
      return rows.length
    },

    /** Deletes up to `limit` events older than `before` that no delivery refers to any more. */
    async purgeOrphanEvents (before: Date, limit: number): Promise<number> {
      const rows = await sql`
        delete from task_events where id in (
          select id from task_events e
          where occurred_at < ${before} and not exists (select 1 from webhook_deliveries d where d.event_id = e.id)
          limit ${limit})
        returning id`
      return rows.length
    }
  })
}
