import { Agent, get } from 'node:http'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import { SHUTTING_DOWN_RETRY_AFTER_S } from '../../plugins/availability.js'
import { countOutcomes, failuresOf, startTaskLoad, type Outcome } from '../helpers/client-load.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { eventually } from '../helpers/jobs.js'
import { LOAD_TEST_ENVIRONMENT, registerOverHttp, startServerProcess, type ServerProcess } from '../helpers/server-process.js'
import { startSilentServer } from '../helpers/smtp.js'

const SHUTTING_DOWN = 'https://taskforge.dev/problems/shutting-down'

/**
 * What every shutdown under load must show, counted at the client: an answer or a refusal
 * for each request, never a reset; every 201 stored.
 */
async function checkOutcomes (t: Test, server: ServerProcess, database: TestDatabase, outcomes: Outcome[]): Promise<void> {
  t.comment(`client side: ${JSON.stringify(countOutcomes(outcomes))}`)
  t.same(failuresOf(outcomes), [], 'no request was reset, cut or left unanswered: each got an answer or a refused connection')
  const statuses = new Set(outcomes.flatMap((outcome) => outcome.status ?? []))
  t.ok([...statuses].every((status) => status === 201 || status === 503), `answers were 201 or 503 (${[...statuses].join(', ')})`)
  const refusals = outcomes.filter((outcome) => outcome.status === 503)
  t.same(refusals.filter((outcome) => outcome.problemType !== SHUTTING_DOWN || outcome.retryAfter !== String(SHUTTING_DOWN_RETRY_AFTER_S) || outcome.connection !== 'close'), [],
    'each 503 is the shutting-down problem, says when to retry, and closes its connection')

  // A request sent after draining began reached the server after it, so its answer must say Connection: close.
  const drainingAt = Number((await server.waitForLog(/^draining/)).time)
  const afterDraining = outcomes.filter((outcome) => outcome.status !== undefined && outcome.sentAt > drainingAt)
  t.ok(afterDraining.length > 0, `${afterDraining.length} requests sent after draining began were answered`)
  t.same(afterDraining.filter((outcome) => outcome.connection !== 'close').map((outcome) => outcome.title), [], 'their answers all say Connection: close')

  const sql = postgres(database.url, { max: 1, onnotice: () => undefined })
  t.teardown(() => sql.end())
  const stored = new Set((await sql<{ title: string }[]>`select title from tasks`).map((row) => row.title))
  const created = outcomes.filter((outcome) => outcome.status === 201)
  t.ok(created.length > 200, `${created.length} tasks created`)
  t.same(created.filter((outcome) => !stored.has(outcome.title)).map((outcome) => outcome.title), [], 'every 201 is in the database')
}

t.test('SIGTERM under keep-alive load, default settings: every request is answered or refused, none reset; exit 0 within 15 s', async (t) => {
  const database = await createTestDatabase(t)
  const server = await startServerProcess(t, { ...LOAD_TEST_ENVIRONMENT, DATABASE_URL: database.url })
  const accessToken = await registerOverHttp(server.baseUrl, 'load@example.io')
  const load = startTaskLoad({ baseUrl: server.baseUrl, accessToken, clients: 32 })
  t.teardown(load.stop)
  await eventually(async () => load.answered() > 200 || undefined, 30_000, 'load to build up')

  const signalled = performance.now()
  server.child.kill('SIGTERM')
  const { code, at } = await server.exited
  await load.stop()

  t.equal(code, 0, 'exit 0')
  t.ok(at - signalled < 15_000, `exited ${Math.round(at - signalled)} ms after the signal`)
  t.ok(server.logs.some((line) => line.msg === 'shut down cleanly'))
  t.notOk(server.logs.some((line) => line.msg === 'shutdown time-out: cutting the connections still open'), 'no connection had to be cut')
  await checkOutcomes(t, server, database, load.outcomes)
})

