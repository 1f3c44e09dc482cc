import fp from 'fastify-plugin'
import type { Queryable } from '../db/client.js'
import { unitOfWork } from '../db/transaction.js'
import { createDeliveriesRepository } from '../db/webhooks/deliveries-repository.js'
import { createWebhooksRepository } from '../db/webhooks/webhooks-repository.js'
import { tracedService } from '../observability/tracing.js'
import { systemClock, type Clock } from '../services/clock.js'
import type { TaskEvents } from '../services/tasks/task-events.js'
import { systemResolver, type HostResolver } from '../services/webhooks/address-policy.js'
import { createDeliveryCursors } from '../services/webhooks/delivery-cursor.js'
import { createWebhookOutbox } from '../services/webhooks/outbox.js'
import { createWebhooksService, type WebhooksService } from '../services/webhooks/webhooks.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** A user's webhooks: every method acts for one user and sees only that user's webhooks. */
    webhooks: WebhooksService
    /** The webhooks' outbox in a transaction of yours (the task service's): within(tx).record(change). */
    webhookOutbox: { within: (tx: Queryable) => TaskEvents }
  }
}

export interface WebhooksPluginOptions {
  /** The time rotations and deliveries see; tests move it. */
  clock?: Clock
  /** How URLs' host names are resolved for the address check at save (the system's resolver by default); tests inject one. */
  resolveHost?: HostResolver
}

/**
 * Webhooks: decorates app.webhooks (the service behind the /webhooks routes,
 * checking every URL against the address policy when it is saved) and
 * app.webhookOutbox (which the task service writes its changes' events into,
 * in its own transaction). Deliveries run on the job channel (the
 * webhook-delivery job, services/webhooks/delivery.ts). Its delivery-log
 * cursors are signed with a key derived from JWT_SECRET.
 */
export default fp<WebhooksPluginOptions>(async (app, { clock = systemClock, resolveHost = systemResolver }) => {
  const { tracer, log } = app.observability
  app.decorate('webhooks', tracedService(tracer, 'webhooks', createWebhooksService({
    webhooks: createWebhooksRepository(app.sql),
    deliveries: createDeliveriesRepository(app.sql),
    inTransaction: unitOfWork(app.sql, (tx) => ({ webhooks: createWebhooksRepository(tx) })),
    policy: { allowPrivate: app.config.webhooks.allowPrivateUrls, resolve: resolveHost },
    cursors: createDeliveryCursors(app.config.auth.jwtSecret),
    clock,
    log
  })))
  app.decorate('webhookOutbox', {
    within: (tx: Queryable) => createWebhookOutbox({ deliveries: createDeliveriesRepository(tx), jobs: app.jobs.within(tx) })
  })
}, { name: 'webhooks', dependencies: ['config', 'observability', 'db', 'jobs'] })
