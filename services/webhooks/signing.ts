import { createHmac, randomBytes } from 'node:crypto'

const SECRET_PREFIX = 'whsec_'
export const SECRET_BYTES = 32

/** A new signing secret's raw bytes. */
export function newSecretBytes (): Buffer {
  return randomBytes(SECRET_BYTES)
}

/** How the owner is shown a secret: "whsec_" + base64 of its bytes (Standard Webhooks). */
export function formatSecret (bytes: Buffer): string {
  return `${SECRET_PREFIX}${bytes.toString('base64')}`
}

export interface SignedHeaders {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

/**
 * Standard Webhooks headers for one attempt: `v1,` + base64 HMAC-SHA256 over
 * `{id}.{timestamp}.{body}` keyed with each secret's bytes, space-separated
 * (two during a rotation's overlap, the newest first).
 */
export function signDelivery (id: string, at: Date, body: string, secrets: readonly Buffer[]): SignedHeaders {
  const timestamp = String(Math.floor(at.getTime() / 1000))
  const signatures = secrets.map((secret) =>
    `v1,${createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`).digest('base64')}`)
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signatures.join(' ') }
}
