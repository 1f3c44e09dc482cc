/**
 * verifyWebhook of the TypeScript client (clients/typescript/src/webhooks.ts),
 * on deliveries signed as API.md says taskforge signs them: by the
 * standardwebhooks package itself (Webhook#sign), by hand with node:crypto,
 * and with the two signatures of a secret rotation.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { verifyWebhook, WebhookVerificationError, type WebhookEvent } from '../../clients/typescript/src/webhooks.js'

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`

const event: WebhookEvent = {
  type: 'task.created',
  timestamp: '2026-11-24T14:00:00.000Z',
  data: {
    task: {
      id: randomUUID(),
      title: 'Write report',
      description: '',
      status: 'todo',
      priority: 'medium',
      dueAt: null,
      tags: ['work'],
      createdAt: '2026-11-24T14:00:00.000Z',
      updatedAt: '2026-11-24T14:00:00.000Z',
      completedAt: null,
      version: 1
    }
  }
}

/** A delivery as taskforge sends it: the body and the three headers, signed with each secret given (two during a rotation). */
function delivery (secrets: string[], { body = JSON.stringify(event), at = new Date() } = {}) {
  const id = `msg_${randomUUID()}`
  const signature = secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(' ')
  return {
    body,
    headers: { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature }
  }
}

function refusal (verify: () => unknown): unknown {
  try {
    verify()
  } catch (error) {
    return error
  }
  throw new Error('expected verifyWebhook to refuse')
}

t.test('a delivery signed with the secret gives its webhook-id and event', async (t) => {
  const secret = newSecret()
  const { body, headers } = delivery([secret])
  t.same(verifyWebhook({ payload: body, headers, secret }), { id: headers['webhook-id'], event }, 'from text and a record of headers')
  t.same(verifyWebhook({ payload: Buffer.from(body), headers: new Headers(headers), secret }).event, event, 'from bytes and a Headers')
  const shouting = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toUpperCase(), [value]]))
  t.same(verifyWebhook({ payload: new TextEncoder().encode(body), headers: shouting, secret }).event, event,
    'header names in any case; values as node:http gives repeated ones')
})

t.test('the signature is the one API.md describes: v1, base64 HMAC-SHA256 of id.timestamp.body keyed with the decoded secret', async (t) => {
  const secret = newSecret()
  const id = 'msg_by_hand'
  const timestamp = String(Math.floor(Date.now() / 1000))
  const body = JSON.stringify({ type: 'task.deleted', timestamp: new Date().toISOString(), data: { task: { id: randomUUID() } } })
  const mac = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${id}.${timestamp}.${body}`).digest('base64')
  const verified = verifyWebhook({ payload: body, headers: { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${mac}` }, secret })
  t.equal(verified.event.type, 'task.deleted')
})

t.test('during a rotation (two signatures, space-separated) either secret verifies', async (t) => {
  const before = newSecret()
  const after = newSecret()
  const { body, headers } = delivery([before, after])
  t.match(headers['webhook-signature'], /^v1,\S+ v1,\S+$/)
  t.same(verifyWebhook({ payload: body, headers, secret: before }).event, event, 'a receiver still on the old secret')
  t.same(verifyWebhook({ payload: body, headers, secret: after }).event, event, 'a receiver on the new one')

  const onlyNew = delivery([after])
  t.same(verifyWebhook({ payload: onlyNew.body, headers: onlyNew.headers, secret: [before, after] }).event, event,
    'a receiver holding both while it moves over, after the old one stopped signing')
  t.type(refusal(() => verifyWebhook({ payload: onlyNew.body, headers: onlyNew.headers, secret: before })), WebhookVerificationError,
    'the old secret alone, once it no longer signs')
})

t.test('a delivery not signed with the secret, changed, stale or incomplete is refused with WebhookVerificationError', async (t) => {
  const secret = newSecret()
  const { body, headers } = delivery([secret])

  const cases: [string, () => unknown][] = [
    ['another secret', () => verifyWebhook({ payload: body, headers, secret: newSecret() })],
    ['a changed body', () => verifyWebhook({ payload: body.replace('Write report', 'Pay Mallory'), headers, secret })],
    ['another webhook-id', () => verifyWebhook({ payload: body, headers: { ...headers, 'webhook-id': 'msg_other' }, secret })],
    ['no signature', () => verifyWebhook({ payload: body, headers: { ...headers, 'webhook-signature': undefined }, secret })],
    ['an unknown signature version only', () => verifyWebhook({ payload: body, headers: { ...headers, 'webhook-signature': headers['webhook-signature'].replace('v1,', 'v2,') }, secret })],
    ['a body that is not UTF-8', () => verifyWebhook({ payload: Uint8Array.of(0xff, 0xfe), headers, secret })]
  ]
  for (const [what, verify] of cases) {
    const error = refusal(verify)
    t.type(error, WebhookVerificationError, what)
    t.match(error, { name: 'WebhookVerificationError' }, what)
  }

  const old = delivery([secret], { at: new Date(Date.now() - 6 * 60 * 1000) })
  t.match(refusal(() => verifyWebhook({ payload: old.body, headers: old.headers, secret })), { name: 'WebhookVerificationError', message: /too old/ },
    'signed more than five minutes ago: a replay')
})
