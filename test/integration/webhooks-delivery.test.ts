/**
 * Webhook deliveries (API.md, "Webhooks") to real receivers on 127.0.0.1,
 * from a real app on a real database: one event per change and subscribed
 * webhook, signed per Standard Webhooks (checked with the standardwebhooks
 * package), retried with the same webhook-id, none for a change refused or
 * rolled back, two signatures through a rotation, the deliveries log.
 */
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-node'
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { buildTestApp } from '../helpers/app.js'
import { loginUser, registerUser } from '../helpers/auth.js'
import { eventually } from '../helpers/jobs.js'
import { freePort } from '../helpers/smtp.js'
import { tasksClient, type TaskBody } from '../helpers/tasks.js'
import { DELIVERY_TEST_ENVIRONMENT, noDeliveryPending, startReceiver, verified, webhooksClient, type DeliveryBody } from '../helpers/webhooks.js'

t.test('every event type is delivered once per change, signed, with the task as the API shows it', async (t) => {
  const { app } = await buildTestApp(t, DELIVERY_TEST_ENVIRONMENT)
  const receiver = await startReceiver(t)
  const completions = await startReceiver(t)
  const user = await registerUser(app)
  const hooks = webhooksClient(app, user.accessToken)
  const tasks = tasksClient(app, user.accessToken)
  const all = await hooks.createWebhook(receiver.url)
  const onlyCompleted = await hooks.createWebhook(completions.url, ['task.completed'])
  // Webhooks that must hear nothing: disabled, subscribed to nothing that happens here, another user's.
  const disabled = await hooks.createWebhook(completions.url)
  t.equal((await hooks.patch(disabled.id, { enabled: false })).statusCode, 200)
  const other = await registerUser(app)
  await webhooksClient(app, other.accessToken).createWebhook(completions.url)

  const created = await tasks.createTask({ title: 'Write report', tags: ['work'] })
  const patched = (await tasks.patch(created.id, { priority: 'high' })).json<TaskBody>()
  const replaced = (await tasks.put(created.id, { title: 'Write the report', priority: 'high' })).json<TaskBody>()
  const completed = (await tasks.done(created.id)).json<TaskBody>()
  t.equal((await tasks.delete(created.id)).statusCode, 204)
  await noDeliveryPending(app)

  const events = receiver.requests.map((request) => ({ id: String(request.headers['webhook-id']), event: verified(request, all.secret) }))
  // Order between events is not guaranteed (API.md): compared in the order of the task's versions.
  const byType = (type: string) => events.filter(({ event }) => event.type === type).map(({ event }) => event.data.task)
    .sort((a, b) => Number(a.version) - Number(b.version))
  t.same(byType('task.created'), [created], 'task.created carries the task as POST /tasks answered it')
  t.same(byType('task.updated'), [patched, replaced, completed], 'task.updated for PATCH, PUT and …/done, with the task after each')
  t.same(byType('task.completed'), [completed], 'task.completed once, when it became done')
  t.same(byType('task.deleted'), [{ id: created.id }], 'task.deleted carries the id only')
  t.equal(events.length, 6, 'one request per event: nothing twice')
  t.equal(new Set(events.map(({ id }) => id)).size, 6, 'a webhook-id per event')

  for (const request of receiver.requests) {
    t.equal(request.method, 'POST')
    t.equal(request.path, '/hook')
    t.match(request.headers['content-type'], /^application\/json/)
    t.match(request.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/, 'one signature without a rotation')
    const sentAt = Number(request.headers['webhook-timestamp'])
    t.ok(Math.abs(sentAt - request.at / 1000) < 60, 'webhook-timestamp is the attempt\'s time in Unix seconds')
    const body = JSON.parse(request.body) as { timestamp: string }
    t.match(body.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'the event\'s timestamp is RFC 3339')
  }
  t.same(completions.requests.map((request) => verified(request, onlyCompleted.secret).type), ['task.completed'],
    'a webhook hears only the events it subscribes to; disabled ones and other users\' hear nothing')

  const log = (await hooks.deliveries(all.id)).json<{ items: DeliveryBody[]; nextCursor: string | null }>()
  t.equal(log.items.length, 6)
  t.equal(log.nextCursor, null)
  t.same(log.items.map((item) => item.id).sort(), events.map(({ id }) => id).sort(), 'each delivery\'s id is its webhook-id')
  for (const item of log.items) {
    t.match(item, { webhookId: all.id, status: 'delivered', attempts: 1, lastStatusCode: 204, lastError: null, lastAttemptAt: String })
  }
  const times = log.items.map((item) => Date.parse(item.createdAt))
  t.same(times, [...times].sort((a, b) => b - a), 'newest first')
})

