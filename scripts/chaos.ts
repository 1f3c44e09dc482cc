/**
 * `npm run chaos`: restarts a PostgreSQL server while taskforge is under load
 * and checks, counting on the client's side, that it rides it out: every
 * request answered (no time-out at the bound, no reset), only 2xx or 503
 * problem answers, none slower than the bound, readiness back, the process
 * alive, every task it acknowledged still there, and a clean close after
 * (SIGTERM: exit code 0 and 'shut down cleanly' within its shutdown time-out,
 * no forced exit). It restarts a real server, so it is not part of `npm test`;
 * CI runs it last.
 *
 *   CHAOS_ADMIN_URL     a maintenance database URL (default: the local postgres database)
 *   CHAOS_RESTART_CMD   how to restart it (default: pg_ctlcluster … restart on Debian)
 *   CHAOS_RUNS          how many times in a row (default 1); the counts are summed
 *   CHAOS_LOAD_DURING_RESTART=0
 *                       let the restart block this script, so that only the requests already
 *                       in flight meet it. By default new requests keep arriving while it runs.
 */
import { execSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { databaseUrlFor } from '../db/client.js'
import { findFreePort } from '../db/embedded/processes.js'

const ADMIN_URL = process.env.CHAOS_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const RUNS = Number(process.env.CHAOS_RUNS ?? '1')
const LOAD_DURING_RESTART = process.env.CHAOS_LOAD_DURING_RESTART !== '0'
const LATENCY_BOUND_MS = 12_000
// The app's own bound on a request, well inside the one checked here: a request stuck on the database must come back as a 503, in time.
const REQUEST_TIMEOUT_MS = LATENCY_BOUND_MS / 2
const SHUTDOWN_TIMEOUT_MS = 10_000
const CLIENTS = 4

const results: { check: string; ok: boolean; detail: string }[] = []
const check = (name: string, ok: boolean, detail = '') => {
  results.push({ check: name, ok, detail })
  process.stdout.write(`${ok ? 'PASS' : 'FAIL'} ${name}${detail === '' ? '' : ` (${detail})`}\n`)
}

/** What the clients saw, over every run. */
const totals = { sent: 0, answered: 0, resets: 0, unanswered: 0, otherFailures: 0, badAnswers: 0, acknowledged: 0, lost: 0, cleanCloses: 0 }

function restartCommand (): string | undefined {
  if (process.env.CHAOS_RESTART_CMD !== undefined) return process.env.CHAOS_RESTART_CMD
  try {
    const version = readdirSync('/etc/postgresql').sort((a, b) => Number(a) - Number(b)).at(-1)
    execSync('command -v pg_ctlcluster', { stdio: 'ignore' })
    return version === undefined ? undefined : `pg_ctlcluster --skip-systemctl-redirect ${version} main restart`
  } catch {
    return undefined
  }
}

/** Runs a shell command without blocking the event loop (the load keeps running meanwhile); rejects on a non-zero exit. */
async function runCommand (command: string): Promise<void> {
  const child = spawn(command, { shell: true, stdio: 'inherit' })
  const [code, signal] = await once(child, 'exit') as [number | null, NodeJS.Signals | null]
  if (code !== 0) throw new Error(`${command} exited with ${signal ?? String(code)}`)
}

/** Every request gives up after the latency bound: a stuck one is counted unanswered instead of hanging the run. */
const bounded = (init: RequestInit = {}): RequestInit => ({ ...init, signal: AbortSignal.timeout(LATENCY_BOUND_MS) })

/** How a request that got no HTTP answer ended: reset (the connection dropped), unanswered (aborted at the bound) or other. */
function classifyFailure (error: unknown): 'reset' | 'unanswered' | 'other' {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'unanswered'
  const cause = error instanceof Error ? error.cause : undefined
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : ''
  return ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(code) ? 'reset' : 'other'
}

const hasExited = (app: ChildProcess) => app.exitCode !== null || app.signalCode !== null

/** The app's log, JSON lines: kept by request id to explain a bad answer, and scanned for the shutdown. */
interface AppLog {
  byRequest: Map<string, string[]>
  shutDownCleanly: boolean
  stderr: string[]
}

function startApp (databaseUrl: string, port: number): { app: ChildProcess; log: AppLog } {
  const app = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      // info: one line per request (kept to explain a bad answer) and the shutdown's own lines.
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      JWT_SECRET: randomBytes(36).toString('base64url'),
      RATE_LIMIT_MAX: '1000000',
      AUTH_RATE_LIMIT_MAX: '1000',
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS)
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const log: AppLog = { byRequest: new Map(), shutDownCleanly: false, stderr: [] }
  createInterface({ input: app.stdout }).on('line', (line) => {
    let entry: { requestId?: unknown; msg?: unknown }
    try {
      entry = JSON.parse(line) as typeof entry
    } catch {
      return
    }
    if (entry.msg === 'shut down cleanly') log.shutDownCleanly = true
    if (typeof entry.requestId === 'string' && entry.requestId.startsWith('chaos-')) {
      const lines = log.byRequest.get(entry.requestId) ?? []
      lines.push(line.slice(0, 400))
      log.byRequest.set(entry.requestId, lines)
    }
  })
  // close-with-grace says "killed by timeout" here when it forces the exit.
  createInterface({ input: app.stderr }).on('line', (line) => {
    log.stderr.push(line)
    process.stderr.write(`app: ${line}\n`)
  })
  return { app, log }
}

