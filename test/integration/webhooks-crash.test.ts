/**
 * Webhooks are durable and delivered once per event across instances: an
 * event committed with its change survives a SIGKILL of the server in the
 * middle of its delivery and goes out after the restart; two instances on
 * one database share the deliveries, each event reaching the receiver once.
 */
import { once } from 'node:events'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { registerUser } from '../helpers/auth.js'
import { createTestDatabase } from '../helpers/database.js'
import { eventually } from '../helpers/jobs.js'
import { LOAD_TEST_ENVIRONMENT, registerOverHttp, startServerProcess } from '../helpers/server-process.js'
import { tasksClient } from '../helpers/tasks.js'
import { DELIVERY_TEST_ENVIRONMENT, noDeliveryPending, startReceiver, verified, type DeliveryBody } from '../helpers/webhooks.js'

const SERVER_ENVIRONMENT = {
  ...LOAD_TEST_ENVIRONMENT,
  WEBHOOKS_ALLOW_PRIVATE_URLS: 'true',
  JOBS_POLL_INTERVAL_MS: '100',
  // A killed worker's job is taken up again one second after its last renewal.
  JOBS_LEASE_MS: '1000',
  WEBHOOKS_TIMEOUT_MS: '2000'
}

t.test('SIGKILL after the change commits, while its delivery is out: delivered after the restart, with the same webhook-id', async (t) => {
  const database = await createTestDatabase(t)
  // The first attempt never gets an answer: the server dies while it waits.
  const receiver = await startReceiver(t, (_request, index) => index === 0 ? 'hang' : 204)
  const first = await startServerProcess(t, { ...SERVER_ENVIRONMENT, DATABASE_URL: database.url })
  const token = await registerOverHttp(first.baseUrl, 'crash-hooks@example.io')
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` }
  const created = await fetch(`${first.baseUrl}/webhooks`, { method: 'POST', headers, body: JSON.stringify({ url: receiver.url, events: ['task.created'] }) })
  t.equal(created.status, 201)
  const webhook = await created.json() as { id: string; secret: string }
  const task = await fetch(`${first.baseUrl}/tasks`, { method: 'POST', headers, body: JSON.stringify({ title: 'survives a crash' }) })
  t.equal(task.status, 201, 'the change committed')

  const [attempt] = await receiver.waitFor(1)
  first.child.kill('SIGKILL')
  await once(first.child, 'exit')

  const second = await startServerProcess(t, { ...SERVER_ENVIRONMENT, DATABASE_URL: database.url })
  const [, redelivered] = await receiver.waitFor(2, 30_000)
  t.equal(redelivered?.headers['webhook-id'], attempt?.headers['webhook-id'], 'the same delivery, the same webhook-id')
  t.equal(redelivered === undefined ? undefined : verified(redelivered, webhook.secret).data.task.title, 'survives a crash')
  const deliveries = await eventually(async () => {
    const response = await fetch(`${second.baseUrl}/webhooks/${webhook.id}/deliveries`, { headers })
    const { items } = await response.json() as { items: DeliveryBody[] }
    return items[0]?.status === 'delivered' && items
  }, 20_000, 'the delivery recorded')
  t.equal(deliveries.length, 1)
  t.match(deliveries[0], { status: 'delivered', attempts: 1, lastStatusCode: 204 }, 'the killed attempt was never recorded; the one after the restart was')
})

t.test('two instances on one database deliver each event once between them', async (t) => {
  const database = await createTestDatabase(t)
  const receiver = await startReceiver(t)
  const environment = { ...DELIVERY_TEST_ENVIRONMENT, WEBHOOKS_MAX_IN_FLIGHT: '4' }
  const one = await buildTestApp(t, environment, { database })
  const two = await buildTestApp(t, environment, { database })
  const users = await Promise.all([registerUser(one.app), registerUser(two.app), registerUser(one.app)])
  const secrets = new Map<string, string>()
  for (const user of users) {
    const response = await one.app.inject({
      method: 'POST', url: '/webhooks', headers: { authorization: `Bearer ${user.accessToken}` }, payload: { url: receiver.url, events: ['task.created', 'task.updated'] }
    })
    secrets.set(user.user.id, response.json<{ secret: string }>().secret)
  }

  // 3 users × 10 tasks, created and changed through both instances at once: 60 events.
  await Promise.all(users.flatMap((user, u) => Array.from({ length: 10 }, async (_, index) => {
    const app = (u + index) % 2 === 0 ? one.app : two.app
    const tasks = tasksClient(app, user.accessToken)
    const task = await tasks.createTask({ title: `u${u} t${index}` })
    t.equal((await tasksClient(app === one.app ? two.app : one.app, user.accessToken).patch(task.id, { priority: 'high' })).statusCode, 200)
  })))
  await noDeliveryPending(one.app)

  const ids = receiver.requests.map((request) => String(request.headers['webhook-id']))
  t.equal(ids.length, 60, 'sixty requests for sixty events')
  t.equal(new Set(ids).size, 60, 'no webhook-id twice')
  const [row] = await one.app.sql<{ delivered: number }[]>`select count(*)::int as delivered from webhook_deliveries where status = 'delivered' and attempts = 1`
  t.equal(row?.delivered, 60, 'each delivered at its first attempt')
  const owners = await one.app.sql<{ id: string; userId: string }[]>`select d.id, w.user_id from webhook_deliveries d join webhooks w on w.id = d.webhook_id`
  const ownerOf = new Map(owners.map((owner) => [owner.id, owner.userId]))
  const verifiedCount = receiver.requests.filter((request) => {
    const secret = secrets.get(ownerOf.get(String(request.headers['webhook-id'])) ?? '')
    return secret !== undefined && verified(request, secret).type.startsWith('task.')
  }).length
  t.equal(verifiedCount, 60, 'each verified with its owner\'s secret')
  const deliveredBy = (logs: Record<string, unknown>[]) => logs.filter((line) => line.msg === 'webhook delivered').length
  t.equal(deliveredBy(one.logs) + deliveredBy(two.logs), 60, 'and recorded once, by one instance or the other')
  t.comment(`delivered by the first instance: ${deliveredBy(one.logs)}, by the second: ${deliveredBy(two.logs)}`)
})
