import type { FastifyBaseLogger } from 'fastify'
import type { DeliveriesRepository, DeliveryTarget } from '../../db/webhooks/deliveries-repository.js'
import type { WebhooksRepository } from '../../db/webhooks/webhooks-repository.js'
import type { UnitOfWork } from '../../db/transaction.js'
import type { JobEnqueuer } from '../../plugins/jobs/queue.js'
import type { Clock } from '../clock.js'
import type { AppJobCatalog } from '../jobs/catalog.js'
import type { AddressPolicy } from './address-policy.js'
import { attemptDelivery, type AttemptResult } from './http.js'
import { webhookRetryDelayMs } from './retry.js'
import type { DeliveryStatus } from './schemas.js'
import { signDelivery } from './signing.js'

/** A webhook whose deliveries have all failed for this long is disabled, and its owner emailed. */
export const DISABLE_AFTER_MS = 5 * 86_400_000
/** An attempt's slot is held for its time-out plus this (its bookkeeping); a crashed attempt's slot frees itself then. */
export const SLOT_MARGIN_MS = 5000
/**
 * A delivery waiting for a slot is woken by the next attempt of its webhook
 * that ends; in case that never comes (its attempt's worker died), its job
 * also runs again after about this long.
 */
export const WAIT_FALLBACK_MS = 30_000

export interface WebhookDeliverySettings {
  timeoutMs: number
  maxAttempts: number
  retryBaseMs: number
  /** Attempts one webhook may have in flight at once. */
  maxInFlight: number
}

export interface WebhookDelivererOptions {
  /** Bookkeeping that commits together: a slot and a hand-back, an outcome and the next attempt's job. */
  inTransaction: UnitOfWork<{ deliveries: DeliveriesRepository; webhooks: WebhooksRepository; jobs: JobEnqueuer<AppJobCatalog> }>
  policy: AddressPolicy
  settings: WebhookDeliverySettings
  clock: Clock
  log: FastifyBaseLogger
  /** Called once an attempt's outcome is recorded (metrics). */
  onAttempt?: (outcome: 'delivered' | 'retried' | 'failed') => void
  random?: () => number
}

export interface DeliveryJob {
  deliveryId: string
  attempt: number
}

/** The Standard Webhooks body of a delivery: the same bytes on every attempt. */
export function deliveryBody (target: Pick<DeliveryTarget, 'eventType' | 'occurredAt' | 'data'>): string {
  return JSON.stringify({ type: target.eventType, timestamp: target.occurredAt.toISOString(), data: target.data })
}

/** The secrets that sign at `now`: the current one, and the one it replaced while the rotation's overlap lasts. */
export function signingSecrets (target: Pick<DeliveryTarget, 'secret' | 'previousSecret' | 'previousSecretUntil'>, now: number): Buffer[] {
  const previousSigns = target.previousSecret !== null && target.previousSecretUntil !== null && target.previousSecretUntil.getTime() > now
  return previousSigns && target.previousSecret !== null ? [target.secret, target.previousSecret] : [target.secret]
}

/**
 * The webhook-delivery job: one attempt of one delivery. The delivery row
 * keeps the attempt count and the outcome; a failed attempt schedules the
 * next one as a new job (WEBHOOKS_RETRY_BASE_MS, growing), in the same
 * transaction that records it, so the schedule is the webhooks' own and a
 * crash at any point loses nothing: the job's lease runs out and the attempt
 * runs again (at least once: receivers drop repeats by webhook-id). An
 * attempt first takes one of its webhook's WEBHOOKS_MAX_IN_FLIGHT slots;
 * when none is free the delivery waits, no attempt counted, until an attempt
 * of its webhook ends and wakes it (the oldest waiting first), so a slow
 * receiver holds its own webhook's slots and no more.
 */
