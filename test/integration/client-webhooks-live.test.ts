/**
 * The TypeScript client's webhooks.* against a real taskforge in a child
 * process, and real deliveries from it to a receiver on 127.0.0.1, verified
 * with the client's own verifyWebhook (@taskforge/client/webhooks).
 */
import t from 'tap'
import { ApiProblem, TaskforgeClient, type WebhookDelivery } from '../../clients/typescript/src/index.js'
import { verifyWebhook, WebhookVerificationError } from '../../clients/typescript/src/webhooks.js'
import { PASSWORD, startClientTestServer } from '../helpers/client-server.js'
import { eventually } from '../helpers/jobs.js'
import { DELIVERY_TEST_ENVIRONMENT, startReceiver, type ReceivedRequest } from '../helpers/webhooks.js'

// Receivers on 127.0.0.1 over http are allowed, and deliveries are picked up quickly.
const server = await startClientTestServer(t, DELIVERY_TEST_ENVIRONMENT)

async function signedIn (): Promise<TaskforgeClient> {
  const email = await server.newUser()
  const client = new TaskforgeClient({ baseUrl: server.baseUrl })
  await client.signIn({ email, password: PASSWORD })
  return client
}

async function rejection (promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the call to reject')
}

/** Waits until the webhook has `count` deliveries and none is pending; resolves with them, newest first. */
async function settled (client: TaskforgeClient, webhookId: string, count: number): Promise<WebhookDelivery[]> {
  return eventually(async () => {
    const { items } = await client.webhooks.listDeliveries(webhookId, { limit: 100 })
    return items.length >= count && items.every((delivery) => delivery.status !== 'pending') && items
  }, 20_000, `${count} settled deliveries`)
}

/** A received request checked with verifyWebhook and one or more secrets. */
function verify (request: ReceivedRequest, secret: string | string[]) {
  return verifyWebhook({ payload: request.body, headers: request.headers, secret })
}

t.test('the whole life of a webhook through the client', async (t) => {
  const client = await signedIn()
  const receiver = await startReceiver(t)

  const made = await client.webhooks.create({ url: receiver.url, events: ['task.created', 'task.completed'], description: 'to chat' })
  t.match(made, { url: receiver.url, events: ['task.created', 'task.completed'], description: 'to chat', enabled: true, secret: /^whsec_[\w+/]{43}=$/ })
  const { secret, ...webhook } = made
  t.same(await client.webhooks.list(), [webhook], 'listed without its secret')
  t.same(await client.webhooks.get(made), webhook, 'read by the webhook as made')
  t.same(await client.webhooks.get(made.id), webhook, 'and by its id')

  const updated = await client.webhooks.update(made, { events: ['task.deleted'], description: 'deletions', enabled: false })
  t.match(updated, { id: made.id, events: ['task.deleted'], description: 'deletions', enabled: false })
  t.notOk('secret' in updated, 'an update shows no secret')
  t.same(await client.webhooks.get(made), updated)

  const rotated = await client.webhooks.rotateSecret(made)
  t.match(rotated, { id: made.id, secret: /^whsec_/ })
  t.not(rotated.secret, secret, 'a new secret')

  t.same(await client.webhooks.listDeliveries(made), { items: [], nextCursor: null }, 'a disabled webhook got no deliveries')
  const all: WebhookDelivery[] = []
  for await (const delivery of client.webhooks.deliveries(made)) all.push(delivery)
  t.same(all, [], 'and the iterator ends at once')

  const refused = await rejection(client.webhooks.create({ url: 'ftp://hooks.example.com/x', events: ['task.created'] }))
  t.type(refused, ApiProblem)
  t.match(refused, { status: 400, type: 'https://taskforge.dev/problems/bad-request', detail: /http or https/ }, 'a URL the server refuses comes back as an ApiProblem')

  t.equal(await client.webhooks.delete(made), undefined)
  t.match(await rejection(client.webhooks.get(made.id)), { name: 'ApiProblem', status: 404 })
  t.match(await rejection(client.webhooks.delete(made.id)), { name: 'ApiProblem', status: 404 }, 'deleted once')
  t.same(await client.webhooks.list(), [])
})

