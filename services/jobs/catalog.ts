import { Type } from '@sinclair/typebox'
import { UUID_PATTERN } from '../../db/uuid.js'
import type { JobDefinition } from '../../plugins/jobs/definitions.js'

/** How often the purge of expired credentials and keys runs. */
export const PURGE_EXPIRED_EVERY_MS = 3_600_000

/** Every job type of the app, in one place. Payloads are checked against these at enqueue time. */
export const jobCatalog = {
  'welcome-email': {
    payload: Type.Object({
      userId: Type.String({ pattern: UUID_PATTERN }),
      email: Type.String({ minLength: 3, maxLength: 254 }),
      name: Type.Union([Type.String(), Type.Null()])
    }, { additionalProperties: false }),
    timeoutMs: 60_000
  },
  // One attempt of a webhook delivery (services/webhooks/delivery.ts); the delivery keeps its own count and
  // schedules its next attempt as a new job, so this job fails only when recording fails (the database is away).
  'webhook-delivery': {
    payload: Type.Object({
      deliveryId: Type.String({ pattern: UUID_PATTERN }),
      /** Attempts the delivery had when this job was enqueued: a job that finds another count is a stale twin. */
      attempt: Type.Integer({ minimum: 0 })
    }, { additionalProperties: false }),
    maxAttempts: 10,
    // Above WEBHOOKS_TIMEOUT_MS's largest value (30 s), with room for the bookkeeping.
    timeoutMs: 60_000
  },
  'webhook-disabled-email': {
    payload: Type.Object({
      webhookId: Type.String({ pattern: UUID_PATTERN }),
      email: Type.String({ minLength: 3, maxLength: 254 }),
      url: Type.String({ minLength: 1, maxLength: 2000 }),
      failingSince: Type.String({ minLength: 20, maxLength: 30, description: 'RFC 3339' })
    }, { additionalProperties: false }),
    timeoutMs: 60_000
  },
  // Dead refresh-token families and expired idempotency keys of every user (services/jobs/purge-expired.ts).
  'purge-expired': {
    payload: Type.Object({}, { additionalProperties: false }),
    every: PURGE_EXPIRED_EVERY_MS,
    // Deletes in batches of short statements; a large backlog may take a while.
    timeoutMs: 600_000
  }
} satisfies Record<string, JobDefinition>

export type AppJobCatalog = typeof jobCatalog
