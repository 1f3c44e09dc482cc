import { createHmac, timingSafeEqual } from 'node:crypto'
import type { DeliveryPosition } from '../../db/webhooks/deliveries-repository.js'
import { isUuid } from '../../db/uuid.js'
import { BadRequestError } from '../../errors.js'

const SIGNATURE_BYTES = 16

export type DeliveryCursors = ReturnType<typeof createDeliveryCursors>

/**
 * Opaque cursors for a webhook's deliveries log, as the tasks' are
 * (services/tasks/task-cursor.ts): base64url JSON of where a page ended,
 * with an HMAC bound to the user and the webhook; anything else is a 400.
 */
export function createDeliveryCursors (secret: string) {
  const key = createHmac('sha256', secret).update('taskforge delivery cursors').digest()
  const sign = (userId: string, webhookId: string, body: string) =>
    createHmac('sha256', key).update(`${userId}\0${webhookId}\0${body}`).digest().subarray(0, SIGNATURE_BYTES)

  return {
    encode (userId: string, webhookId: string, position: DeliveryPosition): string {
      const body = Buffer.from(JSON.stringify({ c: position.createdAt.toISOString(), i: position.id })).toString('base64url')
      return `${body}.${sign(userId, webhookId, body).toString('base64url')}`
    },

    decode (userId: string, webhookId: string, cursor: string): DeliveryPosition {
      const [body = '', signature = '', ...rest] = cursor.split('.')
      const given = Buffer.from(signature, 'base64url')
      const expected = sign(userId, webhookId, body)
      if (rest.length > 0 || given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalidCursor()
      const position = parsePosition(body)
      if (position === undefined) throw invalidCursor()
      return position
    }
  }
}

const invalidCursor = () => new BadRequestError('The cursor is not valid for this list: start again without it')

function parsePosition (body: string): DeliveryPosition | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
    if (typeof parsed !== 'object' || parsed === null) return undefined
    const { c, i } = parsed as Record<string, unknown>
    if (typeof c !== 'string' || typeof i !== 'string' || !isUuid(i)) return undefined
    const createdAt = new Date(c)
    return Number.isNaN(createdAt.getTime()) ? undefined : { createdAt, id: i }
  } catch {
    return undefined
  }
}
