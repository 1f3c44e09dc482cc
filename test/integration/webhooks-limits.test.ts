/**
 * What bounds webhooks (API.md, "Webhooks"): a slow receiver holds only its
 * own webhook's WEBHOOKS_MAX_IN_FLIGHT slots, never task writes or other
 * users' deliveries; five days of failures disable a webhook and email its
 * owner; finished deliveries are purged after their retention.
 */
import t from 'tap'
import { createPersonalAccessTokensRepository } from '../../db/auth/personal-access-tokens-repository.js'
import { createRefreshTokensRepository } from '../../db/auth/refresh-tokens-repository.js'
import { createIdempotencyRepository } from '../../db/tasks/idempotency-repository.js'
import { createDeliveriesRepository } from '../../db/webhooks/deliveries-repository.js'
import { purgeExpired } from '../../services/jobs/purge-expired.js'
import { WAIT_FALLBACK_MS } from '../../services/webhooks/delivery.js'
import { buildTestApp } from '../helpers/app.js'
import { loginUser, registerUser } from '../helpers/auth.js'
import { eventually } from '../helpers/jobs.js'
import { startSmtpServer } from '../helpers/smtp.js'
import { tasksClient } from '../helpers/tasks.js'
import { DELIVERY_TEST_ENVIRONMENT, startReceiver, verified, webhooksClient, type WebhookBody } from '../helpers/webhooks.js'

const DAY_MS = 86_400_000

t.test('a slow receiver holds only its own webhook\'s slots: task writes and other users\' deliveries go on', async (t) => {
  // A time-out far longer than the test, so the held attempt is still the first when it is released.
  const { app } = await buildTestApp(t, { ...DELIVERY_TEST_ENVIRONMENT, WEBHOOKS_MAX_IN_FLIGHT: '1', JOBS_CONCURRENCY: '4', WEBHOOKS_TIMEOUT_MS: '30000' })
  let release: () => void = () => undefined
  const released = new Promise<number>((resolve) => { release = () => { resolve(204) } })
  const slow = await startReceiver(t, () => released)
  const fast = await startReceiver(t)
  const owner = await registerUser(app)
  const other = await registerUser(app)
  const slowHook = await webhooksClient(app, owner.accessToken).createWebhook(slow.url, ['task.created', 'task.updated'])
  const fastHook = await webhooksClient(app, other.accessToken).createWebhook(fast.url, ['task.created'])
  const ownerTasks = tasksClient(app, owner.accessToken)

  const created = []
  for (let index = 0; index < 4; index++) created.push(await ownerTasks.createTask({ title: `slow ${index}` }))
  await slow.waitFor(1)
  for (let index = 0; index < 3; index++) await tasksClient(app, other.accessToken).createTask({ title: `fast ${index}` })
  await fast.waitFor(3)
  t.equal(slow.requests.length, 1, 'the slow webhook has one attempt in flight (its cap), while another user\'s deliveries went out')
  const write = await ownerTasks.patch(created[0]?.id ?? '', { priority: 'high' })
  t.equal(write.statusCode, 200, 'its owner\'s task writes are answered meanwhile')

  release()
  await slow.waitFor(5, 60_000)
  const deliveries = await webhooksClient(app, owner.accessToken).settledDeliveries(slowHook.id, 5, 60_000)
  t.same(deliveries.map((delivery) => [delivery.status, delivery.attempts]), Array(5).fill(['delivered', 1]),
    'every delivery went out once: waiting for a slot is no attempt')
  t.equal(slow.maxConcurrent(), 1, 'never more than WEBHOOKS_MAX_IN_FLIGHT at the receiver')
  t.same(slow.requests.map((request) => verified(request, slowHook.secret).type).sort(),
    ['task.created', 'task.created', 'task.created', 'task.created', 'task.updated'])
  t.equal((await webhooksClient(app, other.accessToken).settledDeliveries(fastHook.id, 3)).length, 3)
})

