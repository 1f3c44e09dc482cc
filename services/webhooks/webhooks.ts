import type { FastifyBaseLogger } from 'fastify'
import type { DeliveriesRepository } from '../../db/webhooks/deliveries-repository.js'
import type { StoredWebhook, WebhookChanges, WebhooksRepository } from '../../db/webhooks/webhooks-repository.js'
import type { UnitOfWork } from '../../db/transaction.js'
import { BadRequestError, NotFoundError } from '../../errors.js'
import type { Clock } from '../clock.js'
import { checkWebhookUrl, RefusedDestinationError, type AddressPolicy } from './address-policy.js'
import type { DeliveryCursors } from './delivery-cursor.js'
import { MAX_WEBHOOKS_PER_USER, type Delivery, type NewWebhook, type Webhook, type WebhookInput, type WebhookPatch } from './schemas.js'
import { formatSecret, newSecretBytes } from './signing.js'

/** After a rotation the previous secret signs beside the new one this long. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000

export type WebhooksService = ReturnType<typeof createWebhooksService>

export interface WebhooksServiceOptions {
  webhooks: WebhooksRepository
  deliveries: DeliveriesRepository
  /** A create's count and insert, under a lock on the user's row. */
  inTransaction: UnitOfWork<{ webhooks: WebhooksRepository }>
  policy: AddressPolicy
  cursors: DeliveryCursors
  clock: Clock
  log: FastifyBaseLogger
}

/** The public fields of a stored webhook, and nothing else (no secret). */
function toWebhook (row: StoredWebhook): Webhook {
  const { id, url, events, description, enabled, createdAt, updatedAt } = row
  return { id, url, events, description, enabled, createdAt, updatedAt }
}

/** A user's webhooks: every method acts for one user and sees only that user's webhooks. */
export function createWebhooksService ({ webhooks, deliveries, inTransaction, policy, cursors, clock, log }: WebhooksServiceOptions) {
  /** The URL as it will be used, after the form and address checks (400 naming the reason otherwise). */
  async function checkedUrl (url: string): Promise<string> {
    try {
      return (await checkWebhookUrl(url, policy)).href
    } catch (error) {
      if (error instanceof RefusedDestinationError) throw new BadRequestError(error.message)
      throw error
    }
  }

  async function owned (userId: string, id: string): Promise<StoredWebhook> {
    const row = await webhooks.findForUser(userId, id)
    if (row === null) throw new NotFoundError('Webhook not found')
    return row
  }

  return {
    async create (userId: string, input: WebhookInput): Promise<NewWebhook> {
      const url = await checkedUrl(input.url)
      const secret = newSecretBytes()
      const row = await inTransaction(({ webhooks }) => webhooks.createWithin(userId, {
        url, events: input.events, description: input.description ?? '', secret
      }, MAX_WEBHOOKS_PER_USER))
      if (row === null) throw new BadRequestError(`You have ${MAX_WEBHOOKS_PER_USER} webhooks, the most there may be: delete one first`)
      log.info({ userId, webhookId: row.id, host: new URL(url).host }, 'webhook created')
      return { ...toWebhook(row), secret: formatSecret(secret) }
    },

    async list (userId: string): Promise<Webhook[]> {
      return (await webhooks.listByUser(userId)).map(toWebhook)
    },

    async get (userId: string, id: string): Promise<Webhook> {
      return toWebhook(await owned(userId, id))
    },

    async update (userId: string, id: string, patch: WebhookPatch): Promise<Webhook> {
      const changes: WebhookChanges = { ...patch }
      // An unknown id is a 404 before a URL is judged (and resolved).
      if (patch.url !== undefined) {
        await owned(userId, id)
        changes.url = await checkedUrl(patch.url)
      }
      const row = await webhooks.update(userId, id, changes)
      if (row === null) throw new NotFoundError('Webhook not found')
      log.info({ userId, webhookId: id, changed: Object.keys(patch) }, 'webhook updated')
      return toWebhook(row)
    },

    async remove (userId: string, id: string): Promise<void> {
      if (!await webhooks.delete(userId, id)) throw new NotFoundError('Webhook not found')
      log.info({ userId, webhookId: id }, 'webhook deleted')
    },

    /** A new secret; the one it replaces keeps signing, beside it, for ROTATION_OVERLAP_MS. */
    async rotateSecret (userId: string, id: string): Promise<NewWebhook> {
      const secret = newSecretBytes()
      const row = await webhooks.rotateSecret(userId, id, secret, new Date(clock() + ROTATION_OVERLAP_MS))
      if (row === null) throw new NotFoundError('Webhook not found')
      log.info({ userId, webhookId: id }, 'webhook secret rotated')
      return { ...toWebhook(row), secret: formatSecret(secret) }
    },

    /** A page of the webhook's deliveries, newest first. */
    async deliveries (
      userId: string, id: string, request: { limit: number; cursor?: string | undefined }
    ): Promise<{ items: Delivery[]; nextCursor: string | null }> {
      await owned(userId, id)
      const after = request.cursor === undefined ? undefined : cursors.decode(userId, id, request.cursor)
      const rows = await deliveries.listByWebhook(id, request.limit, after)
      const items = rows.slice(0, request.limit)
      const last = items.at(-1)
      const nextCursor = rows.length > request.limit && last !== undefined ? cursors.encode(userId, id, last) : null
      return { items, nextCursor }
    }
  }
}