t.test('a receiver that answers 503, then 204: retried with the same webhook-id and body', async (t) => {
  const { app } = await buildTestApp(t, DELIVERY_TEST_ENVIRONMENT)
  const receiver = await startReceiver(t, (_request, index) => index === 0 ? 503 : 204)
  const user = await registerUser(app)
  const hooks = webhooksClient(app, user.accessToken)
  const webhook = await hooks.createWebhook(receiver.url, ['task.created'])
  await tasksClient(app, user.accessToken).createTask()

  const [first, second] = await receiver.waitFor(2)
  await noDeliveryPending(app)
  t.equal(receiver.requests.length, 2)
  t.ok(first !== undefined && second !== undefined)
  if (first === undefined || second === undefined) return
  t.equal(second.headers['webhook-id'], first.headers['webhook-id'], 'the same webhook-id on the retry')
  t.equal(second.body, first.body, 'the same body')
  t.equal(verified(second, webhook.secret).type, 'task.created')
  const [delivery] = (await hooks.deliveries(webhook.id)).json<{ items: DeliveryBody[] }>().items
  t.match(delivery, { id: first.headers['webhook-id'], status: 'delivered', attempts: 2, lastStatusCode: 204, lastError: null })
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /^taskforge_webhook_attempts_total\{outcome="retried"\} 1$/m, 'attempts are counted by outcome')
  t.match(metrics, /^taskforge_webhook_attempts_total\{outcome="delivered"\} 1$/m)
  t.match(metrics, /^taskforge_webhook_attempts_total\{outcome="failed"\} 0$/m)
})

t.test('a receiver that never answers: the attempt times out and is retried; out of attempts the delivery is failed', async (t) => {
  const { app } = await buildTestApp(t, { ...DELIVERY_TEST_ENVIRONMENT, WEBHOOKS_TIMEOUT_MS: '300' })
  const receiver = await startReceiver(t, (_request, index) => index === 0 ? 'hang' : 204)
  const dead = await startReceiver(t, () => 'hang')
  const user = await registerUser(app)
  const hooks = webhooksClient(app, user.accessToken)
  const webhook = await hooks.createWebhook(receiver.url, ['task.created'])
  const deadHook = await hooks.createWebhook(dead.url, ['task.created'])
  await tasksClient(app, user.accessToken).createTask()

  const [first, second] = await receiver.waitFor(2)
  t.equal(second?.headers['webhook-id'], first?.headers['webhook-id'], 'retried with the same webhook-id after the time-out')
  const [delivered] = await hooks.settledDeliveries(webhook.id, 1)
  t.match(delivered, { status: 'delivered', attempts: 2, lastStatusCode: 204 })

  const [failed] = await hooks.settledDeliveries(deadHook.id, 1)
  t.match(failed, { status: 'failed', attempts: 3, lastStatusCode: null, lastError: 'no answer within 300 ms' },
    'WEBHOOKS_MAX_ATTEMPTS attempts, then failed with the last error')
  t.equal(dead.requests.length, 3)
  t.equal(new Set(dead.requests.map((request) => request.headers['webhook-id'])).size, 1)
})

t.test('other failures are retried too, and say why: a refused connection, a redirect (not followed), a 4xx', async (t) => {
  const { app } = await buildTestApp(t, { ...DELIVERY_TEST_ENVIRONMENT, WEBHOOKS_MAX_ATTEMPTS: '2' })
  const redirecting = await startReceiver(t, () => 301)
  const refusing = await startReceiver(t, () => 410)
  const user = await registerUser(app)
  const hooks = webhooksClient(app, user.accessToken)
  const redirectHook = await hooks.createWebhook(redirecting.url, ['task.created'])
  const goneHook = await hooks.createWebhook(refusing.url, ['task.created'])
  const closedHook = await hooks.createWebhook(`http://127.0.0.1:${await freePort()}/hook`, ['task.created'])
  await tasksClient(app, user.accessToken).createTask()

  t.match((await hooks.settledDeliveries(redirectHook.id, 1))[0],
    { status: 'failed', attempts: 2, lastStatusCode: 301, lastError: 'the receiver answered 301 (redirects are not followed)' })
  t.equal(redirecting.requests.length, 2)
  t.match((await hooks.settledDeliveries(goneHook.id, 1))[0], { status: 'failed', attempts: 2, lastStatusCode: 410, lastError: 'the receiver answered 410' })
  t.match((await hooks.settledDeliveries(closedHook.id, 1))[0], { status: 'failed', attempts: 2, lastStatusCode: null, lastError: 'connection refused' })
})