t.test('SIGTERM with SHUTDOWN_DELAY_MS: readiness fails first, requests are still served until the server stops accepting, none reset', async (t) => {
  // Long enough for a client on a loaded machine to see readiness fail (it took up to 1.6 s here) before the server stops accepting.
  const delayMs = 3000
  const database = await createTestDatabase(t)
  const server = await startServerProcess(t, { ...LOAD_TEST_ENVIRONMENT, DATABASE_URL: database.url, SHUTDOWN_DELAY_MS: String(delayMs) })
  const accessToken = await registerOverHttp(server.baseUrl, 'delay@example.io')
  const load = startTaskLoad({ baseUrl: server.baseUrl, accessToken, clients: 16 })
  t.teardown(load.stop)
  await eventually(async () => load.answered() > 200 || undefined, 30_000, 'load to build up')

  // Asked on a connection opened beforehand, as a load balancer's checks would be: the answer does not queue behind
  // the load's new connections (under load the server accepts about one per turn of its event loop).
  const readiness = keptAliveProbe(`${server.baseUrl}/health/ready`)
  t.teardown(readiness.close)
  t.equal(await readiness.status(), 200)
  server.child.kill('SIGTERM')
  const readinessFailedAt = await eventually(async () => await readiness.status() === 503 ? Date.now() : undefined, 10_000, 'readiness to fail')
  const signalAt = Number((await server.waitForLog('shutting down')).time)
  const stoppedAt = Number((await server.waitForLog('stopped accepting connections')).time)
  // Timed from the server's own log of the signal, and bounded by its log of the stop, not by a fixed figure: on
  // shared cores the client may see the 503 late, but it must see it while the server still accepts.
  t.ok(readinessFailedAt < stoppedAt, `readiness failed ${readinessFailedAt - signalAt} ms after the server got the signal, before it stopped accepting (${stoppedAt - signalAt} ms)`)
  t.ok(stoppedAt - signalAt >= delayMs, 'the server accepted for SHUTDOWN_DELAY_MS after the signal')
  const drainingAt = Number((await server.waitForLog(/^draining/)).time)
  const servedMeanwhile = load.outcomes.filter((outcome) => outcome.status === 201 && outcome.sentAt > drainingAt)
  t.ok(servedMeanwhile.length > 0, `${servedMeanwhile.length} requests sent after readiness failed were served while the load balancer catches up`)

  const { code } = await server.exited
  await load.stop()
  t.equal(code, 0, 'exit 0')
  await checkOutcomes(t, server, database, load.outcomes)
})

/** GETs url over one kept-alive connection, the same each time while the server keeps it open. */
function keptAliveProbe (url: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const status = () => new Promise<number>((resolve, reject) => {
    get(url, { agent }, (response) => {
      response.resume()
      response.once('end', () => { resolve(response.statusCode ?? 0) })
    }).once('error', reject)
  })
  return { status, close: () => { agent.destroy() } }
}

/** A server whose welcome email hangs on an SMTP server that accepts and never answers; resolves once that job runs. */
async function serverWithHangingJob (t: Test, environment: NodeJS.ProcessEnv) {
  const database = await createTestDatabase(t)
  const smtpPort = await startSilentServer(t)
  const server = await startServerProcess(t, { ...LOAD_TEST_ENVIRONMENT, DATABASE_URL: database.url, SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, ...environment })
  await registerOverHttp(server.baseUrl, 'silent@example.io')
  const sql = postgres(database.url, { max: 1, onnotice: () => undefined })
  t.teardown(() => sql.end())
  const job = async () => (await sql<{ state: string; attempts: number; lockedBy: string | null }[]>`select state, attempts, locked_by as "lockedBy" from jobs where type = 'welcome-email'`)[0]
  await eventually(async () => (await job())?.state === 'running' || undefined, 20_000, 'the welcome email to be sent')
  return { server, job }
}

t.test('SIGTERM while a job hangs on a silent SMTP server: exit within SHUTDOWN_TIMEOUT_MS, the job handed back without counting the attempt', async (t) => {
  const timeoutMs = 3000
  const { server, job } = await serverWithHangingJob(t, { SHUTDOWN_TIMEOUT_MS: String(timeoutMs) })
  const signalled = performance.now()
  server.child.kill('SIGTERM')
  const { code, at } = await server.exited
  t.equal(code, 0, 'a clean exit: the worker gave up on the job in time, the time-out did not have to force it')
  t.ok(at - signalled < timeoutMs + 2000, `exited ${Math.round(at - signalled)} ms after the signal`)
  const logTime = (msg: string) => Number(server.logs.find((line) => line.msg === msg)?.time)
  t.ok(logTime('shut down cleanly') - logTime('shutting down') < timeoutMs, `closed ${logTime('shut down cleanly') - logTime('shutting down')} ms after it got the signal, by its own clock`)
  t.match(await job(), { state: 'queued', attempts: 0, lockedBy: null }, 'queued again for the next worker, its attempt not counted')
  t.ok(server.logs.some((line) => line.msg === 'shut down with jobs unfinished: released to the queue'))
})

t.test('a second signal while shutdown waits for a hanging job ends the process at once', async (t) => {
  const { server } = await serverWithHangingJob(t, {})
  server.child.kill('SIGTERM')
  await server.waitForLog('shutting down')
  const second = performance.now()
  server.child.kill('SIGINT')
  const { code, at } = await server.exited
  t.equal(code, 1, 'exit 1: a forced exit')
  t.ok(at - second < 2000, `exited ${Math.round(at - second)} ms after the second signal, not at the 10 s time-out`)
  t.ok(server.logs.some((line) => line.msg === 'second signal: exiting at once'))
})