/** Polls readiness until the app answers 200; throws if it exits or is not ready after 150 tries. */
async function waitUntilReady (base: string, app: ChildProcess): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (hasExited(app)) throw new Error(`the app exited with ${app.signalCode ?? String(app.exitCode)} before it was ready`)
    const status = await fetch(`${base}/health/ready`, bounded()).then((response) => response.status, () => 0)
    if (status === 200) return
    await sleep(200)
  }
  throw new Error('the app was not ready after 150 tries')
}

/** Registers the user the load acts as; the headers its requests send. */
async function signUp (base: string): Promise<Record<string, string>> {
  const registered = await fetch(`${base}/auth/register`, bounded({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'chaos@example.io', password: 'long enough password' }) }))
  if (registered.status !== 201) throw new Error(`registering answered ${registered.status}: ${await registered.text()}`)
  const { accessToken } = await registered.json() as { accessToken: string }
  return { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` }
}

/** What the load's clients saw in one run. */
interface LoadRecord {
  created: string[]
  answers: Map<number, number>
  counts: { sent: number; resets: number; unanswered: number; otherFailures: number }
  /** Requests without an acceptable answer, each with its request id, to find its lines in the app's log. */
  failures: { requestId: string; detail: string }[]
  slowest: number
  /** Answers that came while the restart command ran (none when it blocks this script). */
  answeredDuringRestart: number
}

/**
 * CLIENTS clients alternating POST /tasks and GET /tasks until stopped. The
 * restart's start and end are marked on it, so that a bad answer says when it
 * was sent and answers during the restart are counted.
 */
function startLoad (base: string, headers: Record<string, string>, runNumber: number) {
  const record: LoadRecord = {
    created: [],
    answers: new Map(),
    counts: { sent: 0, resets: 0, unanswered: 0, otherFailures: 0 },
    failures: [],
    slowest: 0,
    answeredDuringRestart: 0
  }
  let running = true
  let restarting = false
  let restartStarted = 0
  /** When a request began, relative to the restart: for the report of a bad answer. */
  const sinceRestart = (at: number) => restartStarted === 0 ? 'before the restart' : `${at - restartStarted} ms after the restart began`
  const client = async (index: number) => {
    // eslint-disable-next-line no-unmodified-loop-condition -- the run's main flow clears `running` while these clients await
    for (let n = 0; running; n++) {
      const started = Date.now()
      const request = n % 2 === 0 ? 'POST /tasks' : 'GET /tasks'
      const requestId = `chaos-${runNumber}-${index}-${n}`
      const init = { headers: { ...headers, 'x-request-id': requestId } }
      record.counts.sent += 1
      try {
        const response = n % 2 === 0
          ? await fetch(`${base}/tasks`, bounded({ ...init, method: 'POST', body: JSON.stringify({ title: `chaos ${requestId}` }) }))
          : await fetch(`${base}/tasks?limit=5`, bounded(init))
        const body = await response.text()
        record.slowest = Math.max(record.slowest, Date.now() - started)
        record.answers.set(response.status, (record.answers.get(response.status) ?? 0) + 1)
        if (restarting) record.answeredDuringRestart += 1
        if (response.status === 201) record.created.push((JSON.parse(body) as { id: string }).id)
        else if (response.status >= 300 && !(response.status === 503 && response.headers.get('content-type')?.startsWith('application/problem+json') === true)) {
          record.failures.push({ requestId, detail: `${request} sent ${sinceRestart(started)}: ${response.status} ${body.slice(0, 200)}` })
        }
      } catch (error) {
        const kind = classifyFailure(error)
        if (kind === 'reset') record.counts.resets += 1
        else if (kind === 'unanswered') record.counts.unanswered += 1
        else record.counts.otherFailures += 1
        const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : ''
        record.failures.push({ requestId, detail: `${request} sent ${sinceRestart(started)}: no answer (${kind}) after ${Date.now() - started} ms: ${String(error)}${cause}` })
      }
      await sleep(20)
    }
  }
  const load = Promise.all(Array.from({ length: CLIENTS }, (_, index) => client(index)))
  return {
    /** Filled in as answers come. */
    record,
    restartBegins: () => {
      restartStarted = Date.now()
      restarting = true
    },
    restartEnded: () => { restarting = false },
    /** Stops the clients once their requests in flight are answered; what they saw. */
    stop: async (): Promise<LoadRecord> => {
      running = false
      await load
      return record
    }
  }
}

type Load = ReturnType<typeof startLoad>

/** Restarts PostgreSQL (the load going on meanwhile, unless CHAOS_LOAD_DURING_RESTART=0); when it began. */
async function restartDatabase (runNumber: number, restart: string, load: Load): Promise<number> {
  process.stdout.write(`run ${runNumber}: restarting PostgreSQL${LOAD_DURING_RESTART ? ' under load' : ''}: ${restart}\n`)
  const restartStarted = Date.now()
  load.restartBegins()
  try {
    if (LOAD_DURING_RESTART) await runCommand(restart)
    else execSync(restart, { stdio: 'inherit' })
  } finally {
    load.restartEnded()
  }
  process.stdout.write(`PostgreSQL restarted in ${Date.now() - restartStarted} ms; ${load.record.answeredDuringRestart} answers meanwhile\n`)
  return restartStarted
}

/** How long after the restart began readiness answered 200 again; -1 if it did not within 150 tries. */
async function readyAgainAfter (base: string, restartStarted: number): Promise<number> {
  for (let i = 0; i < 150; i++) {
    const status = await fetch(`${base}/health/ready`, bounded()).then((response) => response.status, () => 0)
    if (status === 200) return Date.now() - restartStarted
    await sleep(100)
  }
  return -1
}

/** The checks of what the clients saw; how many answers were neither 2xx nor a 503 problem. */
function checkAnswers (record: LoadRecord, log: AppLog, readyAfterMs: number): number {
  const { counts, failures, answers, slowest } = record
  const noAnswer = counts.resets + counts.unanswered + counts.otherFailures
  const badAnswers = failures.length - noAnswer
  const explain = () => failures.slice(0, 3).map(({ requestId, detail }) => {
    const lines = log.byRequest.get(requestId) ?? []
    return `${requestId} ${detail}; the app logged ${lines.length === 0 ? 'nothing' : lines.join(' ')}`
  }).join(' | ')
  const counted = `${counts.sent} sent: ${JSON.stringify(Object.fromEntries(answers))}, ${counts.resets} reset, ${counts.unanswered} unanswered at ${LATENCY_BOUND_MS} ms, ${counts.otherFailures} other failures`
  check('every request answered (no reset, none left without an answer)', noAnswer === 0, noAnswer === 0 ? counted : `${counted}: ${explain()}`)
  check('only 2xx or 503 problem answers', badAnswers === 0, badAnswers === 0 ? '' : `${badAnswers} bad: ${explain()}`)
  check(`no answer slower than ${LATENCY_BOUND_MS} ms`, slowest < LATENCY_BOUND_MS, `slowest ${slowest} ms`)
  check('ready again after the restart', readyAfterMs >= 0, `${readyAfterMs} ms after the restart began`)
  return badAnswers
}

/** A write works after the restart, and every task acknowledged during the run is stored; how many are missing. */
async function checkWritesAndStorage (
  base: string, headers: Record<string, string>, databaseUrl: string, created: string[]
): Promise<number> {
  const after = await fetch(`${base}/tasks`, bounded({ method: 'POST', headers, body: JSON.stringify({ title: 'after the restart' }) }))
  check('writes work after the restart', after.status === 201, String(after.status))
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined })
  const rows = await sql<{ id: string }[]>`select id from tasks`
  await sql.end()
  const stored = new Set(rows.map((row) => row.id))
  const lost = created.filter((id) => !stored.has(id))
  check('every acknowledged task is in the database', lost.length === 0, `${created.length} acknowledged, ${lost.length} missing`)
  return lost.length
}

function addToTotals (record: LoadRecord, badAnswers: number, lost: number): void {
  const { counts, answers, created } = record
  Object.assign(totals, {
    sent: totals.sent + counts.sent,
    answered: totals.answered + [...answers.values()].reduce((sum, count) => sum + count, 0),
    resets: totals.resets + counts.resets,
    unanswered: totals.unanswered + counts.unanswered,
    otherFailures: totals.otherFailures + counts.otherFailures,
    badAnswers: totals.badAnswers + badAnswers,
    acknowledged: totals.acknowledged + created.length,
    lost: totals.lost + lost
  })
}

/** SIGTERM, then the check that the app closed cleanly within its shutdown time-out. */
async function checkCleanClose (app: ChildProcess, log: AppLog, exited: Promise<[number | null, NodeJS.Signals | null]>): Promise<void> {
  const closing = Date.now()
  app.kill('SIGTERM')
  // close-with-grace forces the exit at SHUTDOWN_TIMEOUT_MS; later than that, something else holds the process.
  const [code, signal] = await Promise.race([exited, sleep(SHUTDOWN_TIMEOUT_MS + 5000).then(() => [null, null] as const)])
  const took = Date.now() - closing
  if (!hasExited(app)) app.kill('SIGKILL')
  const forced = log.stderr.some((line) => /killed by timeout|exiting/.test(line))
  const clean = code === 0 && signal === null && log.shutDownCleanly && !forced && took < SHUTDOWN_TIMEOUT_MS
  if (clean) totals.cleanCloses += 1
  check('a clean close on SIGTERM (exit 0, "shut down cleanly", no forced exit)', clean,
    `exit ${signal ?? String(code)} after ${took} ms${log.shutDownCleanly ? ', "shut down cleanly" logged' : ', no "shut down cleanly"'}${forced ? ', forced by close-with-grace' : ''}`)
}

/** One run: the app on a database of its own, under load while PostgreSQL restarts, then checked and closed. */
async function run (runNumber: number, restart: string): Promise<void> {
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => undefined })
  const name = `taskforge_chaos_${randomBytes(6).toString('hex')}`
  await admin.unsafe(`create database ${name}`)
  const databaseUrl = databaseUrlFor(ADMIN_URL, name)
  const port = await findFreePort()
  const base = `http://127.0.0.1:${port}`
  const { app, log } = startApp(databaseUrl, port)
  const exited = once(app, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  try {
    await waitUntilReady(base, app)
    const headers = await signUp(base)
    const load = startLoad(base, headers, runNumber)
    await sleep(1500)
    const restartStarted = await restartDatabase(runNumber, restart, load)
    const readyAfterMs = await readyAgainAfter(base, restartStarted)
    await sleep(2000)
    const record = await load.stop()
    const badAnswers = checkAnswers(record, log, readyAfterMs)
    check('the process stayed up', !hasExited(app))
    const lost = await checkWritesAndStorage(base, headers, databaseUrl, record.created)
    addToTotals(record, badAnswers, lost)
    if (!hasExited(app)) await checkCleanClose(app, log, exited)
  } finally {
    if (!hasExited(app)) {
      app.kill('SIGKILL')
      await exited
    }
    await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => undefined)
    await admin.end()
  }
}

async function main (): Promise<number> {
  const restart = restartCommand()
  if (restart === undefined) {
    process.stdout.write('SKIP no way to restart PostgreSQL here (set CHAOS_RESTART_CMD)\n')
    return 0
  }
  if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`CHAOS_RUNS must be a positive integer, not ${process.env.CHAOS_RUNS ?? ''}`)
  for (let runNumber = 1; runNumber <= RUNS; runNumber++) await run(runNumber, restart)
  const failed = results.filter((result) => !result.ok).length
  process.stdout.write(`chaos, ${RUNS} run(s), load ${LOAD_DURING_RESTART ? 'during' : 'before and after'} the restart: ${totals.sent} requests sent, ${totals.answered} answered, ` +
    `${totals.resets} reset, ${totals.unanswered} unanswered, ${totals.otherFailures} other failures, ${totals.badAnswers} answers neither 2xx nor a 503 problem; ` +
    `${totals.acknowledged} tasks acknowledged, ${totals.lost} lost; ${totals.cleanCloses} of ${RUNS} closes clean\n`)
  process.stdout.write(failed === 0 ? 'chaos: passed\n' : `chaos: ${failed} check(s) failed\n`)
  return failed === 0 ? 0 : 1
}

process.exitCode = await main()
