/**
 * The TypeScript client's refresh, against a real taskforge whose access
 * tokens live 2 seconds: however many requests are refused together, one
 * refresh (a second one with the same refresh token would be taken as theft
 * and end the login). Counted on the server, in its /metrics.
 */
import t from 'tap'
import { ApiProblem, TaskforgeClient, type SessionTokens } from '../../clients/typescript/src/index.js'
import { PASSWORD, startClientTestServer } from '../helpers/client-server.js'

const server = await startClientTestServer(t, { ACCESS_TOKEN_TTL: '2s' })

const refreshes = () => server.metric('http_requests_total', { route: '/auth/refresh' })
const refusedWith = (method: string, route: string) => server.metric('http_requests_total', { method, route, status_code: '401' })

/** Resolves once the server refuses this access token (it has expired), asking every 100 ms. */
async function refusedFromNowOn (accessToken: string): Promise<void> {
  for (;;) {
    const response = await fetch(`${server.baseUrl}/auth/me`, { headers: { authorization: `Bearer ${accessToken}` } })
    await response.body?.cancel()
    if (response.status === 401) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

t.test('ten requests refused together cause exactly one refresh, and each is sent again and answered', async (t) => {
  const email = await server.newUser()
  const sessions: (SessionTokens | null)[] = []
  const client = new TaskforgeClient({ baseUrl: server.baseUrl, onSession: (tokens) => { sessions.push(tokens) } })
  const { accessToken } = await client.signIn({ email, password: PASSWORD })
  await refusedFromNowOn(accessToken)

  const refreshesBefore = await refreshes()
  const listsRefusedBefore = await refusedWith('GET', '/tasks')
  const createsRefusedBefore = await refusedWith('POST', '/tasks')
  const answers = await Promise.all([
    ...Array.from({ length: 5 }, () => client.tasks.list()),
    ...Array.from({ length: 5 }, (_, index) => client.tasks.create({ title: `made during the refresh ${index}` }))
  ])
  t.equal(answers.length, 10, 'all ten answered')
  t.equal(await refusedWith('GET', '/tasks') - listsRefusedBefore, 5, 'the five lists were refused first')
  t.equal(await refusedWith('POST', '/tasks') - createsRefusedBefore, 5, 'and so were the five creates')
  t.equal(await refreshes() - refreshesBefore, 1, 'one refresh')
  t.equal(sessions.length, 2, 'the hook got the sign-in\'s tokens and the refresh\'s')
  const [signIn, refreshed] = sessions
  t.not(refreshed?.refreshToken, signIn?.refreshToken, 'a new refresh token to keep')
  t.same(client.session, refreshed)
  const titles = (await client.tasks.list()).items.map((task) => task.title).sort()
  t.same(titles, [0, 1, 2, 3, 4].map((index) => `made during the refresh ${index}`), 'each create sent again with its body, once')

  // Had a second refresh spent the same token, the server would have ended the login: it lives on.
  await refusedFromNowOn(refreshed?.accessToken ?? '')
  t.equal((await client.me()).email, email, 'the next expiry refreshes with the kept token')
  t.equal(await refreshes() - refreshesBefore, 2)
  t.equal(sessions.length, 3)
})

t.test('a login resumed from its refresh token refreshes once before its first requests', async (t) => {
  const email = await server.newUser()
  const first = new TaskforgeClient({ baseUrl: server.baseUrl })
  const { refreshToken } = await first.signIn({ email, password: PASSWORD })

  const sessions: (SessionTokens | null)[] = []
  const resumed = new TaskforgeClient({
    baseUrl: server.baseUrl,
    session: { refreshToken },
    onSession: (tokens) => { sessions.push(tokens) }
  })
  const refreshesBefore = await refreshes()
  const meRefusedBefore = await refusedWith('GET', '/auth/me')
  const answers = await Promise.all(Array.from({ length: 5 }, () => resumed.me()))
  t.same(answers.map((user) => user.email), Array.from({ length: 5 }, () => email))
  t.equal(await refreshes() - refreshesBefore, 1, 'one refresh')
  t.equal(await refusedWith('GET', '/auth/me') - meRefusedBefore, 0, 'and no request sent without a token first')
  t.equal(sessions.length, 1)
})

t.test('a refused refresh ends the login: the hook hears null, the call rejects with the ApiProblem', async (t) => {
  const email = await server.newUser()
  const sessions: (SessionTokens | null)[] = []
  const client = new TaskforgeClient({ baseUrl: server.baseUrl, onSession: (tokens) => { sessions.push(tokens) } })
  const { accessToken, refreshToken } = await client.signIn({ email, password: PASSWORD })
  // Someone else spends the client's refresh token (a copy of it leaked): the client's next refresh is a reuse.
  const elsewhere = await fetch(`${server.baseUrl}/auth/refresh`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken })
  })
  t.equal(elsewhere.status, 200)
  await refusedFromNowOn(accessToken)

  const refused = await client.me().then(() => undefined, (error: unknown) => error)
  t.type(refused, ApiProblem)
  t.match(refused, { status: 401, instance: '/auth/refresh' }, 'the refresh\'s own problem')
  t.same(sessions.at(-1), null, 'the hook heard the login end')
  t.equal(client.session, null)
  const afterwards = await client.me().then(() => undefined, (error: unknown) => error)
  t.match(afterwards, { status: 401, instance: '/auth/me' }, 'later calls go without a token, and are refused')
})
