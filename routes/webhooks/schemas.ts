import { Type } from '@sinclair/typebox'
import type { DeliverySchema, NewWebhookSchema, WebhookSchema } from '../../services/webhooks/schemas.js'
import { reference } from '../shared-schemas.js'

export const WebhookRef = reference<typeof WebhookSchema>('Webhook')
export const NewWebhookRef = reference<typeof NewWebhookSchema>('NewWebhook')
export const DeliveryRef = reference<typeof DeliverySchema>('Delivery')

export const WebhookParams = Type.Object({ id: Type.String({ description: 'The webhook id (a UUID)' }) })

export const DEFAULT_DELIVERIES_PAGE_SIZE = 20

export const DeliveriesQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: DEFAULT_DELIVERIES_PAGE_SIZE, description: 'Deliveries per page, 1 to 100' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'nextCursor of the previous page' }))
}, { additionalProperties: false })

export const WebhookList = Type.Object({
  items: Type.Array(WebhookRef, { description: 'Your webhooks, oldest first (at most 20)' })
})

export const DeliveryPage = Type.Object({
  items: Type.Array(DeliveryRef, { description: 'Newest first' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next (older) page; null on the last page' })
})
