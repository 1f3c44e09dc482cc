import type { TaskEventType, Webhook } from '../../services/webhooks/schemas.js'
import type { Queryable } from '../client.js'
import { withDomainErrors } from '../errors.js'
import { isUuid } from '../uuid.js'

/** A webhook as stored: what its owner sees, whose it is, and its signing secrets (never serialized: WebhookSchema names none of these). */
export interface StoredWebhook extends Webhook {
  userId: string
  secret: Buffer
  previousSecret: Buffer | null
  previousSecretUntil: Date | null
  failingSince: Date | null
}

export interface NewWebhookRow {
  url: string
  events: TaskEventType[]
  description: string
  secret: Buffer
}

export interface WebhookChanges {
  url?: string
  events?: TaskEventType[]
  description?: string
  enabled?: boolean
}

export type WebhooksRepository = ReturnType<typeof createWebhooksRepository>

/** The SQL of a user's webhooks. Every statement is scoped to the user: another user's webhook is "no row". */
export function createWebhooksRepository (sql: Queryable) {
  /** null for a webhook that is missing, another user's, or named by a malformed id. */
  async function findForUser (userId: string, id: string): Promise<StoredWebhook | null> {
    if (!isUuid(id)) return null
    const [row] = await sql<StoredWebhook[]>`select * from webhooks where id = ${id} and user_id = ${userId}`
    return row ?? null
  }

  return withDomainErrors({
    /**
     * Inserts unless the user has `limit` webhooks already (then null). The
     * user's row is locked first (FOR NO KEY UPDATE, which task inserts do not
     * wait for), so concurrent creates cannot both pass the count: call it in a transaction.
     */
    async createWithin (userId: string, webhook: NewWebhookRow, limit: number): Promise<StoredWebhook | null> {
      await sql`select 1 from users where id = ${userId} for no key update`
      const rows = await sql<StoredWebhook[]>`
        insert into webhooks (user_id, url, events, description, secret)
        select ${userId}, ${webhook.url}, ${webhook.events}, ${webhook.description}, ${webhook.secret}
        where (select count(*) from webhooks where user_id = ${userId}) < ${limit}
        returning *`
      return rows[0] ?? null
    },

    async listByUser (userId: string): Promise<StoredWebhook[]> {
      return sql<StoredWebhook[]>`select * from webhooks where user_id = ${userId} order by created_at, id`
    },

    findForUser,

    /** Enabling again forgets the failures that disabled it: its five days start afresh. */
    async update (userId: string, id: string, changes: WebhookChanges): Promise<StoredWebhook | null> {
      if (!isUuid(id)) return null
      const columns = (Object.keys(changes) as (keyof WebhookChanges)[]).filter((key) => changes[key] !== undefined)
      if (columns.length === 0) return findForUser(userId, id)
      const rows = await sql<StoredWebhook[]>`
        update webhooks set ${sql(changes, columns)},
          failing_since = case when ${changes.enabled === true} then null else failing_since end,
          updated_at = now()
        where id = ${id} and user_id = ${userId}
        returning *`
      return rows[0] ?? null
    },

    async delete (userId: string, id: string): Promise<boolean> {
      if (!isUuid(id)) return false
      const rows = await sql`delete from webhooks where id = ${id} and user_id = ${userId} returning id`
      return rows.length > 0
    },

    /** The new secret signs from now on; the current one keeps signing beside it until previousUntil. */
    async rotateSecret (userId: string, id: string, secret: Buffer, previousUntil: Date): Promise<StoredWebhook | null> {
      if (!isUuid(id)) return null
      const rows = await sql<StoredWebhook[]>`
        update webhooks set previous_secret = secret, previous_secret_until = ${previousUntil}, secret = ${secret}, updated_at = now()
        where id = ${id} and user_id = ${userId}
        returning *`
      return rows[0] ?? null
    },

    /**
     * Locks the webhook's row as a delivery's claim does (deliveries-repository findTargetLocked), so that
     * an attempt freeing its slot and a claim finding none take turns: the claim's waiting mark is then
     * committed before the attempt looks for someone to wake, or the claim sees the slot free.
     */
    async lockForSlots (id: string): Promise<void> {
      await sql`select 1 from webhooks where id = ${id} for no key update`
    },

    /** A delivery succeeded: the webhook works. */
    async markWorking (id: string): Promise<void> {
      await sql`update webhooks set failing_since = null where id = ${id} and failing_since is not null`
    },

    /**
     * A delivery attempt failed at `at`: the failing streak starts now unless
     * it already runs; a streak older than `disableAfterMs` disables the
     * webhook. Returns what to tell its owner when this call disabled it.
     */
    async markFailing (id: string, at: Date, disableAfterMs: number): Promise<{ email: string; url: string; failingSince: Date } | null> {
      const [row] = await sql<{ enabled: boolean; failingSince: Date }[]>`
        update webhooks set failing_since = coalesce(failing_since, ${at})
        where id = ${id}
        returning enabled, failing_since`
      if (row === undefined || !row.enabled || at.getTime() - row.failingSince.getTime() < disableAfterMs) return null
      const disabled = await sql<{ email: string; url: string }[]>`
        update webhooks set enabled = false, updated_at = now()
        from users
        where webhooks.id = ${id} and webhooks.enabled and users.id = webhooks.user_id
        returning users.email, webhooks.url`
      const owner = disabled[0]
      return owner === undefined ? null : { ...owner, failingSince: row.failingSince }
    }
  })
}
