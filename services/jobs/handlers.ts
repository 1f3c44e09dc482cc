import type { FastifyBaseLogger } from 'fastify'
import type { PersonalAccessTokensRepository } from '../../db/auth/personal-access-tokens-repository.js'
import type { RefreshTokensRepository } from '../../db/auth/refresh-tokens-repository.js'
import type { IdempotencyRepository } from '../../db/tasks/idempotency-repository.js'
import type { DeliveriesRepository } from '../../db/webhooks/deliveries-repository.js'
import type { JobHandlers } from '../../plugins/jobs/definitions.js'
import type { Clock } from '../clock.js'
import type { Mailer } from '../mailer.js'
import type { DeliveryJob } from '../webhooks/delivery.js'
import { webhookDisabledEmail } from '../webhooks/disabled-email.js'
import type { AppJobCatalog } from './catalog.js'
import { purgeExpired } from './purge-expired.js'
import { welcomeEmail } from './welcome-email.js'

export interface JobHandlerDependencies {
  mailer: Mailer
  /** What the purge deletes: dead refresh-token families and personal access tokens (auth's), expired idempotency keys (tasks'). */
  refreshTokens: RefreshTokensRepository
  personalAccessTokens: PersonalAccessTokensRepository
  idempotencyKeys: IdempotencyRepository
  /** What the purge deletes of the webhooks': old finished deliveries and the events no delivery needs. */
  webhookDeliveries: DeliveriesRepository
  /** One attempt of a webhook delivery (services/webhooks/delivery.ts). */
  deliverWebhook: (job: DeliveryJob, context: { signal: AbortSignal }) => Promise<void>
  clock: Clock
  log: FastifyBaseLogger
}

/** What each job of the app does. */
export function createJobHandlers (
  { mailer, refreshTokens, personalAccessTokens, idempotencyKeys, webhookDeliveries, deliverWebhook, clock, log }: JobHandlerDependencies
): JobHandlers<AppJobCatalog> {
  return {
    'welcome-email': async (payload) => {
      await mailer.send(welcomeEmail(payload))
    },
    'webhook-delivery': async (payload, { signal }) => {
      await deliverWebhook(payload, { signal })
    },
    'webhook-disabled-email': async (payload) => {
      await mailer.send(webhookDisabledEmail(payload))
    },
    'purge-expired': async (_payload, { signal }) => {
      await purgeExpired({ refreshTokens, personalAccessTokens, idempotencyKeys, webhookDeliveries, now: new Date(clock()), signal, log })
    }
  }
}