t.test('a change that is refused (412, 404) or rolls back produces no event', async (t) => {
  const { app } = await buildTestApp(t, DELIVERY_TEST_ENVIRONMENT)
  const receiver = await startReceiver(t)
  const user = await registerUser(app)
  const hooks = webhooksClient(app, user.accessToken)
  const tasks = tasksClient(app, user.accessToken)
  const task = await tasks.createTask({ title: 'Before any webhook' })
  const webhook = await hooks.createWebhook(receiver.url)

  t.equal((await tasks.patch(task.id, { title: 'stale' }, { 'if-match': '"7"' })).statusCode, 412)
  t.equal((await tasks.put(task.id, { title: 'stale' }, { 'if-match': '"7"' })).statusCode, 412)
  t.equal((await tasks.done(task.id, { 'if-match': '"7"' })).statusCode, 412)
  t.equal((await tasks.delete(task.id, { 'if-match': '"7"' })).statusCode, 412)
  t.equal((await tasks.patch('3f1d8d52-6a8e-4a57-9d2c-8f1f4b5a2e11', { title: 'nobody' })).statusCode, 404)

  // A failure at commit: the change and its event are written, then the whole transaction rolls back.
  await app.sql`create function fail_at_commit() returns trigger language plpgsql as $$
    begin raise exception 'refused at commit by the test'; end $$`
  await app.sql`create constraint trigger fail_at_commit after insert on webhook_deliveries
    deferrable initially deferred for each row execute function fail_at_commit()`
  const rolledBack = await tasks.patch(task.id, { title: 'rolled back' })
  t.equal(rolledBack.statusCode, 500)
  await app.sql`drop trigger fail_at_commit on webhook_deliveries`
  t.match((await tasks.get(task.id)).json(), { title: 'Before any webhook', version: 1 }, 'the change rolled back')

  t.equal((await tasks.patch(task.id, { title: 'marker' })).statusCode, 200)
  await noDeliveryPending(app)
  t.same(receiver.requests.map((request) => verified(request, webhook.secret).data.task.title), ['marker'],
    'only the change that committed was delivered')
  const [events] = await app.sql<{ count: number }[]>`select count(*)::int as count from task_events`
  t.equal(events?.count, 1, 'and only it was stored')
})

t.test('rotation: both secrets verify during the 24 hours after it, then only the new one', async (t) => {
  let now = Date.now()
  const { app } = await buildTestApp(t, DELIVERY_TEST_ENVIRONMENT, { clock: () => now })
  const receiver = await startReceiver(t)
  const user = await registerUser(app)
  const hooks = webhooksClient(app, user.accessToken)
  const tasks = tasksClient(app, user.accessToken)
  const webhook = await hooks.createWebhook(receiver.url, ['task.created'])
  const rotated = (await hooks.rotate(webhook.id)).json<{ secret: string }>()

  await tasks.createTask({ title: 'during the overlap' })
  const [during] = await receiver.waitFor(1)
  if (during === undefined) return
  t.match(during.headers['webhook-signature'], /^v1,\S+ v1,\S+$/, 'two signatures, space-separated')
  t.equal(verified(during, rotated.secret).data.task.title, 'during the overlap', 'the new secret verifies')
  t.equal(verified(during, webhook.secret).data.task.title, 'during the overlap', 'so does the old one')

  now += 24 * 3_600_000 + 1000
  const later = await loginUser(app, user.user.email, user.password)
  await tasksClient(app, later.accessToken).createTask({ title: 'after the overlap' })
  const after = (await receiver.waitFor(2))[1]
  if (after === undefined) return
  t.match(after.headers['webhook-signature'], /^v1,\S+$/, 'one signature')
  t.equal(verified(after, rotated.secret).data.task.title, 'after the overlap')
  t.throws(() => verified(after, webhook.secret), 'the old secret no longer verifies')
})

