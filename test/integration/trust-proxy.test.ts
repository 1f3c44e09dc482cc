import { request } from 'node:http'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'

/**
 * Who a client is, for rate limits, when X-Forwarded-For says otherwise.
 * Requests come over real connections from different loopback addresses
 * (127.0.0.x), so the server sees the socket address it would in production;
 * the budget is the global limit (RATE_LIMIT_MAX a minute per address), seen
 * through its 429.
 */

const BUDGET = 3

/** GET /health/live from `localAddress`, with an X-Forwarded-For if given; resolves with the status. */
async function live (port: number, localAddress: string, forwardedFor?: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const outgoing = request({
      host: '127.0.0.1',
      port,
      localAddress,
      path: '/health/live',
      agent: false,
      headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
      timeout: 10_000
    }, (response) => {
      response.resume()
      response.once('end', () => { resolve(response.statusCode ?? 0) })
    })
    outgoing.once('timeout', () => { outgoing.destroy(new Error('no answer within 10 s')) })
    outgoing.once('error', reject)
    outgoing.end()
  })
}

async function listeningApp (t: Parameters<typeof buildTestApp>[0], environment: NodeJS.ProcessEnv): Promise<number> {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: String(BUDGET), JOBS_CONCURRENCY: '0', ...environment })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (typeof address !== 'object' || address === null) throw new Error('not listening')
  return address.port
}

t.test('TRUST_PROXY unset: X-Forwarded-For is ignored; one address has one budget, whatever it claims', async (t) => {
  const port = await listeningApp(t, {})
  const answers = []
  for (let i = 0; i <= BUDGET; i++) answers.push(await live(port, '127.0.0.2', `10.9.9.${i}`))
  t.same(answers, [200, 200, 200, 429], 'a new X-Forwarded-For each time buys no new budget')
  t.equal(await live(port, '127.0.0.2'), 429, 'nor does leaving it out')
  t.equal(await live(port, '127.0.0.3', '127.0.0.2'), 200, 'another address has its own budget, and cannot spend the first one\'s by naming it')
  t.equal(await live(port, '127.0.0.3'), 200)
})

t.test('TRUST_PROXY=1: the address the proxy added is the client, whatever the client put before it', async (t) => {
  const port = await listeningApp(t, { TRUST_PROXY: '1' })
  // The proxy, at 127.0.0.5, appends the address it saw: the client's own entries come first.
  const viaProxy = (clientSent: string | undefined, clientAddress: string) => live(port, '127.0.0.5', clientSent === undefined ? clientAddress : `${clientSent}, ${clientAddress}`)
  const answers = []
  for (let i = 0; i <= BUDGET; i++) answers.push(await viaProxy(`203.0.113.${i}, 198.51.100.${i}`, '192.0.2.10'))
  t.same(answers, [200, 200, 200, 429], 'the client at 192.0.2.10 has one budget, whatever it prepends')
  t.equal(await viaProxy(undefined, '192.0.2.10'), 429)
  t.equal(await viaProxy('192.0.2.10', '192.0.2.11'), 200, 'another client behind the same proxy has its own budget, even claiming the first one\'s address')
})

t.test('TRUST_PROXY=<address>: only that proxy is believed', async (t) => {
  const port = await listeningApp(t, { TRUST_PROXY: '127.0.0.5' })
  const answers = []
  for (let i = 0; i <= BUDGET; i++) answers.push(await live(port, '127.0.0.6', `10.8.8.${i}`))
  t.same(answers, [200, 200, 200, 429], 'a client that reaches the app directly cannot choose its address')
  const viaProxy = []
  for (let i = 0; i <= BUDGET; i++) viaProxy.push(await live(port, '127.0.0.5', `203.0.113.${i}, 192.0.2.20`))
  t.same(viaProxy, [200, 200, 200, 429], 'behind the proxy: the address it added, whatever came before')
  t.equal(await live(port, '127.0.0.5', '192.0.2.21'), 200, 'another client behind the proxy')
})
