/**
 * Where webhooks may not go (API.md, "Webhooks", Safety): every internal
 * address form is refused when a webhook is saved and again when a delivery
 * goes out, after resolving the name then (a name that resolves to 127.0.0.1
 * included), and the delivery connects to the address that was checked.
 * Names resolve through a resolver the test injects: no real DNS.
 */
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { registerUser } from '../helpers/auth.js'
import { createTestDatabase } from '../helpers/database.js'
import { tasksClient } from '../helpers/tasks.js'
import { DELIVERY_TEST_ENVIRONMENT, startReceiver, webhooksClient, type DeliveryBody } from '../helpers/webhooks.js'
import type { ResolvedAddress } from '../../services/webhooks/address-policy.js'

const PUBLIC = { address: '93.184.215.14', family: 4 } as const

/** A resolver from a table the test can change (DNS that changes between save and delivery); unknown names fail like NXDOMAIN. */
function tableResolver (table: Record<string, ResolvedAddress[]>) {
  const calls: string[] = []
  const resolve = async (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname)
    const answer = table[hostname]
    if (answer === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
    return answer
  }
  return { resolve, calls }
}

/** Every internal address a URL can name literally, with the reason the API gives. */
const FORBIDDEN_LITERALS: [string, RegExp][] = [
  ['127.0.0.1', /127\.0\.0\.1 is a loopback address/],
  ['127.1', /127\.0\.0\.1 is a loopback address/],
  ['2130706433', /127\.0\.0\.1 is a loopback address/],
  ['0x7f000001', /127\.0\.0\.1 is a loopback address/],
  ['0177.0.0.1', /127\.0\.0\.1 is a loopback address/],
  ['127.255.255.254', /loopback/],
  ['[::1]', /::1 is a loopback address/],
  ['[::ffff:127.0.0.1]', /loopback address \(127\.0\.0\.1, embedded in an IPv6 address\)/],
  ['[::127.0.0.1]', /loopback address \(127\.0\.0\.1, embedded/],
  ['[::ffff:0:127.0.0.1]', /loopback address \(127\.0\.0\.1, embedded/],
  ['[64:ff9b::127.0.0.1]', /loopback address \(127\.0\.0\.1, embedded/],
  ['[2002:7f00:1::]', /loopback address \(127\.0\.0\.1, embedded/],
  ['10.1.2.3', /a private address/],
  ['172.16.0.1', /a private address/],
  ['172.31.255.255', /a private address/],
  ['192.168.0.10', /a private address/],
  ['[::ffff:10.0.0.1]', /a private address \(10\.0\.0\.1, embedded/],
  ['[::ffff:a00:1]', /a private address \(10\.0\.0\.1, embedded/],
  ['100.64.0.1', /shared \(carrier-grade NAT\)/],
  ['169.254.10.20', /a link-local address/],
  ['[fe80::1]', /a link-local address/],
  ['[fc00::1]', /a unique-local address/],
  ['[fd12:3456::1]', /a unique-local address/],
  ['224.0.0.251', /a multicast address/],
  ['[ff02::1]', /a multicast address/],
  ['0.0.0.0', /unspecified/],
  ['[::]', /the unspecified address/],
  ['255.255.255.255', /reserved or broadcast/],
  ['240.0.0.1', /reserved or broadcast/],
  ['192.0.2.1', /documentation/],
  ['[2001:db8::1]', /documentation/],
  ['[2001::1]', /IETF protocol address \(Teredo/],
  ['[100::1]', /a reserved address/],
  ['169.254.169.254', /a cloud metadata address/],
  ['[fd00:ec2::254]', /a cloud metadata address/],
  ['[::ffff:169.254.169.254]', /a cloud metadata address/],
  ['100.100.100.200', /a cloud metadata address/]
]

/** Names that resolve (in this test's DNS) to internal addresses, one of them among public ones. */
const FORBIDDEN_NAMES: [string, ResolvedAddress[], RegExp][] = [
  ['localhost', [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }], /localhost resolves to 127\.0\.0\.1, a loopback address/],
  ['loopback.example', [{ address: '127.0.0.1', family: 4 }], /loopback\.example resolves to 127\.0\.0\.1, a loopback address/],
  ['v6.example', [{ address: '::1', family: 6 }], /resolves to ::1, a loopback address/],
  ['mapped.example', [{ address: '::ffff:192.168.1.1', family: 6 }], /a private address \(192\.168\.1\.1, embedded/],
  ['mixed.example', [PUBLIC, { address: '10.0.0.5', family: 4 }], /mixed\.example resolves to 10\.0\.0\.5, a private address/],
  ['imds.example', [{ address: '169.254.169.254', family: 4 }], /a cloud metadata address/],
  ['metadata.google.internal', [{ address: '169.254.169.254', family: 4 }], /metadata\.google\.internal is a cloud metadata service/]
]

t.test('at save: only https URLs whose every address is public; every internal form is a 400 problem naming why', async (t) => {
  const dns = tableResolver({
    'hooks.example.com': [PUBLIC],
    'v6ok.example': [{ address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 }],
    ...Object.fromEntries(FORBIDDEN_NAMES.map(([name, addresses]) => [name, addresses]))
  })
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0' }, { resolveHost: dns.resolve })
  const hooks = webhooksClient(app, (await registerUser(app)).accessToken)
  const refusedWith = async (url: string, detail: RegExp) => {
    const response = await hooks.create({ url, events: ['task.created'] })
    t.equal(response.statusCode, 400, url)
    t.match(response.json(), { status: 400, detail }, url)
  }
  for (const [host, reason] of FORBIDDEN_LITERALS) await refusedWith(`https://${host}/hook`, reason)
  for (const [name, , reason] of FORBIDDEN_NAMES) await refusedWith(`https://${name}/hook`, reason)
  await refusedWith('https://nowhere.example/hook', /nowhere\.example could not be resolved \(ENOTFOUND\)/)
  await refusedWith('http://hooks.example.com/hook', /must be an https URL/)
  t.same((await hooks.list()).json(), { items: [] }, 'none was saved')

  for (const url of ['https://hooks.example.com/in', 'https://93.184.215.14:8443/in', 'https://[2606:2800:21f:cb07::1]/in', 'https://v6ok.example/in']) {
    t.equal((await hooks.create({ url, events: ['task.created'] })).statusCode, 201, `${url} is public`)
  }
  const webhook = (await hooks.list()).json<{ items: { id: string }[] }>().items[0]
  const patched = await hooks.patch(webhook?.id ?? '', { url: 'https://loopback.example/hook' })
  t.equal(patched.statusCode, 400, 'a changed URL is checked too')
})

t.test('WEBHOOKS_ALLOW_PRIVATE_URLS=true allows http and internal addresses, never cloud metadata', async (t) => {
  const dns = tableResolver({ 'loopback.example': [{ address: '127.0.0.1', family: 4 }], 'imds.example': [{ address: '169.254.169.254', family: 4 }] })
  const { app } = await buildTestApp(t, { JOBS_CONCURRENCY: '0', WEBHOOKS_ALLOW_PRIVATE_URLS: 'true' }, { resolveHost: dns.resolve })
  const hooks = webhooksClient(app, (await registerUser(app)).accessToken)
  for (const url of ['http://127.0.0.1:8080/hook', 'https://loopback.example/hook', 'http://10.0.0.1/', 'http://[::1]/', 'http://[fd12::1]/']) {
    t.equal((await hooks.create({ url, events: ['task.created'] })).statusCode, 201, url)
  }
  for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://[fd00:ec2::254]/', 'https://imds.example/', 'http://metadata.google.internal/']) {
    const response = await hooks.create({ url, events: ['task.created'] })
    t.equal(response.statusCode, 400, url)
    t.match(response.json<{ detail: string }>().detail, /cloud metadata/, url)
  }
  t.equal((await hooks.create({ url: 'ftp://127.0.0.1/', events: ['task.created'] })).statusCode, 400, 'still http or https only')
})

t.test('at delivery: the address is checked again after resolving, and an internal one is refused without a connection', async (t) => {
  const receiver = await startReceiver(t)
  const port = new URL(receiver.url).port
  const database = await createTestDatabase(t)
  const table: Record<string, ResolvedAddress[]> = { 'rebind.example': [PUBLIC], 'imds.example': [PUBLIC] }
  const dns = tableResolver(table)

  // Saved while allowed: by an instance that allows private URLs (the setting changed since), or while the name was public.
  const saver = await buildTestApp(t, { JOBS_CONCURRENCY: '0', WEBHOOKS_ALLOW_PRIVATE_URLS: 'true' }, { database, resolveHost: dns.resolve })
  const targets: [string, RegExp][] = [
    ...FORBIDDEN_LITERALS.filter(([, reason]) => !/metadata/.test(String(reason))).map(([host, reason]): [string, RegExp] => [`https://${host}:${port}/hook`, reason]),
    [`http://127.0.0.1:${port}/hook`, /must be an https URL/],
    [`https://rebind.example:${port}/hook`, /rebind\.example resolves to 127\.0\.0\.1, a loopback address/],
    [`https://imds.example:${port}/hook`, /imds\.example resolves to 169\.254\.169\.254, a cloud metadata address/]
  ]
  // Users of 15 webhooks each (20 is the most a user may have), each of whom then changes a task.
  const saved = new Map<string, { reason: RegExp; token: string }>()
  const tokens: string[] = []
  for (let index = 0; index < targets.length; index += 15) {
    const { accessToken } = await registerUser(saver.app)
    tokens.push(accessToken)
    for (const [url, reason] of targets.slice(index, index + 15)) {
      saved.set((await webhooksClient(saver.app, accessToken).createWebhook(url, ['task.created'])).id, { reason, token: accessToken })
    }
  }
  // The DNS answers change after the save.
  table['rebind.example'] = [{ address: '127.0.0.1', family: 4 }]
  table['imds.example'] = [{ address: '169.254.169.254', family: 4 }]
  for (const token of tokens) t.equal((await tasksClient(saver.app, token).create({ title: 'one event' })).statusCode, 201)

  // Delivered by an instance with the default rules.
  const deliverer = await buildTestApp(t, { ...DELIVERY_TEST_ENVIRONMENT, WEBHOOKS_ALLOW_PRIVATE_URLS: 'false', WEBHOOKS_MAX_ATTEMPTS: '1' }, {
    database, resolveHost: dns.resolve
  })
  for (const [id, { reason, token }] of saved) {
    const [delivery] = await webhooksClient(deliverer.app, token).settledDeliveries(id, 1)
    t.match(delivery, { status: 'failed', attempts: 1, lastStatusCode: null }, id)
    t.match(delivery?.lastError, /^refused: /, id)
    t.match(delivery?.lastError, reason, String(reason))
  }
  t.equal(receiver.requests.length, 0, 'no request reached the receiver on 127.0.0.1')
})

t.test('a delivery connects to the address it checked: one resolution per attempt, no lookup of its own', async (t) => {
  const receiver = await startReceiver(t)
  const port = new URL(receiver.url).port
  // Not a name the system could resolve: only the checked answer can get the request to the receiver.
  const dns = tableResolver({ 'pinned.invalid': [{ address: '127.0.0.1', family: 4 }] })
  const { app } = await buildTestApp(t, DELIVERY_TEST_ENVIRONMENT, { resolveHost: dns.resolve })
  const user = await registerUser(app)
  const hooks = webhooksClient(app, user.accessToken)
  const webhook = await hooks.createWebhook(`http://pinned.invalid:${port}/hook`, ['task.created'])
  t.same(dns.calls, ['pinned.invalid'], 'resolved once at save')
  await tasksClient(app, user.accessToken).createTask()
  const [delivery] = await hooks.settledDeliveries(webhook.id, 1)
  t.match(delivery, { status: 'delivered', attempts: 1 } satisfies Partial<DeliveryBody>)
  t.equal(receiver.requests.length, 1)
  t.equal(receiver.requests[0]?.headers.host, `pinned.invalid:${port}`, 'the Host header names the URL\'s host')
  t.same(dns.calls, ['pinned.invalid', 'pinned.invalid'], 'and once at the delivery, whose connection used that answer')
})