t.test('a webhook whose deliveries all failed for five days is disabled and its owner emailed; a success in between starts the count again', async (t) => {
  const smtp = await startSmtpServer(t)
  let now = Date.now()
  const { app } = await buildTestApp(t, { ...DELIVERY_TEST_ENVIRONMENT, WEBHOOKS_MAX_ATTEMPTS: '2', SMTP_URL: `smtp://127.0.0.1:${smtp.port}` }, { clock: () => now })
  const failing = await startReceiver(t, () => 500)
  const flaky = await startReceiver(t, () => 500)
  const user = await registerUser(app, { email: 'hooks-owner@example.io' })
  let hooks = webhooksClient(app, user.accessToken)
  const dead = await hooks.createWebhook(failing.url, ['task.created'])
  const recovering = await hooks.createWebhook(flaky.url, ['task.created'])
  const changeTask = async () => {
    const session = await loginUser(app, user.user.email, user.password)
    hooks = webhooksClient(app, session.accessToken)
    await tasksClient(app, session.accessToken).createTask()
  }

  await changeTask()
  await hooks.settledDeliveries(dead.id, 1)
  await hooks.settledDeliveries(recovering.id, 1)
  now += DAY_MS
  flaky.answer(() => 204)
  await changeTask()
  await hooks.settledDeliveries(recovering.id, 2)
  // Every attempt of a day done before the clock moves on: an attempt sees the time it runs at.
  await hooks.settledDeliveries(dead.id, 2)
  flaky.answer(() => 500)
  now += 4 * DAY_MS + 60_000
  await changeTask()
  await hooks.settledDeliveries(dead.id, 3)
  await hooks.settledDeliveries(recovering.id, 3)

  t.match((await hooks.get(dead.id)).json(), { enabled: false }, 'five days of failures disabled it')
  t.match((await hooks.get(recovering.id)).json(), { enabled: true }, 'a webhook that worked four days ago is still enabled')
  const mail = await eventually(async () => smtp.received.find((message) => message.raw.includes('Subject: taskforge: your webhook was disabled')), 10_000, 'the email')
  t.same(mail.to, ['hooks-owner@example.io'])
  const text = mail.raw.replace(/=\r\n/g, '') // quoted-printable's soft line breaks
  t.ok(text.includes(`Every delivery to your webhook ${failing.url} has failed since`), 'it says which webhook and why')
  t.ok(text.includes(`PATCH /webhooks/${dead.id} {"enabled": true}`) || text.includes(`PATCH /webhooks/${dead.id} {=22enabled=22: true}`),
    'and how to enable it again')

  const before = failing.requests.length
  await changeTask()
  await hooks.settledDeliveries(recovering.id, 4)
  t.equal((await hooks.deliveries(dead.id)).json<{ items: unknown[] }>().items.length, 3, 'a disabled webhook gets no new deliveries')
  t.equal(failing.requests.length, before)

  const enabled = await hooks.patch(dead.id, { enabled: true })
  t.match(enabled.json<WebhookBody>(), { enabled: true })
  const [row] = await app.sql<{ failingSince: Date | null }[]>`select failing_since from webhooks where id = ${dead.id}`
  t.equal(row?.failingSince, null, 'enabling it again starts its five days afresh')
  t.equal(smtp.received.filter((message) => message.raw.includes('your webhook was disabled')).length, 1, 'one email')
})

t.test('the hourly purge deletes deliveries delivered over 30 days ago (failed: 90) and the events none of them needs', async (t) => {
  const { app } = await buildTestApp(t, { ...DELIVERY_TEST_ENVIRONMENT, WEBHOOKS_MAX_ATTEMPTS: '1' })
  const good = await startReceiver(t)
  const bad = await startReceiver(t, () => 500)
  const user = await registerUser(app)
  const hooks = webhooksClient(app, user.accessToken)
  const goodHook = await hooks.createWebhook(good.url, ['task.created'])
  const badHook = await hooks.createWebhook(bad.url, ['task.created'])
  for (let index = 0; index < 4; index++) await tasksClient(app, user.accessToken).createTask({ title: `t${index}` })
  const delivered = await hooks.settledDeliveries(goodHook.id, 4)
  const failed = await hooks.settledDeliveries(badHook.id, 4)
  const age = async (id: string | undefined, days: number) => {
    await app.sql`update webhook_deliveries set created_at = now() - ${days} * interval '1 day' where id = ${id ?? ''}`
    await app.sql`update task_events set occurred_at = now() - ${days} * interval '1 day'
      where id = (select event_id from webhook_deliveries where id = ${id ?? ''})`
  }
  // Event of task 0: both its deliveries old enough to go; task 1: delivered one goes, failed one stays; 2 and 3 are recent.
  const [d0, d1] = [...delivered].reverse()
  const [f0, f1] = [...failed].reverse()
  await age(d0?.id, 31)
  await age(f0?.id, 91)
  await age(d1?.id, 31)
  await age(f1?.id, 31)

  const counts = await purgeExpired({
    refreshTokens: createRefreshTokensRepository(app.sql),
    personalAccessTokens: createPersonalAccessTokensRepository(app.sql),
    idempotencyKeys: createIdempotencyRepository(app.sql),
    webhookDeliveries: createDeliveriesRepository(app.sql),
    now: new Date(),
    signal: new AbortController().signal,
    log: app.log
  })
  t.equal(counts.webhookDeliveries, 3)
  const remaining = await app.sql<{ id: string }[]>`select id from webhook_deliveries`
  t.same(remaining.map((row) => row.id).sort(), [delivered[0]?.id, delivered[1]?.id, failed[0]?.id, failed[1]?.id, f1?.id].sort(),
    'recent ones and a failed one of 31 days are kept')
  const [events] = await app.sql<{ count: number }[]>`select count(*)::int as count from task_events`
  t.equal(events?.count, 3, 'the event whose deliveries are all gone went with them')
})

t.test('at its cap, a waiting delivery is always woken by the attempt that frees a slot: none waits for the 30 s fallback', async (t) => {
  // Many deliveries of one webhook at once, four workers, one slot: claims that find no slot race attempts that free one.
  const { app } = await buildTestApp(t, { ...DELIVERY_TEST_ENVIRONMENT, WEBHOOKS_MAX_IN_FLIGHT: '1', JOBS_CONCURRENCY: '4' })
  const receiver = await startReceiver(t)
  const user = await registerUser(app)
  await webhooksClient(app, user.accessToken).createWebhook(receiver.url, ['task.created'])
  const tasks = tasksClient(app, user.accessToken)
  const events = 40
  await Promise.all(Array.from({ length: events }, async (_, index) => await tasks.createTask({ title: `burst ${index}` })))
  // Well under WAIT_FALLBACK_MS (its earliest is 22.5 s): a lost wake-up would leave a delivery waiting for the fallback.
  await receiver.waitFor(events, WAIT_FALLBACK_MS / 2)
  t.equal(receiver.maxConcurrent(), 1, 'one attempt at a time')
})
