/**
 * The /webhooks routes (API.md, "Webhooks"): create, list, read, change,
 * delete, rotate-secret, with a session's access token; a user sees only
 * their own; at most 20; bad input is a 400 problem.
 */
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { registerUser } from '../helpers/auth.js'
import { webhooksClient, type WebhookBody } from '../helpers/webhooks.js'

const SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/
const PUBLIC_URL = 'https://hooks.example.com/taskforge'
// A resolver that gives every name a public address: no real DNS in tests.
const resolveHost = async () => [{ address: '93.184.215.14', family: 4 as const }]

t.test('a webhook\'s life: create (secret shown once), list, read, change, rotate, delete', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { resolveHost })
  const user = await registerUser(app)
  const hooks = webhooksClient(app, user.accessToken)

  const created = await hooks.create({ url: PUBLIC_URL, events: ['task.created', 'task.completed'], description: 'chat' })
  t.equal(created.statusCode, 201)
  t.equal(created.headers['cache-control'], 'no-store', 'the answer carries a secret: no cache keeps it')
  const webhook = created.json<WebhookBody & { secret: string }>()
  t.equal(created.headers.location, `/webhooks/${webhook.id}`)
  t.match(webhook, {
    url: PUBLIC_URL, events: ['task.created', 'task.completed'], description: 'chat', enabled: true, createdAt: String, updatedAt: String
  })
  t.match(webhook.secret, SECRET, 'whsec_ + base64 of 32 bytes')
  t.equal(Buffer.from(webhook.secret.slice(6), 'base64').length, 32)
  t.same(Object.keys(webhook).sort(), ['createdAt', 'description', 'enabled', 'events', 'id', 'secret', 'updatedAt', 'url'])

  const { secret: _secret, ...shown } = webhook
  t.same((await hooks.list()).json(), { items: [shown] }, 'listed without its secret')
  const read = await hooks.get(webhook.id)
  t.equal(read.statusCode, 200)
  t.same(read.json(), shown, 'read without its secret')

  const defaults = await hooks.create({ url: `${PUBLIC_URL}/2`, events: ['task.deleted'] })
  t.equal(defaults.json<WebhookBody>().description, '', 'description defaults to ""')

  const changed = await hooks.patch(webhook.id, { events: ['task.deleted'], description: 'renamed', enabled: false })
  t.equal(changed.statusCode, 200)
  t.match(changed.json(), { id: webhook.id, url: PUBLIC_URL, events: ['task.deleted'], description: 'renamed', enabled: false })
  t.notOk('secret' in changed.json<object>())
  t.ok(Date.parse(changed.json<WebhookBody>().updatedAt) >= Date.parse(webhook.updatedAt))
  const moved = await hooks.patch(webhook.id, { url: 'https://other.example.org/in' })
  t.equal(moved.json<WebhookBody>().url, 'https://other.example.org/in', 'a new URL is checked and kept')
  t.same((await hooks.patch(webhook.id, {})).json<WebhookBody>().events, ['task.deleted'], 'an empty subset changes nothing')

  const rotated = await hooks.rotate(webhook.id)
  t.equal(rotated.statusCode, 200)
  t.equal(rotated.headers['cache-control'], 'no-store')
  const fresh = rotated.json<WebhookBody & { secret: string }>()
  t.match(fresh.secret, SECRET)
  t.not(fresh.secret, webhook.secret, 'a new secret')
  t.equal(fresh.id, webhook.id)

  t.equal((await hooks.delete(webhook.id)).statusCode, 204)
  t.equal((await hooks.get(webhook.id)).statusCode, 404)
  t.equal((await hooks.delete(webhook.id)).statusCode, 404)
  t.same((await hooks.list()).json<{ items: WebhookBody[] }>().items.map((item) => item.url), [`${PUBLIC_URL}/2`])
})

t.test('another user\'s webhook, a missing one and a malformed id are the same 404 for every route, and stay as they were', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { resolveHost })
  const owner = webhooksClient(app, (await registerUser(app)).accessToken)
  const stranger = webhooksClient(app, (await registerUser(app)).accessToken)
  const webhook = await owner.createWebhook(PUBLIC_URL)

  for (const id of [webhook.id, '3f1d8d52-6a8e-4a57-9d2c-8f1f4b5a2e11', 'not-a-uuid']) {
    for (const [what, response] of [
      ['GET', await stranger.get(id)],
      ['PATCH', await stranger.patch(id, { enabled: false })],
      ['PATCH url', await stranger.patch(id, { url: 'https://mallory.example/' })],
      ['DELETE', await stranger.delete(id)],
      ['rotate-secret', await stranger.rotate(id)],
      ['deliveries', await stranger.deliveries(id)]
    ] as const) {
      t.equal(response.statusCode, 404, `${what} ${id}`)
      t.match(response.headers['content-type'], /application\/problem\+json/)
    }
  }
  t.same((await stranger.list()).json(), { items: [] }, 'a user lists only their own')
  const { secret: _secret, ...shown } = webhook
  t.same((await owner.get(webhook.id)).json(), shown, 'the owner\'s webhook is untouched')
})

