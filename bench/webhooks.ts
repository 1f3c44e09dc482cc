/**
 * The webhooks' part of the HTTP bench: a receiver on 127.0.0.1 that answers
 * 204 at once, a webhook of the "hooked" user subscribed to task.updated (so
 * the tasks-patch-webhook scenario pays for the outbox on every write), and
 * the delivery rate: changes sent as fast as the app takes them, timed from
 * the first one to the last delivery.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import autocannon from 'autocannon'
import postgres from 'postgres'
import { round } from './support.js'

export interface WebhookReceiver {
  url: string
  /** Requests received so far. */
  received: () => number
  /** When the last one arrived (performance.now()). */
  lastAt: () => number
  close: () => Promise<void>
}

export interface DeliveryRate {
  /** Changes sent, one event (and delivery) each. */
  events: number
  /** From the first change sent to the last delivery received. */
  seconds: number
  deliveredPerSecond: number
  /** The settings it ran with: WEBHOOKS_MAX_IN_FLIGHT (one webhook) and JOBS_CONCURRENCY. */
  maxInFlight: number
  jobsConcurrency: number
}

export async function startWebhookReceiver (): Promise<WebhookReceiver> {
  let received = 0
  let lastAt = 0
  const server = createServer((request, response) => {
    request.resume()
    request.once('end', () => {
      received += 1
      lastAt = performance.now()
      response.writeHead(204).end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received: () => received,
    lastAt: () => lastAt,
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    }
  }
}

/** Subscribes the user (by their access token) to task.updated at the receiver. */
export async function subscribe (appUrl: string, token: string, receiverUrl: string): Promise<void> {
  const response = await fetch(`${appUrl}/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ url: receiverUrl, events: ['task.updated'], description: 'benchmark receiver' })
  })
  if (response.status !== 201) throw new Error(`creating the benchmark webhook answered ${response.status}: ${await response.text()}`)
}

/** Waits until no delivery is pending (a backlog from the scenarios drained), for at most timeoutMs. */
export async function waitForDeliveries (databaseUrl: string, timeoutMs: number): Promise<void> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined })
  try {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const [row] = await sql<{ pending: number }[]>`select count(*)::int as pending from webhook_deliveries where status = 'pending'`
      if (row?.pending === 0) return
      if (Date.now() > deadline) throw new Error(`${row?.pending ?? '?'} webhook deliveries still pending after ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    await sql.end()
  }
}

/**
 * `events` PATCHes of the hooked user's tasks, 10 connections, then the wait
 * until the receiver has had them all: the delivery rate, bounded by the
 * webhook's in-flight cap and the worker's concurrency.
 */
export async function measureDeliveryRate (
  { appUrl, token, taskIds, receiver, events, timeoutMs, settings }: {
    appUrl: string
    token: string
    taskIds: string[]
    receiver: WebhookReceiver
    events: number
    timeoutMs: number
    settings: { maxInFlight: number; jobsConcurrency: number }
  }
): Promise<DeliveryRate> {
  const before = receiver.received()
  let next = 0
  const started = performance.now()
  const result = await autocannon({
    url: appUrl,
    connections: 10,
    amount: events,
    pipelining: 1,
    timeout: 10,
    requests: [{
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ priority: 'medium' }),
      setupRequest: (request) => {
        const id = taskIds[next % taskIds.length]
        next += 1
        return { ...request, path: `/tasks/${id ?? ''}` }
      }
    }]
  })
  const sent = result['2xx']
  const deadline = Date.now() + timeoutMs
  while (receiver.received() - before < sent) {
    if (Date.now() > deadline) throw new Error(`${receiver.received() - before} of ${sent} events delivered after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const seconds = (receiver.lastAt() - started) / 1000
  return { events: sent, seconds: round(seconds, 2), deliveredPerSecond: round(sent / seconds), ...settings }
}
