import { createHash, randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { RefreshTokensRepository } from '../../db/auth/refresh-tokens-repository.js'
import type { UnitOfWork } from '../../db/transaction.js'
import { UnauthorizedError } from '../../errors.js'
import type { Clock } from '../clock.js'

export interface RefreshTokenOptions {
  /** Every change to a family runs in a transaction of its own. */
  inTransaction: UnitOfWork<{ refreshTokens: RefreshTokensRepository }>
  ttlSeconds: number
  /** REFRESH_TOKEN_MAX_AGE: no token of a family outlives the family's login by more than this. */
  maxAgeSeconds: number
  clock: Clock
  log: FastifyBaseLogger
}

export interface RotatedRefreshToken {
  userId: string
  refreshToken: string
}

export type RefreshTokens = ReturnType<typeof createRefreshTokens>

function newToken (): string {
  return randomBytes(32).toString('base64url')
}

function hashToken (token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

const INVALID = 'The refresh token is invalid'

const SESSION_ENDED = 'The session has reached its maximum age; log in again'

/**
 * Opaque refresh tokens that rotate: each use spends the token and returns its
 * successor in the same family (one family per login). A spent token shown
 * again means two parties hold the family, so the whole family is revoked.
 * A family ends REFRESH_TOKEN_MAX_AGE after its login however often it
 * rotated, so a stolen session cannot be kept alive forever. Dead families are
 * deleted by the purge job (services/jobs/purge-expired.ts).
 */
export function createRefreshTokens ({ inTransaction, ttlSeconds, maxAgeSeconds, clock, log }: RefreshTokenOptions) {
  const sessionEnd = (familyCreatedAt: Date) => new Date(familyCreatedAt.getTime() + maxAgeSeconds * 1000)
  // A token lives ttlSeconds, but never past the end of its family.
  const expiresAt = (now: Date, familyCreatedAt: Date) =>
    new Date(Math.min(now.getTime() + ttlSeconds * 1000, sessionEnd(familyCreatedAt).getTime()))

  return {
    /** Starts a new family for a login (or registration). */
    async issueForLogin (userId: string): Promise<string> {
      const token = newToken()
      const now = new Date(clock())
      // The family and its first token: both or neither.
      await inTransaction(({ refreshTokens }) => refreshTokens.createFamily(userId, hashToken(token), now, expiresAt(now, now)))
      return token
    },

    async rotate (token: string): Promise<RotatedRefreshToken> {
      const now = new Date(clock())
      const next = newToken()
      // The family row stays locked from the read to the commit: of two concurrent uses of one token, only the first rotates.
      const outcome = await inTransaction(async ({ refreshTokens: repository }) => {
        const record = await repository.findAndLockFamily(hashToken(token))
        if (record === null) return { kind: 'unknown' } as const
        if (record.familyRevokedAt !== null) return { kind: 'revoked' } as const
        if (record.spentAt !== null) {
          await repository.revokeFamily(record.familyId, 'reuse', now)
          return { kind: 'reused', record } as const
        }
        // Checked before the token's own expiry, which (capped at the session's end) has passed too.
        if (sessionEnd(record.familyCreatedAt) <= now) return { kind: 'ended' } as const
        if (record.expiresAt <= now) return { kind: 'expired' } as const
        await repository.rotate(hashToken(token), record.familyId, hashToken(next), expiresAt(now, record.familyCreatedAt), now)
        return { kind: 'rotated', userId: record.userId } as const
      })

      switch (outcome.kind) {
        case 'rotated': return { userId: outcome.userId, refreshToken: next }
        case 'reused':
          log.warn({ userId: outcome.record.userId, familyId: outcome.record.familyId }, 'refresh token reused: token family revoked')
          throw new UnauthorizedError('The refresh token was already used; its session has been revoked')
        case 'revoked': throw new UnauthorizedError('The refresh token has been revoked')
        case 'ended': throw new UnauthorizedError(SESSION_ENDED)
        case 'expired': throw new UnauthorizedError('The refresh token has expired')
        case 'unknown': throw new UnauthorizedError(INVALID)
      }
    },

    /**
     * Logout: revokes the family of a live token. Spent, expired (or past the session's end)
     * or unknown tokens are refused like a refresh would.
     */
    async revoke (token: string): Promise<void> {
      const now = new Date(clock())
      const outcome = await inTransaction(async ({ refreshTokens: repository }) => {
        const record = await repository.findAndLockFamily(hashToken(token))
        if (record === null || record.familyRevokedAt !== null || record.expiresAt <= now || sessionEnd(record.familyCreatedAt) <= now) return 'invalid' as const
        await repository.revokeFamily(record.familyId, record.spentAt === null ? 'logout' : 'reuse', now)
        return record.spentAt === null ? 'revoked' as const : 'reused' as const
      })
      if (outcome !== 'revoked') throw new UnauthorizedError(INVALID)
    }
  }
}
