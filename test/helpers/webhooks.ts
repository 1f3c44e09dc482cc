import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { Webhook } from 'standardwebhooks'
import { bearer } from './auth.js'
import { eventually } from './jobs.js'

/** For apps that deliver to receivers on 127.0.0.1 quickly: private URLs allowed, short polls and retries. */
export const DELIVERY_TEST_ENVIRONMENT = {
  WEBHOOKS_ALLOW_PRIVATE_URLS: 'true',
  JOBS_POLL_INTERVAL_MS: '50',
  WEBHOOKS_RETRY_BASE_MS: '50',
  WEBHOOKS_MAX_ATTEMPTS: '3'
} as const

export interface ReceivedRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: string
  at: number
}

/** What the receiver does with a request: answer with a status, later (a promise of one), or never ('hang'). */
export type ReceiverAnswer = number | 'hang' | Promise<number>

export interface Receiver {
  url: string
  requests: ReceivedRequest[]
  /** Waits until `count` requests have arrived (or fails after timeoutMs). */
  waitFor: (count: number, timeoutMs?: number) => Promise<ReceivedRequest[]>
  /** Changes how the next requests are answered. */
  answer: (next: (request: ReceivedRequest, index: number) => ReceiverAnswer) => void
  /** The most requests it has had unanswered at once. */
  maxConcurrent: () => number
}

/** A real HTTP receiver on 127.0.0.1 that records every request; closed (hung requests cut) when the test ends. */
export async function startReceiver (
  t: Test, answer: (request: ReceivedRequest, index: number) => ReceiverAnswer = () => 204
): Promise<Receiver> {
  let decide = answer
  const requests: ReceivedRequest[] = []
  const hung: ServerResponse[] = []
  let open = 0
  let maxOpen = 0
  const server = createServer((request, response) => {
    open += 1
    maxOpen = Math.max(maxOpen, open)
    response.once('close', () => { open -= 1 })
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const received = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now()
      }
      requests.push(received)
      const outcome = decide(received, requests.length - 1)
      if (outcome === 'hang') {
        hung.push(response)
        return
      }
      const send = (status: number) => { response.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? '' : 'not now') }
      if (typeof outcome === 'number') send(outcome)
      else void outcome.then(send)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    for (const response of hung) response.destroy()
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    waitFor: (count, timeoutMs = 20_000) =>
      eventually(async () => requests.length >= count && requests, timeoutMs, `${count} requests at the receiver (${requests.length} so far)`),
    answer: (next) => { decide = next },
    maxConcurrent: () => maxOpen
  }
}

export interface WebhookBody {
  id: string
  url: string
  events: string[]
  description: string
  enabled: boolean
  createdAt: string
  updatedAt: string
  secret?: string
}

export interface DeliveryBody {
  id: string
  webhookId: string
  eventType: string
  status: 'pending' | 'delivered' | 'failed'
  attempts: number
  lastAttemptAt: string | null
  lastStatusCode: number | null
  lastError: string | null
  createdAt: string
}

/**
 * Waits until no delivery is pending: what the receivers have by then is all they will get (every job of a
 * delivery looks at its status first; a fallback job left in the queue finds it delivered and does nothing).
 */
export async function noDeliveryPending (app: FastifyInstance, timeoutMs = 30_000): Promise<void> {
  await eventually(async () => {
    const [row] = await app.sql<{ pending: number }[]>`select count(*)::int as pending from webhook_deliveries where status = 'pending'`
    return row?.pending === 0
  }, timeoutMs, 'no webhook delivery pending')
}

/** A client for one user's webhooks over HTTP. */
export function webhooksClient (app: FastifyInstance, accessToken: string) {
  const headers = bearer(accessToken)
  return {
    create: (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/webhooks', headers, payload }),
    async createWebhook (url: string, events: string[] = ['task.created', 'task.updated', 'task.completed', 'task.deleted']): Promise<WebhookBody & { secret: string }> {
      const response = await app.inject({ method: 'POST', url: '/webhooks', headers, payload: { url, events } })
      if (response.statusCode !== 201) throw new Error(`webhook create failed: ${response.statusCode} ${response.body}`)
      return response.json()
    },
    list: () => app.inject({ method: 'GET', url: '/webhooks', headers }),
    get: (id: string) => app.inject({ method: 'GET', url: `/webhooks/${id}`, headers }),
    patch: (id: string, payload: Record<string, unknown>) => app.inject({ method: 'PATCH', url: `/webhooks/${id}`, headers, payload }),
    delete: (id: string) => app.inject({ method: 'DELETE', url: `/webhooks/${id}`, headers }),
    rotate: (id: string) => app.inject({ method: 'POST', url: `/webhooks/${id}/rotate-secret`, headers }),
    deliveries: (id: string, query = '') => app.inject({ method: 'GET', url: `/webhooks/${id}/deliveries${query}`, headers }),
    /** Every delivery of the webhook, newest first, once each has left 'pending' (or fails after timeoutMs). */
    async settledDeliveries (id: string, count: number, timeoutMs = 20_000): Promise<DeliveryBody[]> {
      return eventually(async () => {
        const items = (await app.inject({ method: 'GET', url: `/webhooks/${id}/deliveries?limit=100`, headers })).json<{ items: DeliveryBody[] }>().items
        return items.length >= count && items.every((item) => item.status !== 'pending') && items
      }, timeoutMs, `${count} settled deliveries`)
    }
  }
}

/** The event a request carries, after checking its signature with the standardwebhooks package (throws if it does not verify). */
export interface VerifiedEvent { type: string; timestamp: string; data: { task: Record<string, unknown> } }

export function verified (request: ReceivedRequest, secret: string): VerifiedEvent {
  return new Webhook(secret).verify(request.body, {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature'])
  }) as VerifiedEvent
}
