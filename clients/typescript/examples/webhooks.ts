// Have task events POSTed to your URL: make a webhook, keep its secret, and see how its deliveries went.
import { TaskforgeClient, type WebhookDelivery } from '@taskforge/client'

const client = new TaskforgeClient({ baseUrl: process.env.TASKFORGE_URL ?? 'http://localhost:3000' })
await client.signIn({
  email: process.env.TASKFORGE_EMAIL ?? 'ada@example.io',
  password: process.env.TASKFORGE_PASSWORD ?? 'correct horse battery'
})

// Your receiver (verify-webhook.ts below is one): an https URL that taskforge can reach.
const webhook = await client.webhooks.create({
  url: process.env.TASKFORGE_WEBHOOK_URL ?? 'https://hooks.example.com/taskforge',
  events: ['task.created', 'task.completed'],
  description: 'Post to #done in chat'
})
// The signing secret is in this answer and never again: store it where your receiver reads it.
// Lost it? client.webhooks.rotateSecret(webhook) gives a new one (the old one signs beside it for 24 hours).
console.log(`webhook ${webhook.id}: secret ${webhook.secret}`)

// How each of your webhooks is doing: every delivery, newest first, across pages.
for (const listed of await client.webhooks.list()) {
  const count = { pending: 0, delivered: 0, failed: 0 }
  let lastFailure: WebhookDelivery | undefined
  for await (const delivery of client.webhooks.deliveries(listed, { limit: 100 })) {
    count[delivery.status]++
    if (delivery.status === 'failed') lastFailure ??= delivery
  }
  const state = listed.enabled ? '' : ' (disabled)'
  console.log(`${listed.url}${state}: ${count.delivered} delivered, ${count.pending} pending, ${count.failed} failed`)
  if (lastFailure !== undefined) console.log(`  last failed: ${lastFailure.eventType}, ${lastFailure.lastError ?? 'no answer'}`)
}
