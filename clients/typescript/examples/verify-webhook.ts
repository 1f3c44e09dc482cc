// A webhook receiver: accept a delivery only when taskforge signed it, and once per webhook-id.
import { createServer } from 'node:http'
import { verifyWebhook, WebhookVerificationError } from '@taskforge/client/webhooks'

// The secret POST /webhooks answered with ("whsec_…"). While you move to a rotated
// secret, give both: taskforge signs with the old and the new one for 24 hours.
const secret = process.env.TASKFORGE_WEBHOOK_SECRET
if (secret === undefined) throw new Error('set TASKFORGE_WEBHOOK_SECRET to the webhook\'s secret')
const seen = new Set<string>() // in production: a table with a unique key, kept a few days

const server = createServer((request, response) => {
  const chunks: Buffer[] = []
  request.on('data', (chunk: Buffer) => chunks.push(chunk))
  request.on('end', () => {
    try {
      // The body exactly as it came: the signature covers its bytes.
      const { id, event } = verifyWebhook({ payload: Buffer.concat(chunks), headers: request.headers, secret })
      if (!seen.has(id)) {
        seen.add(id)
        console.log(`${event.type}: task ${event.data.task.id}`)
      }
      response.writeHead(204).end() // any 2xx within 10 s; anything else is retried
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error
      response.writeHead(400).end()
    }
  })
})
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  const address = server.address()
  if (address !== null && typeof address === 'object') console.log(`listening on http://127.0.0.1:${address.port}`)
})
