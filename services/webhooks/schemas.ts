/**
 * The webhooks concern's schemas and the types derived from them: a webhook as
 * its owner sees it, what a client writes into one, a delivery's record, and
 * the events a task change produces (API.md, "Webhooks").
 */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, StringEnum, Text } from '../../schemas.js'

export const TASK_EVENT_TYPES = ['task.created', 'task.updated', 'task.completed', 'task.deleted'] as const
export const TaskEventTypeSchema = StringEnum(TASK_EVENT_TYPES)
export type TaskEventType = Static<typeof TaskEventTypeSchema>

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const
export type DeliveryStatus = typeof DELIVERY_STATUSES[number]

/** At most this many webhooks per user. */
export const MAX_WEBHOOKS_PER_USER = 20

const writable = {
  url: Type.String({
    minLength: 1,
    maxLength: 2000,
    description: 'Where deliveries are POSTed: an absolute https URL that does not resolve to an internal address',
    examples: ['https://hooks.example.com/taskforge']
  }),
  events: Type.Array(TaskEventTypeSchema, {
    minItems: 1,
    maxItems: TASK_EVENT_TYPES.length,
    uniqueItems: true,
    description: 'The task events to send: a non-empty set',
    examples: [['task.created', 'task.completed']]
  }),
  description: Text({ maxLength: 500, description: 'For you: what this webhook is for; at most 500 characters, default ""', examples: ['Post to #done in chat'] }),
  enabled: Type.Boolean({ description: 'false: no events are recorded for it until it is enabled again' })
}

/** A webhook as its owner sees it; the secret is shown only in NewWebhook. */
export const WebhookSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  url: Type.String(),
  events: Type.Array(TaskEventTypeSchema),
  description: Type.String(),
  enabled: Type.Boolean({ description: 'false after you disabled it, or after five days in which every delivery failed' }),
  createdAt: DateTime(),
  updatedAt: DateTime()
}, {
  $id: 'Webhook',
  title: 'Webhook',
  examples: [{
    id: '0b9a3c0e-5f57-4a8e-9d3b-2c6f1e7a4d10',
    url: 'https://hooks.example.com/taskforge',
    events: ['task.created', 'task.completed'],
    description: 'Post to #done in chat',
    enabled: true,
    createdAt: '2026-11-24T14:00:00.000Z',
    updatedAt: '2026-11-24T14:00:00.000Z'
  }]
})
export type Webhook = Static<typeof WebhookSchema>

export const NewWebhookSchema = Type.Object({
  ...WebhookSchema.properties,
  secret: Type.String({
    pattern: '^whsec_[A-Za-z0-9+/]{43}=$',
    description: 'The signing secret, "whsec_" + base64 of 32 random bytes: shown this once. Verify deliveries with it (Standard Webhooks).',
    examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw8ePzbDW5lSo=']
  })
}, {
  $id: 'NewWebhook',
  title: 'NewWebhook',
  description: 'A Webhook with its secret, shown once: at creation and at each rotation'
})
export type NewWebhook = Static<typeof NewWebhookSchema>

export const WebhookInputSchema = Type.Object({
  url: writable.url,
  events: writable.events,
  description: Type.Optional(writable.description)
}, { additionalProperties: false })
export type WebhookInput = Static<typeof WebhookInputSchema>

/** Any subset of the writable fields. */
export const WebhookPatchSchema = Type.Partial(Type.Object(writable), { additionalProperties: false })
export type WebhookPatch = Static<typeof WebhookPatchSchema>

export const DeliverySchema = Type.Object({
  id: Type.String({ format: 'uuid', description: 'Also the webhook-id header of its every attempt' }),
  webhookId: Type.String({ format: 'uuid' }),
  eventType: TaskEventTypeSchema,
  status: StringEnum(DELIVERY_STATUSES, { description: 'pending (not yet answered with a 2xx; retried), delivered, or failed (out of attempts)' }),
  attempts: Type.Integer({ minimum: 0 }),
  lastAttemptAt: Type.Union([DateTime(), Type.Null()]),
  lastStatusCode: Type.Union([Type.Integer({ description: 'The receiver\'s status code at the last attempt' }), Type.Null()]),
  lastError: Type.Union([Type.String({ description: 'Why the last attempt failed (a status, a time-out, a refused connection or address)' }), Type.Null()]),
  createdAt: DateTime()
}, {
  $id: 'Delivery',
  title: 'Delivery',
  examples: [{
    id: '6f1c2a9e-8d4b-4e1f-a3c7-5b9d0e2f4a68',
    webhookId: '0b9a3c0e-5f57-4a8e-9d3b-2c6f1e7a4d10',
    eventType: 'task.completed',
    status: 'pending',
    attempts: 2,
    lastAttemptAt: '2026-11-24T14:01:15.000Z',
    lastStatusCode: 503,
    lastError: 'the receiver answered 503',
    createdAt: '2026-11-24T14:01:00.000Z'
  }]
})
export type Delivery = Static<typeof DeliverySchema>
