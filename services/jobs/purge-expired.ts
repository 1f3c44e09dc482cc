import type { FastifyBaseLogger } from 'fastify'
import type { PersonalAccessTokensRepository } from '../../db/auth/personal-access-tokens-repository.js'
import type { RefreshTokensRepository } from '../../db/auth/refresh-tokens-repository.js'
import type { IdempotencyRepository } from '../../db/tasks/idempotency-repository.js'
import type { DeliveriesRepository } from '../../db/webhooks/deliveries-repository.js'

/**
 * How long a dead refresh-token family (expired, or revoked at logout or on
 * reuse) is kept before it is purged. While it is kept, one of its spent tokens
 * shown again is still recognised as reuse (logged as a theft warning), a
 * revoked one is answered "revoked" rather than "invalid", and the row with
 * its revoked_reason is there for whoever investigates. A week covers a
 * weekend's delay in looking at such a warning; past it, a token of the family
 * is merely unknown, which is just as refused.
 */
export const DEAD_FAMILY_GRACE_MS = 7 * 86_400_000

/**
 * How long a revoked or expired personal access token is kept: as long as a
 * dead login, for the same reasons (it is answered "revoked" or "expired"
 * rather than "invalid", and its row is there for whoever investigates).
 */
export const DEAD_TOKEN_GRACE_MS = DEAD_FAMILY_GRACE_MS
/** Delivered webhook deliveries are kept this long in the owner's deliveries log. */
export const DELIVERED_RETENTION_MS = 30 * 86_400_000
/** Failed ones longer, for whoever looks into why a receiver missed events; then they go too. */
export const FAILED_RETENTION_MS = 90 * 86_400_000

/** Rows per delete statement: each stays short (well under DB_STATEMENT_TIMEOUT_MS) and holds few locks. */
const BATCH_SIZE = 1000

export interface PurgeExpiredOptions {
  refreshTokens: RefreshTokensRepository
  personalAccessTokens: PersonalAccessTokensRepository
  idempotencyKeys: IdempotencyRepository
  webhookDeliveries: DeliveriesRepository
  /** The app's clock, the one that decided these rows' expiry. */
  now: Date
  signal: AbortSignal
  log: FastifyBaseLogger
}

export interface PurgeCounts {
  refreshTokenFamilies: number
  personalAccessTokens: number
  idempotencyKeys: number
  webhookDeliveries: number
}

/**
 * The purge-expired job: deletes, for every user, the refresh-token families
 * dead for longer than the grace period (with their tokens), the personal
 * access tokens revoked or expired as long ago, the idempotency keys past
 * their 24 hours, and webhook deliveries delivered more than 30 days ago
 * (failed: 90 days) with the events none of them needs any more. Safe to
 * repeat, and to stop at any batch: what is left goes at the next run.
 */
export async function purgeExpired (
  { refreshTokens, personalAccessTokens, idempotencyKeys, webhookDeliveries, now, signal, log }: PurgeExpiredOptions
): Promise<PurgeCounts> {
  const ago = (ms: number) => new Date(now.getTime() - ms)
  const counts = {
    refreshTokenFamilies: await inBatches(signal, (limit) => refreshTokens.purgeDeadFamilies(ago(DEAD_FAMILY_GRACE_MS), limit)),
    personalAccessTokens: await inBatches(signal, (limit) => personalAccessTokens.purgeDead(ago(DEAD_TOKEN_GRACE_MS), limit)),
    idempotencyKeys: await inBatches(signal, (limit) => idempotencyKeys.purgeAllExpired(now, limit)),
    webhookDeliveries: await inBatches(signal, (limit) => webhookDeliveries.purgeFinished('delivered', ago(DELIVERED_RETENTION_MS), limit)) +
      await inBatches(signal, (limit) => webhookDeliveries.purgeFinished('failed', ago(FAILED_RETENTION_MS), limit))
  }
  // An event goes once its deliveries have; the youngest a purged delivery can be bounds the events looked at.
  await inBatches(signal, (limit) => webhookDeliveries.purgeOrphanEvents(ago(DELIVERED_RETENTION_MS), limit))
  const purged = counts.refreshTokenFamilies + counts.personalAccessTokens + counts.idempotencyKeys + counts.webhookDeliveries
  log[purged > 0 ? 'info' : 'debug'](counts, 'purged expired refresh-token families, personal access tokens, idempotency keys and webhook deliveries')
  return counts
}

async function inBatches (signal: AbortSignal, purge: (limit: number) => Promise<number>): Promise<number> {
  let total = 0
  for (;;) {
    signal.throwIfAborted()
    const count = await purge(BATCH_SIZE)
    total += count
    if (count < BATCH_SIZE) return total
  }
}