t.test('a personal access token reaches webhooks.* with the webhooks scope, and only with it', async (t) => {
  const owner = await signedIn()
  const receiver = await startReceiver(t)
  const hooks = await owner.tokens.create({ name: 'hooks', scopes: ['webhooks'] })
  const reader = await owner.tokens.create({ name: 'reader', scopes: ['tasks:read'] })

  const withScope = new TaskforgeClient({ baseUrl: server.baseUrl, personalAccessToken: hooks.token })
  const made = await withScope.webhooks.create({ url: receiver.url, events: ['task.created'] })
  t.same((await owner.webhooks.list()).map((webhook) => webhook.id), [made.id], 'made for the token\'s owner')

  const without = new TaskforgeClient({ baseUrl: server.baseUrl, personalAccessToken: reader.token })
  t.match(await rejection(without.webhooks.list()), { name: 'ApiProblem', status: 403, type: 'https://taskforge.dev/problems/insufficient-scope' })
})

t.test('a real delivery verifies with verifyWebhook and the secret create answered; after a rotation, with either secret', async (t) => {
  const client = await signedIn()
  const receiver = await startReceiver(t)
  const webhook = await client.webhooks.create({ url: receiver.url, events: ['task.created', 'task.updated'] })

  const task = await client.tasks.create({ title: 'Heard by the receiver' })
  const [first] = await receiver.waitFor(1)
  if (first === undefined) throw new Error('no request')
  const { id, event } = verify(first, webhook.secret)
  t.equal(event.type, 'task.created')
  t.equal(event.data.task.id, task.id)
  t.match(event.data.task, { title: 'Heard by the receiver', version: 1 }, 'the task as created')
  const [delivery] = await settled(client, webhook.id, 1)
  t.match(delivery, { id, webhookId: webhook.id, eventType: 'task.created', status: 'delivered', attempts: 1, lastStatusCode: 204 },
    'webhook-id is the delivery\'s id, and the client lists it delivered')
  t.throws(() => verify(first, `whsec_${Buffer.alloc(32, 7).toString('base64')}`), WebhookVerificationError, 'another secret does not verify it')

  const rotated = await client.webhooks.rotateSecret(webhook)
  const updated = await client.tasks.update(task, { title: 'Heard after the rotation' })
  const [, second] = await receiver.waitFor(2)
  if (second === undefined) throw new Error('no second request')
  t.equal(String(second.headers['webhook-signature']).split(' ').length, 2, 'signed twice during the overlap')
  const withNew = verify(second, rotated.secret)
  t.equal(withNew.event.type, 'task.updated')
  t.equal(withNew.event.data.task.id, task.id)
  t.match(withNew.event.data.task, { title: 'Heard after the rotation', version: updated.version })
  t.same(verify(second, webhook.secret), withNew, 'the old secret verifies it too, for the overlap')
  t.same(verify(second, [webhook.secret, rotated.secret]), withNew, 'as do both, as a receiver moving over holds them')
  t.throws(() => verify(first, rotated.secret), WebhookVerificationError, 'the new secret did not sign what came before it')
  t.equal(receiver.requests.length, 2, 'one request per event')
})

t.test('the deliveries iterator visits every delivery once, newest first, across pages', async (t) => {
  const client = await signedIn()
  const receiver = await startReceiver(t)
  const webhook = await client.webhooks.create({ url: receiver.url, events: ['task.created'] })
  const tasks: string[] = []
  for (let index = 0; index < 5; index++) tasks.push((await client.tasks.create({ title: `task ${index}` })).id)
  const listed = await settled(client, webhook.id, 5)

  const pages: number[] = []
  const seen: string[] = []
  for await (const page of client.webhooks.deliveryPages(webhook, { limit: 2 })) {
    pages.push(page.items.length)
    seen.push(...page.items.map((delivery) => delivery.id))
  }
  t.same(pages, [2, 2, 1], 'pages of 2, the last one short')
  t.same(seen, listed.map((delivery) => delivery.id), 'the same deliveries as one page of 100, in the same order')
  t.equal(new Set(seen).size, 5, 'each once')

  const all: WebhookDelivery[] = []
  for await (const delivery of client.webhooks.deliveries(webhook.id, { limit: 3 })) all.push(delivery)
  t.same(all.map((delivery) => delivery.id), seen, 'deliveries() gives the deliveries of every page')
  const createdAt = all.map((delivery) => delivery.createdAt)
  t.same(createdAt, [...createdAt].sort().reverse(), 'newest first')
  const received = receiver.requests.map((request) => verify(request, webhook.secret).event.data.task.id)
  t.same(received.sort(), [...tasks].sort(), 'one verified delivery per task created')
})