export function createWebhookDeliverer (options: WebhookDelivererOptions) {
  const { inTransaction, policy, settings, clock, log } = options
  const random = options.random ?? Math.random

  /** The fallback of a delivery that waits: its job again in about delayMs (give or take a quarter). */
  async function tryAgainLater (job: DeliveryJob, jobs: JobEnqueuer<AppJobCatalog>, delayMs: number): Promise<void> {
    await jobs.enqueue('webhook-delivery', job, { runAt: new Date(Date.now() + delayMs * (0.75 + random() * 0.5)) })
  }

  async function record (target: DeliveryTarget, job: DeliveryJob, result: AttemptResult, at: Date): Promise<void> {
    const attempts = job.attempt + 1
    const retryInMs = result.ok || attempts >= settings.maxAttempts ? null : webhookRetryDelayMs(attempts, settings.retryBaseMs, random)
    const status: DeliveryStatus = result.ok ? 'delivered' : retryInMs === null ? 'failed' : 'pending'
    const context = { deliveryId: target.id, webhookId: target.webhookId, eventType: target.eventType, attempts }
    const recorded = await inTransaction(async ({ deliveries, webhooks, jobs }) => {
      const outcome = { status, at, statusCode: result.statusCode, error: result.error }
      // Without the lock a claim could mark its delivery waiting after this looked for waiters: woken by no one.
      await webhooks.lockForSlots(target.webhookId)
      if (!await deliveries.recordAttempt(target.id, job.attempt, outcome)) {
        log.warn(context, 'webhook attempt already recorded by another run of its job: this run\'s outcome is dropped')
        return false
      }
      // Its slot is free: the delivery of this webhook that has waited longest for one goes now.
      const next = await deliveries.wakeNextWaiting(target.webhookId)
      if (next !== null) await jobs.enqueue('webhook-delivery', { deliveryId: next.id, attempt: next.attempts })
      if (result.ok) {
        await webhooks.markWorking(target.webhookId)
        log.info({ ...context, statusCode: result.statusCode }, 'webhook delivered')
        return true
      }
      if (retryInMs !== null) {
        await jobs.enqueue('webhook-delivery', { deliveryId: target.id, attempt: attempts }, { runAt: new Date(Date.now() + retryInMs) })
        log.warn({ ...context, statusCode: result.statusCode, error: result.error, retryInMs }, 'webhook attempt failed; will retry')
      } else {
        log.error({ ...context, statusCode: result.statusCode, error: result.error }, 'webhook delivery failed: out of attempts')
      }
      const disabled = await webhooks.markFailing(target.webhookId, at, DISABLE_AFTER_MS)
      if (disabled !== null) {
        await jobs.enqueue('webhook-disabled-email', {
          webhookId: target.webhookId, email: disabled.email, url: disabled.url, failingSince: disabled.failingSince.toISOString()
        })
        log.warn({ webhookId: target.webhookId, failingSince: disabled.failingSince }, 'webhook disabled: every delivery failed for five days')
      }
      return true
    })
    if (recorded) options.onAttempt?.(result.ok ? 'delivered' : retryInMs === null ? 'failed' : 'retried')
  }

  /**
   * The delivery, if this job should attempt it now, with one of its
   * webhook's slots taken; null when there is nothing to do now: the delivery
   * is gone, finished or attempted since (a stale job), its webhook was
   * disabled (it is failed), it waits for a slot, or another job of it holds one.
   */
  async function claim (job: DeliveryJob): Promise<DeliveryTarget | null> {
    const leaseMs = settings.timeoutMs + SLOT_MARGIN_MS
    return inTransaction(async ({ deliveries, jobs }) => {
      const target = await deliveries.findTargetLocked(job.deliveryId)
      if (target === null || target.status !== 'pending' || target.attempts !== job.attempt) return null
      if (!target.enabled) {
        await deliveries.abandon(target.id, job.attempt, 'the webhook was disabled before this delivery went out')
        return null
      }
      if (target.inFlight) {
        // That attempt may belong to a worker that died: once its slot's lease is over, this job looks again.
        await tryAgainLater(job, jobs, leaseMs * 4 / 3)
        return null
      }
      if (!await deliveries.takeSlot(target.webhookId, target.id, settings.maxInFlight, leaseMs)) {
        await deliveries.markWaiting(target.id)
        await tryAgainLater(job, jobs, WAIT_FALLBACK_MS)
        log.debug({ deliveryId: target.id, webhookId: target.webhookId }, 'webhook at its in-flight cap: the delivery waits')
        return null
      }
      return target
    })
  }

  return async function deliver (job: DeliveryJob, { signal }: { signal: AbortSignal }): Promise<void> {
    const target = await claim(job)
    if (target === null) return
    const at = new Date(clock())
    const body = deliveryBody(target)
    const result = await attemptDelivery({
      url: target.url,
      body,
      // webhook-timestamp is wire time, which receivers check against their own clocks; the app's clock decides the rest.
      headers: { ...signDelivery(target.id, new Date(), body, signingSecrets(target, at.getTime())) },
      timeoutMs: settings.timeoutMs,
      policy,
      signal
    })
    // Stopped by the worker (shutdown, lost lease): the job runs again; this attempt's slot frees itself when its lease ends.
    signal.throwIfAborted()
    await record(target, job, result, at)
  }
}
