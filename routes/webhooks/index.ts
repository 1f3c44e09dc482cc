import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { DeliverySchema, NewWebhookSchema, WebhookInputSchema, WebhookPatchSchema, WebhookSchema } from '../../services/webhooks/schemas.js'
import { noStore } from '../no-store.js'
import { NoContent } from '../shared-schemas.js'
import type { RouteScope } from './route-scope.js'
import {
  DEFAULT_DELIVERIES_PAGE_SIZE, DeliveriesQuery, DeliveryPage, NewWebhookRef, problems, WebhookList, WebhookParams, WebhookRef
} from './schemas.js'

const security = [{ bearerAuth: [] }]
const tags = ['webhooks']
// A session, or a personal access token with the webhooks scope.
const config: { scope: RouteScope } = { scope: 'webhooks' }

/** Link: <…>; rel="next" for the page after this one. */
function nextLink (request: FastifyRequest, cursor: string): string {
  const url = new URL(request.url, 'http://localhost')
  url.searchParams.set('cursor', cursor)
  return `<${url.pathname}${url.search}>; rel="next"`
}

const webhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { webhooks } = app
  app.addSchema(WebhookSchema)
  app.addSchema(NewWebhookSchema)
  app.addSchema(DeliverySchema)
  app.addHook('onRequest', app.authenticate)

  app.post('/webhooks', {
    config,
    schema: {
      tags,
      operationId: 'createWebhook',
      summary: 'Create a webhook',
      description: 'Task events you choose are POSTed to the URL, signed per Standard Webhooks with the secret in the answer ' +
        '(shown this once). The URL must be https and must not resolve to an internal address. At most 20 webhooks per user.',
      security,
      body: WebhookInputSchema,
      response: { 201: NewWebhookRef, 400: problems[400], 401: problems[401], 403: problems[403], 429: problems[429] }
    },
    onSend: noStore
  }, async (request, reply) => {
    const webhook = await webhooks.create(request.user.id, request.body)
    return reply.code(201).header('Location', `/webhooks/${webhook.id}`).send(webhook)
  })

  app.get('/webhooks', {
    config,
    schema: {
      tags,
      operationId: 'listWebhooks',
      summary: 'List your webhooks',
      description: 'Every webhook of yours, oldest first, without its secret.',
      security,
      response: { 200: WebhookList, 401: problems[401], 403: problems[403], 429: problems[429] }
    }
  }, async (request) => ({ items: await webhooks.list(request.user.id) }))

  app.get('/webhooks/:id', {
    config,
    schema: {
      tags,
      operationId: 'getWebhook',
      summary: 'Read a webhook',
      description: 'Without its secret; another user\'s webhook is a 404, as a missing one is.',
      security,
      params: WebhookParams,
      response: { 200: WebhookRef, 401: problems[401], 403: problems[403], 404: problems[404], 429: problems[429] }
    }
  }, async (request) => webhooks.get(request.user.id, request.params.id))

  app.patch('/webhooks/:id', {
    config,
    schema: {
      tags,
      operationId: 'updateWebhook',
      summary: 'Change a webhook',
      description: 'Any subset of url, events, description and enabled. A new URL is checked as at creation. ' +
        'Enabling a webhook that was disabled after five days of failures starts its count afresh.',
      security,
      params: WebhookParams,
      body: WebhookPatchSchema,
      response: { 200: WebhookRef, 400: problems[400], 401: problems[401], 403: problems[403], 404: problems[404], 429: problems[429] }
    }
  }, async (request) => webhooks.update(request.user.id, request.params.id, request.body))

  app.delete('/webhooks/:id', {
    config,
    schema: {
      tags,
      operationId: 'deleteWebhook',
      summary: 'Delete a webhook',
      description: 'Its pending deliveries are dropped with it.',
      security,
      params: WebhookParams,
      response: { 204: NoContent, 401: problems[401], 403: problems[403], 404: problems[404], 429: problems[429] }
    }
  }, async (request, reply) => {
    await webhooks.remove(request.user.id, request.params.id)
    return reply.code(204).send(null)
  })

  app.post('/webhooks/:id/rotate-secret', {
    config,
    schema: {
      tags,
      operationId: 'rotateWebhookSecret',
      summary: 'Give a webhook a new secret',
      description: 'The answer shows the new secret, this once. The old one keeps signing beside it for 24 hours ' +
        '(webhook-signature then carries two signatures), time to move your receiver to the new one.',
      security,
      params: WebhookParams,
      response: { 200: NewWebhookRef, 401: problems[401], 403: problems[403], 404: problems[404], 429: problems[429] }
    },
    onSend: noStore
  }, async (request) => webhooks.rotateSecret(request.user.id, request.params.id))

  app.get('/webhooks/:id/deliveries', {
    config,
    schema: {
      tags,
      operationId: 'listWebhookDeliveries',
      summary: 'The webhook\'s deliveries, newest first',
      description: 'One delivery per event: its status, attempts, and the last attempt\'s status code and error. ' +
        'Delivered ones are kept for 30 days, failed ones for 90.',
      security,
      params: WebhookParams,
      querystring: DeliveriesQuery,
      response: { 200: DeliveryPage, 400: problems[400], 401: problems[401], 403: problems[403], 404: problems[404], 429: problems[429] }
    }
  }, async (request, reply) => {
    const { limit = DEFAULT_DELIVERIES_PAGE_SIZE, cursor } = request.query
    const page = await webhooks.deliveries(request.user.id, request.params.id, { limit, cursor })
    if (page.nextCursor !== null) reply.header('Link', nextLink(request, page.nextCursor))
    return page
  })
}

export default webhookRoutes
