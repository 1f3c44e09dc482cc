import type { Scope } from '../../services/auth/scopes.js'
import type { Queryable } from '../client.js'
import { withDomainErrors } from '../errors.js'
import { firstRow } from '../rows.js'
import { isUuid } from '../uuid.js'

/**
 * The channel migration 0010's trigger notifies with a token's id whenever
 * the token is revoked, changed or deleted (the user's deletion included).
 */
export const PERSONAL_ACCESS_TOKENS_CHANNEL = 'taskforge_personal_access_tokens'

/** A token as its owner sees it: never its hash. */
export interface PersonalAccessTokenRecord {
  id: string
  name: string
  scopes: Scope[]
  createdAt: Date
  expiresAt: Date | null
  lastUsedAt: Date | null
}

/** What authenticating a request with a token needs to know of it. */
export interface TokenCredential {
  id: string
  userId: string
  scopes: Scope[]
  expiresAt: Date | null
  revokedAt: Date | null
}

export interface NewPersonalAccessToken {
  userId: string
  name: string
  scopes: Scope[]
  tokenHash: Buffer
  createdAt: Date
  expiresAt: Date | null
}

export type PersonalAccessTokensRepository = ReturnType<typeof createPersonalAccessTokensRepository>

/** SQL for personal access tokens. Secrets arrive already hashed. */
export function createPersonalAccessTokensRepository (sql: Queryable) {
  return withDomainErrors({
    async create (token: NewPersonalAccessToken): Promise<PersonalAccessTokenRecord> {
      const rows = await sql<PersonalAccessTokenRecord[]>`
        insert into personal_access_tokens (user_id, name, scopes, token_hash, created_at, expires_at)
        values (${token.userId}, ${token.name}, ${token.scopes}, ${token.tokenHash}, ${token.createdAt}, ${token.expiresAt})
        returning id, name, scopes, created_at, expires_at, last_used_at`
      return firstRow(rows)
    },

    /** A user's tokens that are neither revoked nor expired at `now`, newest first. */
    async listLive (userId: string, now: Date): Promise<PersonalAccessTokenRecord[]> {
      return sql<PersonalAccessTokenRecord[]>`
        select id, name, scopes, created_at, expires_at, last_used_at
        from personal_access_tokens
        where user_id = ${userId} and revoked_at is null and (expires_at is null or expires_at > ${now})
        order by created_at desc, id desc`
    },

    /** The token with this hash, revoked or expired ones included (the caller judges); null for none. */
    async findByHash (tokenHash: Buffer): Promise<TokenCredential | null> {
      const [row] = await sql<TokenCredential[]>`
        select id, user_id, scopes, expires_at, revoked_at from personal_access_tokens where token_hash = ${tokenHash}`
      return row ?? null
    },

    /** Revokes one of the user's live tokens; false when there is none with this id (another user's, revoked, expired, malformed id). */
    async revoke (userId: string, id: string, now: Date): Promise<boolean> {
      if (!isUuid(id)) return false
      const result = await sql`
        update personal_access_tokens set revoked_at = ${now}
        where id = ${id} and user_id = ${userId} and revoked_at is null and (expires_at is null or expires_at > ${now})`
      return result.count === 1
    },

    /**
     * Drops up to `limit` tokens, of any user, revoked or expired before
     * `diedBefore`. Returns how many went: fewer than `limit` means none is left.
     */
    async purgeDead (diedBefore: Date, limit: number): Promise<number> {
      const result = await sql`
        delete from personal_access_tokens where id in (
          select id from personal_access_tokens
          where revoked_at < ${diedBefore} or expires_at < ${diedBefore}
          limit ${limit})`
      return result.count
    },

    /**
     * Records a use at `now` unless one after `notBefore` is recorded
     * already (by another instance, say): then nothing is written.
     */
    async recordUse (id: string, now: Date, notBefore: Date): Promise<void> {
      await sql`
        update personal_access_tokens set last_used_at = ${now}
        where id = ${id} and (last_used_at is null or last_used_at <= ${notBefore})`
    }
  })
}
