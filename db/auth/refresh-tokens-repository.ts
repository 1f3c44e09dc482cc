import type { Queryable } from '../client.js'
import { withDomainErrors } from '../errors.js'
import { firstRow } from '../rows.js'

export type RevokeReason = 'logout' | 'reuse'

/** A stored refresh token with what the rotation rules need of its family. */
export interface RefreshTokenRecord {
  familyId: string
  userId: string
  /** When the login that started the family happened: its refresh tokens die REFRESH_TOKEN_MAX_AGE later. */
  familyCreatedAt: Date
  expiresAt: Date
  spentAt: Date | null
  familyRevokedAt: Date | null
}

export type RefreshTokensRepository = ReturnType<typeof createRefreshTokensRepository>

/** SQL for refresh tokens and their families. Tokens arrive already hashed. */
export function createRefreshTokensRepository (sql: Queryable) {
  return withDomainErrors({
    async createFamily (userId: string, tokenHash: Buffer, createdAt: Date, expiresAt: Date): Promise<string> {
      const rows = await sql<{ id: string }[]>`
        insert into refresh_token_families (user_id, created_at, expires_at) values (${userId}, ${createdAt}, ${expiresAt}) returning id`
      const familyId = firstRow(rows).id
      await sql`insert into refresh_tokens (token_hash, family_id, expires_at) values (${tokenHash}, ${familyId}, ${expiresAt})`
      return familyId
    },

    /**
     * Finds a token and locks it and its family until the transaction ends,
     * so that two uses of one token are decided one after the other. Both rows
     * are locked because, after waiting for a lock, PostgreSQL re-reads only
     * the rows it locked: locking the family alone would show the second use
     * the token as it was before the first one spent it. Call it inside a transaction.
     */
    async findAndLockFamily (tokenHash: Buffer): Promise<RefreshTokenRecord | null> {
      const [row] = await sql<RefreshTokenRecord[]>`
        select t.family_id, f.user_id, f.created_at as family_created_at, t.expires_at, t.spent_at, f.revoked_at as family_revoked_at
        from refresh_tokens t join refresh_token_families f on f.id = t.family_id
        where t.token_hash = ${tokenHash}
        for update of t, f`
      return row ?? null
    },

    /** Spends one token and adds its successor to the same family. */
    async rotate (spentHash: Buffer, familyId: string, nextHash: Buffer, expiresAt: Date, now: Date): Promise<void> {
      await sql`update refresh_tokens set spent_at = ${now} where token_hash = ${spentHash}`
      await sql`insert into refresh_tokens (token_hash, family_id, expires_at) values (${nextHash}, ${familyId}, ${expiresAt})`
      await sql`update refresh_token_families set expires_at = ${expiresAt} where id = ${familyId}`
    },

    async revokeFamily (familyId: string, reason: RevokeReason, now: Date): Promise<void> {
      await sql`
        update refresh_token_families set revoked_at = ${now}, revoked_reason = ${reason}
        where id = ${familyId} and revoked_at is null`
    },

    /**
     * Drops up to `limit` families, of any user, that expired or were revoked
     * before `diedBefore` (their tokens go with them). Returns how many went:
     * fewer than `limit` means none is left.
     */
    async purgeDeadFamilies (diedBefore: Date, limit: number): Promise<number> {
      const result = await sql`
        delete from refresh_token_families where id in (
          select id from refresh_token_families
          where expires_at < ${diedBefore} or revoked_at < ${diedBefore}
          limit ${limit})`
      return result.count
    }
  })
}
