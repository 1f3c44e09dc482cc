import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { DeliverySchema, NewWebhookSchema, WebhookInputSchema, WebhookPatchSchema, WebhookSchema } from '../../services/webhooks/schemas.js'
import { noStore } from '../no-store.js'
import { problems } from '../../plugins/problem.js'
import { NoContent, problemResponse, withHeaders } from '../shared-schemas.js'
import type { RouteScope } from '../../services/auth/scopes.js'
import {
  DEFAULT_DELIVERIES_PAGE_SIZE, DeliveriesQuery, DeliveryPage, NewWebhookRef, WebhookList, WebhookParams, WebhookRef
} from './schemas.js'

// A session, or a personal access token with the webhooks scope (the auth plugin authenticates and checks it).
const config: { scope: RouteScope } = { scope: 'webhooks' }

/** Link: <…>; rel="next" for the page after this one. */
function nextLink (request: FastifyRequest, cursor: string): string {
  const url = new URL(request.url, 'http://localhost')
  url.searchParams.set('cursor', cursor)
  return `<${url.pathname}${url.search}>; rel="next"`
}

// The rules a URL or a paging cursor can break beyond its schema (the shared 400s come from plugins/openapi.ts).
const refused = problemResponse('The URL is not https, has credentials or reaches an internal address; or you have 20 webhooks already', problems.badRequest)
const missing = problemResponse('No such webhook of yours (another user\'s, a deleted one and a malformed id alike)', problems.notFound)

const webhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { webhooks } = app
  app.addSchema(WebhookSchema)
  app.addSchema(NewWebhookSchema)
  app.addSchema(DeliverySchema)

  app.post('/webhooks', {
    config,
    schema: {
      operationId: 'createWebhook',
      summary: 'Create a webhook',
      description: 'Task events you choose are POSTed to the URL, signed per Standard Webhooks with the secret in the answer ' +
        '(shown this once). The URL must be https and must not resolve to an internal address. At most 20 webhooks per user.',
      body: WebhookInputSchema,
      response: { 201: withHeaders({ ...NewWebhookRef, description: 'The new webhook, with its secret shown this once' }, 'Location'), 400: refused }
    },
    onSend: noStore
  }, async (request, reply) => {
    const webhook = await webhooks.create(request.user.id, request.body)
    return reply.code(201).header('Location', `/webhooks/${webhook.id}`).send(webhook)
  })

  app.get('/webhooks', {
    config,
    schema: {
      operationId: 'listWebhooks',
      summary: 'List your webhooks',
      description: 'Every webhook of yours, oldest first, without its secret.',
      response: { 200: { ...WebhookList, description: 'Your webhooks' } }
    }
  }, async (request) => ({ items: await webhooks.list(request.user.id) }))

  app.get('/webhooks/:id', {
    config,
    schema: {
      operationId: 'getWebhook',
      summary: 'Read a webhook',
      description: 'Without its secret; another user\'s webhook is a 404, as a missing one is.',
      params: WebhookParams,
      response: { 200: { ...WebhookRef, description: 'The webhook' }, 404: missing }
    }
  }, async (request) => webhooks.get(request.user.id, request.params.id))

  app.patch('/webhooks/:id', {
    config,
    schema: {
      operationId: 'updateWebhook',
      summary: 'Change a webhook',
      description: 'Any subset of url, events, description and enabled. A new URL is checked as at creation. ' +
        'Enabling a webhook that was disabled after five days of failures starts its count afresh.',
      params: WebhookParams,
      body: WebhookPatchSchema,
      response: { 200: { ...WebhookRef, description: 'The webhook as it is now' }, 400: refused, 404: missing }
    }
  }, async (request) => webhooks.update(request.user.id, request.params.id, request.body))

  app.delete('/webhooks/:id', {
    config,
    schema: {
      operationId: 'deleteWebhook',
      summary: 'Delete a webhook',
      description: 'Its pending deliveries are dropped with it.',
      params: WebhookParams,
      response: { 204: { ...NoContent, description: 'Deleted' }, 404: missing }
    }
  }, async (request, reply) => {
    await webhooks.remove(request.user.id, request.params.id)
    return reply.code(204).send(null)
  })

  app.post('/webhooks/:id/rotate-secret', {
    config,
    schema: {
      operationId: 'rotateWebhookSecret',
      summary: 'Give a webhook a new secret',
      description: 'The answer shows the new secret, this once. The old one keeps signing beside it for 24 hours ' +
        '(webhook-signature then carries two signatures), time to move your receiver to the new one.',
      params: WebhookParams,
      response: { 200: { ...NewWebhookRef, description: 'The webhook with its new secret, shown this once' }, 404: missing }
    },
    onSend: noStore
  }, async (request) => webhooks.rotateSecret(request.user.id, request.params.id))

  app.get('/webhooks/:id/deliveries', {
    config,
    schema: {
      operationId: 'listWebhookDeliveries',
      summary: 'The webhook\'s deliveries, newest first',
      description: 'One delivery per event: its status, attempts, and the last attempt\'s status code and error. ' +
        'Delivered ones are kept for 30 days, failed ones for 90.',
      params: WebhookParams,
      querystring: DeliveriesQuery,
      response: {
        200: withHeaders({ ...DeliveryPage, description: 'A page of deliveries, newest first' }, 'Link'),
        400: problemResponse('The cursor is not valid for this list (start again without it)', problems.badRequest),
        404: missing
      }
    }
  }, async (request, reply) => {
    const { limit = DEFAULT_DELIVERIES_PAGE_SIZE, cursor } = request.query
    const page = await webhooks.deliveries(request.user.id, request.params.id, { limit, cursor })
    if (page.nextCursor !== null) reply.header('Link', nextLink(request, page.nextCursor))
    return page
  })
}

export default webhookRoutes
