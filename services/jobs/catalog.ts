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
  // Dead refresh-token families and expired idempotency keys of every user (services/jobs/purge-expired.ts).
  'purge-expired': {
    payload: Type.Object({}, { additionalProperties: false }),
    every: PURGE_EXPIRED_EVERY_MS,
    // Deletes in batches of short statements; a large backlog may take a while.
    timeoutMs: 600_000
  }
} satisfies Record<string, JobDefinition>

export type AppJobCatalog = typeof jobCatalog
