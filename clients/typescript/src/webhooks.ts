/**
 * For receivers of taskforge's webhooks (API.md, "Webhooks"): checks a
 * delivery's Standard Webhooks signature and gives its event. An entry point of
 * its own (@taskforge/client/webhooks), so that apps that only call the API
 * never load it.
 */
import { Webhook, WebhookVerificationError as StandardWebhookError } from 'standardwebhooks'
import type { Task } from './types.js'

export type TaskEventType = 'task.created' | 'task.updated' | 'task.completed' | 'task.deleted'

/** A delivery's body. task.deleted carries only the task's id. */
export type WebhookEvent =
  | { type: 'task.created' | 'task.updated' | 'task.completed'; timestamp: string; data: { task: Task } }
  | { type: 'task.deleted'; timestamp: string; data: { task: { id: string } } }

export interface VerifiedWebhook {
  /** webhook-id: the same on every retry of a delivery; drop a delivery whose id you have seen. */
  id: string
  event: WebhookEvent
}

/** Headers as fetch's Request has them, or as node:http's IncomingMessage does. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>

export interface VerifyWebhookInput {
  /** The body exactly as received: its bytes, or its text. Parse it only after verifying. */
  payload: string | Uint8Array
  headers: WebhookHeaders
  /** The webhook's secret ("whsec_…"); two while you move to a rotated one: either may match. */
  secret: string | readonly string[]
}

/** Why a delivery was refused: a missing header, a stale timestamp, no matching signature. Answer it with a 400. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError'
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Checks that a delivery was signed with the secret (any of the v1 signatures
 * in webhook-signature, as during the sender's rotation, when it signs with
 * both secrets) and is no more than five minutes from now, then returns its
 * id and event. Throws WebhookVerificationError otherwise.
 */
export function verifyWebhook ({ payload, headers, secret }: VerifyWebhookInput): VerifiedWebhook {
  const text = payloadText(payload)
  const wanted = {
    'webhook-id': header(headers, 'webhook-id'),
    'webhook-timestamp': header(headers, 'webhook-timestamp'),
    'webhook-signature': header(headers, 'webhook-signature')
  }
  const secrets = typeof secret === 'string' ? [secret] : secret
  if (secrets.length === 0) throw new TypeError('verifyWebhook needs the webhook\'s secret')
  let failure: unknown
  for (const candidate of secrets) {
    try {
      // The sender's JSON is trusted once its signature is: typed, not validated again.
      const event = new Webhook(candidate).verify(text, wanted) as WebhookEvent
      return { id: wanted['webhook-id'], event }
    } catch (error) {
      if (!(error instanceof StandardWebhookError)) throw error
      failure = error
    }
  }
  throw new WebhookVerificationError((failure as Error).message, { cause: failure })
}

function payloadText (payload: string | Uint8Array): string {
  if (typeof payload === 'string') return payload
  try {
    return decoder.decode(payload)
  } catch (error) {
    throw new WebhookVerificationError('The payload is not UTF-8 text', { cause: error })
  }
}

// Duck-typed: a Headers of another realm or library (undici's, node-fetch's) is not an instance of this one.
function isHeaders (headers: WebhookHeaders): headers is Headers {
  return typeof headers.get === 'function'
}

/** One header's value, '' when absent (the check then fails as "missing required headers"). */
function header (headers: WebhookHeaders, name: string): string {
  if (isHeaders(headers)) return headers.get(name) ?? ''
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(' ') : value ?? ''
  }
  return ''
}
