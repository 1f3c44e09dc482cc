import type postgres from 'postgres'
import type { Queryable } from '../client.js'
import { withDomainErrors } from '../errors.js'

export interface StoredResponse {
  requestHash: Buffer
  responseStatus: number
  responseBody: unknown
}

export type IdempotencyRepository = ReturnType<typeof createIdempotencyRepository>

/** First answers to Idempotency-Keys, per user. Use inside the transaction that does the work. */
export function createIdempotencyRepository (sql: Queryable) {
  return withDomainErrors({
    /**
     * Claims (user, key) for this transaction. Returns null when the claim is
     * ours; otherwise the answer stored by whoever claimed it first (waiting
     * for their transaction to finish if it is still running).
     */
    async claim (userId: string, key: string, requestHash: Buffer, expiresAt: Date): Promise<StoredResponse | null> {
      const claimed = await sql`
        insert into idempotency_keys (user_id, key, request_hash, response_status, response_body, expires_at)
        values (${userId}, ${key}, ${requestHash}, 0, 'null', ${expiresAt})
        on conflict (user_id, key) do nothing
        returning 1`
      if (claimed.length > 0) return null
      const [stored] = await sql<StoredResponse[]>`
        select request_hash, response_status, response_body
        from idempotency_keys where user_id = ${userId} and key = ${key}
        for update`
      return stored ?? null
    },

    async saveResponse (userId: string, key: string, status: number, body: postgres.JSONValue): Promise<void> {
      await sql`
        update idempotency_keys set response_status = ${status}, response_body = ${sql.json(body)}
        where user_id = ${userId} and key = ${key}`
    },

    async purgeExpired (userId: string, now: Date): Promise<void> {
      await sql`delete from idempotency_keys where user_id = ${userId} and expires_at <= ${now}`
    },

    /** Drops up to `limit` expired keys of any user; fewer than `limit` gone means none is left. */
    async purgeAllExpired (now: Date, limit: number): Promise<number> {
      const result = await sql`
        delete from idempotency_keys where (user_id, key) in (
          select user_id, key from idempotency_keys where expires_at <= ${now} limit ${limit})`
      return result.count
    }
  })
}