t.test('the routes need an access token', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { resolveHost })
  for (const [method, url] of [
    ['POST', '/webhooks'], ['GET', '/webhooks'], ['GET', '/webhooks/x'], ['PATCH', '/webhooks/x'],
    ['DELETE', '/webhooks/x'], ['POST', '/webhooks/x/rotate-secret'], ['GET', '/webhooks/x/deliveries']
  ] as const) {
    const response = await app.inject({ method, url, payload: method === 'POST' || method === 'PATCH' ? {} : undefined })
    t.equal(response.statusCode, 401, `${method} ${url}`)
    t.equal(response.headers['www-authenticate'], 'Bearer')
  }
})

t.test('bad input is a 400 problem and creates or changes nothing', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { resolveHost })
  const hooks = webhooksClient(app, (await registerUser(app)).accessToken)
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['no events', { url: PUBLIC_URL, events: [] }, /events/],
    ['an unknown event', { url: PUBLIC_URL, events: ['task.exploded'] }, /events/],
    ['an event twice', { url: PUBLIC_URL, events: ['task.created', 'task.created'] }, /events/],
    ['no url', { events: ['task.created'] }, /url/],
    ['a relative url', { url: '/hook', events: ['task.created'] }, /absolute URL/],
    ['http', { url: 'http://hooks.example.com/', events: ['task.created'] }, /https URL/],
    ['another scheme', { url: 'ftp://hooks.example.com/', events: ['task.created'] }, /https URL/],
    ['credentials in the url', { url: 'https://user:pw@hooks.example.com/', events: ['task.created'] }, /credentials/],
    ['an unknown property', { url: PUBLIC_URL, events: ['task.created'], secret: 'whsec_mine' }, /additional properties/],
    ['a long description', { url: PUBLIC_URL, events: ['task.created'], description: 'x'.repeat(501) }, /description/],
    ['a NUL in the description', { url: PUBLIC_URL, events: ['task.created'], description: 'a\u0000b' }, /description/]
  ]
  for (const [what, payload, detail] of cases) {
    const response = await hooks.create(payload)
    t.equal(response.statusCode, 400, what)
    t.match(response.headers['content-type'], /application\/problem\+json/, what)
    t.match(response.json<{ detail: string }>().detail, detail, what)
  }
  t.same((await hooks.list()).json(), { items: [] }, 'nothing was created')

  const webhook = await hooks.createWebhook(PUBLIC_URL)
  for (const payload of [{ events: [] }, { enabled: 'yes' }, { url: 'http://hooks.example.com/' }, { id: webhook.id }, { secret: 'whsec_x' }]) {
    t.equal((await hooks.patch(webhook.id, payload)).statusCode, 400, JSON.stringify(payload))
  }
  const { secret: _secret, ...shown } = webhook
  t.same((await hooks.get(webhook.id)).json(), shown, 'and nothing was changed')
  t.equal((await hooks.deliveries(webhook.id, '?limit=0')).statusCode, 400)
  t.equal((await hooks.deliveries(webhook.id, '?cursor=forged.cursor')).statusCode, 400, 'a bad cursor is a 400')
})

t.test('at most 20 webhooks per user: the 21st is a 400 problem, also when created at once', async (t) => {
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { resolveHost })
  const hooks = webhooksClient(app, (await registerUser(app)).accessToken)
  const other = webhooksClient(app, (await registerUser(app)).accessToken)
  const answers = await Promise.all(Array.from({ length: 25 }, (_, index) => hooks.create({ url: `${PUBLIC_URL}/${index}`, events: ['task.created'] })))
  t.equal(answers.filter((answer) => answer.statusCode === 201).length, 20, 'twenty created of 25 sent together')
  const refused = answers.filter((answer) => answer.statusCode !== 201)
  t.same(refused.map((answer) => answer.statusCode), [400, 400, 400, 400, 400])
  t.match(refused[0]?.json(), { status: 400, detail: /20 webhooks/ })
  t.equal((await hooks.list()).json<{ items: unknown[] }>().items.length, 20)
  t.equal((await other.create({ url: PUBLIC_URL, events: ['task.created'] })).statusCode, 201, 'the limit is per user')
  const [first] = (await hooks.list()).json<{ items: WebhookBody[] }>().items
  t.equal((await hooks.delete(first?.id ?? '')).statusCode, 204)
  t.equal((await hooks.create({ url: PUBLIC_URL, events: ['task.created'] })).statusCode, 201, 'after a delete there is room again')
})
