import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import postgres from 'postgres'
import t from 'tap'
import { countOutcomes, failuresOf, startTaskLoad } from '../helpers/client-load.js'
import { createTestDatabase } from '../helpers/database.js'
import { HAPROXY_PATH, haproxySkipReason, startHaproxy } from '../helpers/haproxy.js'
import { eventually } from '../helpers/jobs.js'
import { registerOverHttp, startServerProcess, type ServerProcess } from '../helpers/server-process.js'
import { freePort } from '../helpers/smtp.js'

const CLIENTS = 16

t.test('a rolling restart behind HAProxy with the production defaults: clients see no failure, every 201 is stored', { skip: haproxySkipReason() ?? false, timeout: 180_000 }, async (t) => {
  if (!existsSync(HAPROXY_PATH)) {
    t.fail(`${HAPROXY_PATH} is missing in CI: .ci/run installs Debian's haproxy before the tests`)
    return
  }
  const database = await createTestDatabase(t)
  // Both instances must accept each other's tokens; production refuses a guessable secret.
  const jwtSecret = randomBytes(36).toString('base64url')
  // NODE_ENV=production and its shutdown defaults; only the rate limits are out of the way (every request comes from HAProxy's address).
  const start = async (port: number) => await startServerProcess(t, {
    NODE_ENV: 'production',
    PORT: String(port),
    DATABASE_URL: database.url,
    JWT_SECRET: jwtSecret,
    RATE_LIMIT_MAX: '1000000',
    AUTH_RATE_LIMIT_MAX: '1000'
  })
  const ports = { a: await freePort(), b: await freePort() }
  const instances: Record<string, ServerProcess> = Object.fromEntries(
    await Promise.all(Object.entries(ports).map(async ([name, port]) => [name, await start(port)] as const))
  )
  // "Every 500 ms", as a load balancer is told to check readiness in the README.
  const haproxy = await startHaproxy(t, { servers: ports, checkPath: '/health/ready', checkIntervalMs: 500 })
  await Promise.all(Object.keys(ports).map((name) => haproxy.waitUntilUp(name)))

  const accessToken = await registerOverHttp(haproxy.baseUrl, 'rolling@example.io')
  const load = startTaskLoad({ baseUrl: haproxy.baseUrl, accessToken, clients: CLIENTS })
  t.teardown(load.stop)
  const served = (instance: ServerProcess) => instance.logs.filter((line) => line.msg === 'request completed' && line.route === '/tasks').length
  await eventually(async () => load.answered() > 100 || undefined, 30_000, 'load to build up')

  for (const [name, port] of Object.entries(ports)) {
    const stopping = instances[name] as ServerProcess
    stopping.child.kill('SIGTERM')
    const { code } = await stopping.exited
    t.equal(code, 0, `${name} exited 0 on SIGTERM`)
    const restarted = await start(port)
    instances[name] = restarted
    await haproxy.waitUntilUp(name)
    // The restarted instance takes its share of the load before the next one goes.
    await eventually(async () => served(restarted) >= 20 || undefined, 30_000, `${name} to serve again`)
    t.pass(`${name} restarted and serves again`)
  }
  await load.stop()

  t.comment(`client side: ${JSON.stringify(countOutcomes(load.outcomes))}`)
  t.same(failuresOf(load.outcomes), [], 'no request was reset or left unanswered')
  const notCreated = load.outcomes.filter((outcome) => outcome.status !== 201)
  t.same(notCreated.map((outcome) => `${outcome.title}: ${outcome.status ?? outcome.error ?? ''}`), [], 'every request was answered 201: no 5xx, not even a 503 to retry')
  const sql = postgres(database.url, { max: 1, onnotice: () => undefined })
  t.teardown(() => sql.end())
  const stored = new Set((await sql<{ title: string }[]>`select title from tasks`).map((row) => row.title))
  t.same(load.outcomes.filter((outcome) => outcome.status === 201 && !stored.has(outcome.title)).map((outcome) => outcome.title), [], 'every 201 is in the database')

  // Both at once now that no client is left (each would otherwise wait its shutdown delay in turn at teardown).
  const exits = await Promise.all(Object.values(instances).map(async (instance) => {
    instance.child.kill('SIGTERM')
    return (await instance.exited).code
  }))
  t.same(exits, [0, 0])
})