t.test('the deliveries log pages newest first with a cursor bound to its webhook', async (t) => {
  const { app } = await buildTestApp(t, DELIVERY_TEST_ENVIRONMENT)
  const receiver = await startReceiver(t)
  const user = await registerUser(app)
  const hooks = webhooksClient(app, user.accessToken)
  const tasks = tasksClient(app, user.accessToken)
  const webhook = await hooks.createWebhook(receiver.url, ['task.created'])
  const otherHook = await hooks.createWebhook(receiver.url, ['task.deleted'])
  for (let index = 0; index < 5; index++) await tasks.createTask({ title: `task ${index}` })
  const all = await hooks.settledDeliveries(webhook.id, 5)

  const seen: DeliveryBody[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const query: string = `?limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`
    const response = await hooks.deliveries(webhook.id, query)
    t.equal(response.statusCode, 200)
    const page = response.json<{ items: DeliveryBody[]; nextCursor: string | null }>()
    if (page.nextCursor !== null) t.match(response.headers.link, /^<\/webhooks\/[^>]+\/deliveries\?limit=2&cursor=[^>]+>; rel="next"$/)
    else t.notOk(response.headers.link)
    seen.push(...page.items)
    cursor = page.nextCursor
    pages += 1
    if (pages === 1 && cursor !== null) {
      t.equal((await hooks.deliveries(otherHook.id, `?cursor=${encodeURIComponent(cursor)}`)).statusCode, 400, 'another webhook\'s cursor is a 400')
    }
  } while (cursor !== null)
  t.equal(pages, 3)
  t.same(seen.map((item) => item.id), all.map((item) => item.id), 'every delivery once, newest first')
  const stamps = seen.map((item) => [item.createdAt, item.id].join(' '))
  t.same(stamps, [...stamps].sort().reverse())
})

t.test('a delivery job\'s trace continues the trace of the request that made the change', async (t) => {
  const exporter = new InMemorySpanExporter()
  const { app } = await buildTestApp(t, DELIVERY_TEST_ENVIRONMENT, { traceExporter: exporter })
  const receiver = await startReceiver(t)
  const user = await registerUser(app)
  await webhooksClient(app, user.accessToken).createWebhook(receiver.url, ['task.created'])
  const traceId = '0af7651916cd43dd8448eb211c80319c'
  const response = await app.inject({
    method: 'POST',
    url: '/tasks',
    headers: { authorization: `Bearer ${user.accessToken}`, traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    payload: { title: 'traced' }
  })
  t.equal(response.statusCode, 201)
  const job = await eventually(async () => exporter.getFinishedSpans().find((span) => span.name === 'job webhook-delivery'), 10_000, 'the job span')
  const spans = exporter.getFinishedSpans()
  const create = spans.find((span) => span.name === 'tasks.create')
  t.equal(job.spanContext().traceId, traceId, 'the delivery joins the request\'s trace')
  t.equal(job.parentSpanContext?.spanId, create?.spanContext().spanId, 'as a child of the service call whose transaction enqueued it')
  t.equal(create?.spanContext().traceId, traceId)
})

t.test('with the standardwebhooks package as a receiver would use it: a delivery verifies, a tampered one does not', async (t) => {
  const { app } = await buildTestApp(t, DELIVERY_TEST_ENVIRONMENT)
  const receiver = await startReceiver(t)
  const user = await registerUser(app)
  const webhook = await webhooksClient(app, user.accessToken).createWebhook(receiver.url, ['task.created'])
  await tasksClient(app, user.accessToken).createTask({ title: 'Pay Alice 10' })
  const [request] = await receiver.waitFor(1)
  if (request === undefined) return
  const headers = {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature'])
  }
  t.doesNotThrow(() => new Webhook(webhook.secret).verify(request.body, headers))
  t.throws(() => new Webhook(webhook.secret).verify(request.body.replace('Alice 10', 'Mallory 1000'), headers))
  t.throws(() => new Webhook(webhook.secret).verify(request.body, { ...headers, 'webhook-id': 'another' }))
})
