import { createHash, randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Sql } from '../db/client.js'
import { createRefreshTokensRepository } from '../db/refresh-tokens-repository.js'
import { UnauthorizedError } from '../errors.js'
import type { Clock } from './clock.js'

export interface RefreshTokenOptions {
  sql: Sql
  ttlSeconds: number
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

/**
 * Opaque refresh tokens that rotate: each use spends the token and returns its
 * successor in the same family (one family per login). A spent token shown
 * again means two parties hold the family, so the whole family is revoked.
 */
export function createRefreshTokens ({ sql, ttlSeconds, clock, log }: RefreshTokenOptions) {
  const expiresAt = (now: Date) => new Date(now.getTime() + ttlSeconds * 1000)

  return {
    /** Starts a new family for a login (or registration), clearing the user's dead ones. */
    async issueForLogin (userId: string): Promise<string> {
      const token = newToken()
      const now = new Date(clock())
      await sql.begin(async (tx) => {
        const repository = createRefreshTokensRepository(tx)
        await repository.purgeDeadFamilies(userId, now)
        await repository.createFamily(userId, hashToken(token), expiresAt(now))
      })
      return token
    },

    async rotate (token: string): Promise<RotatedRefreshToken> {
      const now = new Date(clock())
      const next = newToken()
      // The family row stays locked from the read to the commit: of two concurrent uses of one token, only the first rotates.
      const outcome = await sql.begin(async (tx) => {
        const repository = createRefreshTokensRepository(tx)
        const record = await repository.findAndLockFamily(hashToken(token))
        if (record === null) return { kind: 'unknown' } as const
        if (record.familyRevokedAt !== null) return { kind: 'revoked' } as const
        if (record.spentAt !== null) {
          await repository.revokeFamily(record.familyId, 'reuse', now)
          return { kind: 'reused', record } as const
        }
        if (record.expiresAt <= now) return { kind: 'expired' } as const
        await repository.rotate(hashToken(token), record.familyId, hashToken(next), expiresAt(now), now)
        return { kind: 'rotated', userId: record.userId } as const
      })

      switch (outcome.kind) {
        case 'rotated': return { userId: outcome.userId, refreshToken: next }
        case 'reused':
          log.warn({ userId: outcome.record.userId, familyId: outcome.record.familyId }, 'refresh token reused: token family revoked')
          throw new UnauthorizedError('The refresh token was already used; its session has been revoked')
        case 'revoked': throw new UnauthorizedError('The refresh token has been revoked')
        case 'expired': throw new UnauthorizedError('The refresh token has expired')
        case 'unknown': throw new UnauthorizedError(INVALID)
      }
    },

    /** Logout: revokes the family of a live token. Spent, expired or unknown tokens are refused like a refresh would. */
    async revoke (token: string): Promise<void> {
      const now = new Date(clock())
      const outcome = await sql.begin(async (tx) => {
        const repository = createRefreshTokensRepository(tx)
        const record = await repository.findAndLockFamily(hashToken(token))
        if (record === null || record.familyRevokedAt !== null || record.expiresAt <= now) return 'invalid' as const
        await repository.revokeFamily(record.familyId, record.spentAt === null ? 'logout' : 'reuse', now)
        return record.spentAt === null ? 'revoked' as const : 'reused' as const
      })
      if (outcome !== 'revoked') throw new UnauthorizedError(INVALID)
    }
  }
}
