/**
 * npm run bench: taskforge under load, beside a bare baseline, the raw argon2
 * rate, pg-boss and graphile-worker, and the queue's latency. See BENCHMARKS.md
 * for what it measures and why.
 *
 *   npm run bench                      the full run on this Node: bench/results/summary-node<major>.json
 *   npm run bench -- --node PATH       the same on the Node binary at PATH (.ci/fetch-node prints Node 26's)
 *   npm run bench -- --quick           a tiny run (seconds), as the smoke test does
 *   npm run bench:jobs                 the job-queue parts alone (throughput and latency)
 *   tsx bench/run.ts --report FILE [FILE]   the Markdown tables of one results file, or of
 *                                      one per runtime side by side (the newest Node first)
 *
 * Options:
 *   --node PATH            run everything (this runner, autocannon, the servers, the workers)
 *                          on that Node binary: the runner starts again under it
 *   --admin-url URL        a PostgreSQL role that may create databases (default
 *                          BENCH_ADMIN_URL, else postgres://postgres@127.0.0.1:5432/postgres)
 *   --database-prefix P    names of the databases it creates and drops (P_http_<hex>, P_jobs_<hex>, P_latency_<hex>)
 *   --out FILE             where the results go (default: summary-node<major>.json for the
 *                          standard run, a file of its own under bench/results/ for any other)
 *   --duration S, --repetitions N, --connections 10,100, --scenarios a,b
 *   --skip-jobs (both queue parts), --only-jobs, --jobs N, --jobs-in-flight N, --jobs-instances 1,2,
 *   --jobs-repetitions N, --queues taskforge,pg-boss,pg-boss-batch-5x,graphile-worker,graphile-worker-batched,
 *   --jobs-before DIR      also the worker of the checkout in DIR (an earlier commit), as taskforge-before
 *   --skip-latency, --only-latency, --latency-jobs N, --latency-modes idle,busy, --latency-chains N
 *   --variants redis,traceparent,pat   taskforge's variants, measured on the scenarios with a twin (default
 *                          all; "none" for none): REDIS_URL set, a traceparent header, a personal access token
 *   --redis-url URL        the Redis of the redis variant (default BENCH_REDIS_URL, else redis://127.0.0.1:6379);
 *                          the variant is skipped, and says so, when it does not answer
 *   --profile DIR          run the app under node --cpu-prof; the profile lands in DIR
 *                          (summarise it with tsx bench/profile-summary.ts FILE)
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { accessSync, constants, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { delimiter, dirname, join, relative, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type autocannon from 'autocannon'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { loadConfig } from '../config.js'
import { describeDatabaseUrl } from '../db/client.js'
import { argon2VerifyRate, type Argon2Run } from './argon2-rate.js'
import {
  FILTERED_PAGE, FILTERED_QUERY, measure, requestsFor, SCENARIOS, VARIANTS, type HttpRun, type ScenarioContext, type Target, type VariantId
} from './http.js'
import { graphileWorkerLine } from './graphile-worker.js'
import { appJobSettings, runJobsBench, type JobsBenchOptions, type JobsResults, type QueueConfiguration } from './jobs.js'
import { runLatencyBench, type LatencyMode, type LatencyOptions, type LatencyResults } from './latency.js'
import { renderComparison, renderMarkdown, type BenchSummary, type HttpSummaryRow, type HttpVariants, type TargetCheck } from './report.js'
import { measureDeliveryRate, startWebhookReceiver, subscribe, waitForDeliveries, type DeliveryRate, type WebhookReceiver } from './webhooks.js'
import { findFreePort } from '../db/embedded/processes.js'
import { seed as seedDatabase, type SeededUser } from './seed.js'
import {
  createDatabase, DEFAULT_ADMIN_URL, imageNodeOptions, killChildren, median, PROJECT_ROOT, round, run, say, startServer, type ServerHandle
} from './support.js'

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    node: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    'admin-url': { type: 'string' },
    'database-prefix': { type: 'string' },
    duration: { type: 'string' },
    repetitions: { type: 'string' },
    connections: { type: 'string' },
    scenarios: { type: 'string' },
    jobs: { type: 'string' },
    'jobs-in-flight': { type: 'string' },
    'jobs-instances': { type: 'string' },
    'jobs-repetitions': { type: 'string' },
    'jobs-before': { type: 'string' },
    queues: { type: 'string' },
    'skip-jobs': { type: 'boolean', default: false },
    'only-jobs': { type: 'boolean', default: false },
    'skip-latency': { type: 'boolean', default: false },
    'only-latency': { type: 'boolean', default: false },
    'latency-jobs': { type: 'string' },
    'latency-modes': { type: 'string' },
    'latency-chains': { type: 'string' },
    profile: { type: 'string' },
    report: { type: 'string' },
    variants: { type: 'string' },
    'redis-url': { type: 'string' }
  }
})

if (args.report !== undefined) {
  // --report FILE [FILE...]: one file in full, or several (one per runtime) side by side.
  const summaries = [args.report, ...positionals].map((file) => JSON.parse(readFileSync(file, 'utf8')) as BenchSummary)
  const [only] = summaries
  process.stdout.write(summaries.length === 1 && only !== undefined ? renderMarkdown(only) : renderComparison(summaries))
  process.exit(0)
}
if (positionals.length > 0) throw new Error(`unexpected arguments: ${positionals.join(' ')} (only --report takes more than one file)`)

// --node PATH: everything runs on that binary. The runner starts again under it (with its
// folder first in PATH), and that child sees --node naming its own binary, so it goes on.
if (args.node !== undefined) {
  const node = resolve(args.node)
  accessSync(node, constants.X_OK)
  if (realpathSync(node) !== realpathSync(process.execPath)) {
    const child = spawn(node, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, PATH: [dirname(node), process.env.PATH].filter((entry) => entry !== undefined && entry !== '').join(delimiter) }
    })
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal))
    const [code, signal] = await once(child, 'exit') as [number | null, NodeJS.Signals | null]
    process.exit(code ?? (signal === null ? 1 : 128 + os.constants.signals[signal]))
  }
}

const quick = args.quick
const settings = {
  durationSeconds: Number(args.duration ?? (quick ? 1 : 5)),
  repetitions: Number(args.repetitions ?? (quick ? 1 : 3)),
  warmupSeconds: quick ? 0 : 1,
  connections: (args.connections ?? (quick ? '10' : '10,100')).split(',').map(Number),
  scenarios: (args.scenarios ?? (quick
    ? 'health-live,tasks-list,tasks-get,tasks-create,tasks-patch,tasks-patch-webhook,auth-login'
    : SCENARIOS.map((scenario) => scenario.id).join(','))).split(','),
  // Changes whose deliveries are timed (bench/webhooks.ts).
  webhookEvents: quick ? 200 : 5000,
  seed: quick
    ? { tasksPerUser: 500, otherUsers: 4, tasksPerOtherUser: 50 }
    : { tasksPerUser: 10_000, otherUsers: 48, tasksPerOtherUser: 1000 },
  poolMax: 10,
  jobsConcurrency: 4,
  variants: (args.variants ?? 'redis,traceparent,pat').split(',').filter((name) => name !== 'none').map((name) => {
    const id = `taskforge-${name}`
    if (!VARIANTS.some((variant) => variant.id === id)) throw new Error(`--variants: redis, traceparent, pat or none, got ${name}`)
    return id as VariantId
  })
}
// The image's V8 settings (Dockerfile ENV NODE_OPTIONS): the app runs here as it is deployed.
const appNodeOptions = imageNodeOptions()
const redisUrl = args['redis-url'] ?? process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const adminUrl = args['admin-url'] ?? process.env.BENCH_ADMIN_URL ?? DEFAULT_ADMIN_URL
// Every database the run creates (and drops) is named <prefix>_http_<hex> or <prefix>_jobs_<hex>.
const databasePrefix = args['database-prefix'] ?? 'taskforge_bench'
// Only a complete full, standard run replaces the committed summary; any other run writes a file of its own (ignored by git).
const standardRun = !quick && !args['only-jobs'] && !args['skip-jobs'] && !args['skip-latency'] && !args['only-latency'] && [
  args.duration, args.repetitions, args.connections, args.scenarios, args.jobs, args['jobs-in-flight'], args['jobs-instances'], args['jobs-repetitions'],
  args['jobs-before'], args.queues,
  args['latency-jobs'], args['latency-modes'], args['latency-chains'], args.profile, args.variants
].every((value) => value === undefined)
// One standard summary per Node major (summary-node26.json, summary-node20.json): BENCHMARKS.md reports them side by side.
const nodeMajor = process.versions.node.split('.')[0] ?? 'unknown'
const resultsFile = (complete: boolean): string => args.out ?? join(PROJECT_ROOT, 'bench', 'results',
  standardRun && complete ? `summary-node${nodeMajor}.json` : `${quick ? 'quick' : 'run'}-node${nodeMajor}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
const workDir = join(PROJECT_ROOT, '.tmp', `bench-${process.pid}`)
// The app's own defaults (ARGON2_*), read the way the app reads them.
const argon2Parameters = loadConfig({ NODE_ENV: 'production', JWT_SECRET: randomBytes(36).toString('base64url') }).auth.argon2

// Jobs each worker instance has in hand (JOBS_CONCURRENCY; pg-boss's batchSize; graphile-worker's concurrency):
// a throughput setting, as a no-op job takes no time.
const jobsInFlight = Number(args['jobs-in-flight'] ?? (quick ? 100 : 200))
// graphile-worker 0.18 on Node 22.18 and later, 0.16 before (0.16 has no batching).
const graphile = graphileWorkerLine()
const jobsOptions: JobsBenchOptions = {
  adminUrl,
  databasePrefix,
  jobs: Number(args.jobs ?? (quick ? 200 : 10_000)),
  instances: (args['jobs-instances'] ?? (quick ? '1' : '1,2')).split(',').map(Number),
  repetitions: Number(args['jobs-repetitions'] ?? (quick ? 1 : 3)),
  enqueueConcurrency: 10,
  poolMax: settings.poolMax,
  configurations: ([
    // As many jobs claimed ahead (JOBS_PREFETCH) as graphile-worker-batched's local queue holds.
    { id: 'taskforge', system: 'taskforge', inFlight: jobsInFlight, prefetch: jobsInFlight },
    // --jobs-before DIR: the worker of another checkout (an earlier commit) beside it, same settings.
    ...(args['jobs-before'] === undefined
      ? []
      // JOBS_PREFETCH goes to it too; a checkout that predates it claims for its free slots only (and is shown so).
      : [{
        id: 'taskforge-before',
        system: 'taskforge',
        inFlight: jobsInFlight,
        prefetch: beforeHasPrefetch(args['jobs-before']) ? jobsInFlight : 0,
        root: resolve(args['jobs-before'])
      } satisfies QueueConfiguration]),
    // The same number of jobs in hand per instance.
    { id: 'pg-boss', system: 'pg-boss', inFlight: jobsInFlight },
    // pg-boss's own way to go faster: bigger batches (5 times the jobs in hand).
    { id: 'pg-boss-batch-5x', system: 'pg-boss', inFlight: jobsInFlight * 5 },
    // As many jobs in hand (its concurrency), one job per fetch and per completion: its defaults otherwise.
    { id: 'graphile-worker', system: 'graphile-worker', inFlight: jobsInFlight },
    // Its own way to go faster (0.17 and later): a local queue of as many jobs fetched at once, completions batched.
    { id: 'graphile-worker-batched', system: 'graphile-worker', inFlight: jobsInFlight, batched: true }
  ] satisfies QueueConfiguration[]).filter((configuration) => {
    const chosen = (args.queues ?? (quick ? 'taskforge,pg-boss,graphile-worker' : undefined))?.split(',')
    if (configuration.id === 'taskforge-before') return true
    // By default, what this runtime's graphile-worker can do; asked for by name, it fails the part with a reason.
    return chosen === undefined ? configuration.batched !== true || graphile.batching : chosen.includes(configuration.id)
  }),
  taskforgePollIntervalMs: 2000,
  // pg-boss 10 has no NOTIFY: it polls, and 0.5 s is the shortest interval it allows.
  pgBossPollingIntervalSeconds: 0.5,
  drainTimeoutMs: quick ? 30_000 : 180_000
}

const latencyModes = (args['latency-modes'] ?? 'idle,busy').split(',')
if (!latencyModes.every((mode): mode is LatencyMode => mode === 'idle' || mode === 'busy')) throw new Error(`--latency-modes: idle and busy only, got ${latencyModes.join(',')}`)
const latencyOptions: LatencyOptions = {
  adminUrl,
  databasePrefix,
  jobs: Number(args['latency-jobs'] ?? (quick ? 20 : 1000)),
  modes: latencyModes,
  // As many jobs waiting as running.
  chains: Number(args['latency-chains'] ?? 2 * appJobSettings.concurrency),
  poolMax: settings.poolMax
}

/** Whether the checkout in dir has JOBS_PREFETCH (its worker takes the setting). */
function beforeHasPrefetch (dir: string): boolean {
  return readFileSync(join(resolve(dir), 'plugins', 'jobs', 'worker.ts'), 'utf8').includes('prefetch')
}

function packageVersion (name: string): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
}

async function login (appUrl: string, user: SeededUser): Promise<string> {
  const response = await fetch(`${appUrl}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: user.email, password: user.password }) })
  if (response.status !== 200) throw new Error(`login answered ${response.status}: ${await response.text()}`)
  return (await response.json() as { accessToken: string }).accessToken
}

/** Walks the filtered list to page FILTERED_PAGE (or the last one there is) through the app itself. */
async function filteredCursor (appUrl: string, token: string): Promise<ScenarioContext['filteredCursor']> {
  let cursor: string | undefined
  let position = { afterCreatedAt: '', afterId: '' }
  for (let page = 1; page < FILTERED_PAGE; page += 1) {
    const response = await fetch(`${appUrl}/tasks?${FILTERED_QUERY}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`, { headers: { authorization: `Bearer ${token}` } })
    const body = await response.json() as { items: { id: string; createdAt: string }[]; nextCursor: string | null }
    const last = body.items.at(-1)
    if (body.nextCursor === null || last === undefined) break
    cursor = body.nextCursor
    position = { afterCreatedAt: last.createdAt, afterId: last.id }
  }
  return { cursor: cursor ?? '', ...position }
}

function summarizeHttp (runs: HttpRun[], argon2: BenchSummary['argon2']['summary']): HttpSummaryRow[] {
  const rows: HttpSummaryRow[] = []
  for (const scenario of SCENARIOS) {
    for (const connections of settings.connections) {
      const medians = (target: Target) => {
        const selected = runs.filter((entry) =>
          entry.scenario === scenario.id && entry.connections === connections && entry.target === target)
        if (selected.length === 0) return undefined
        const peaks = selected.map((entry) => entry.peakRssMiB).filter((value) => value !== null)
        const cpu = selected.map((entry) => entry.cpuPercent).filter((value) => value !== null)
        return {
          scenario: scenario.id,
          title: scenario.title,
          connections,
          target,
          requestsPerSecond: round(median(selected.map((entry) => entry.requestsPerSecond))),
          latencyP50Ms: median(selected.map((entry) => entry.latencyMs.p50)),
          latencyP99Ms: median(selected.map((entry) => entry.latencyMs.p99)),
          errors: selected.reduce((sum, entry) => sum + entry.errors + entry.timeouts, 0),
          non2xx: selected.reduce((sum, entry) => sum + entry.non2xx, 0),
          peakRssMiB: peaks.length === 0 ? null : Math.max(...peaks),
          cpuPercent: cpu.length === 0 ? null : round(median(cpu)),
          cpuMicrosPerRequest: round(median(selected.map((entry) => entry.cpuMicrosPerRequest ?? Number.NaN))),
          databaseCpuMicrosPerRequest: round(median(selected.map((entry) => entry.databaseCpuMicrosPerRequest ?? Number.NaN))),
          machineBusyPercent: round(median(selected.map((entry) => entry.machineBusyPercent ?? Number.NaN))),
          loadAverage: round(median(selected.map((entry) => entry.loadAverage)), 1),
          serverWarnings: selected.reduce((sum, entry) => sum + entry.serverWarnings, 0)
        }
      }
      const app = medians('taskforge')
      if (app === undefined) continue
      const baseline = medians('baseline')
      const argon2Twin = argon2.find((entry) => entry.concurrency === connections)
      if (baseline !== undefined) {
        rows.push({ ...app, ratio: round(app.requestsPerSecond / baseline.requestsPerSecond, 2), ratioAgainst: 'baseline', cpuRatio: round(baseline.cpuMicrosPerRequest / app.cpuMicrosPerRequest, 2) })
        rows.push({ ...baseline, ratio: null, ratioAgainst: null, cpuRatio: null })
      } else if (scenario.id === 'auth-login' && argon2Twin !== undefined) {
        rows.push({ ...app, ratio: round(app.requestsPerSecond / argon2Twin.verifiesPerSecond, 2), ratioAgainst: 'argon2', cpuRatio: round(argon2Twin.cpuMicrosPerVerify / app.cpuMicrosPerRequest, 2) })
      } else {
        rows.push({ ...app, ratio: null, ratioAgainst: null, cpuRatio: null })
      }
      for (const variant of VARIANTS) {
        const measured = medians(variant.id)
        if (measured === undefined) continue
        rows.push(baseline === undefined
          ? { ...measured, ratio: null, ratioAgainst: null, cpuRatio: null }
          : {
              ...measured,
              ratio: round(measured.requestsPerSecond / baseline.requestsPerSecond, 2),
              ratioAgainst: 'baseline',
              cpuRatio: round(baseline.cpuMicrosPerRequest / measured.cpuMicrosPerRequest, 2)
            })
      }
    }
  }
  return rows
}

// Issue 19's targets, on the runtime production runs (Node 26): every ratio is to the baseline in the same run.
const TWIN_RATIO = 0.8
const FLOOR_RATIO = 0.65
const P99_CONNECTIONS = 100
const P99_RATIO = 1.25
const RSS_RATIO = 1.5

function checkTargets (http: HttpSummaryRow[], jobs: JobsResults | null, latency: LatencyResults | null): TargetCheck[] {
  const checks: TargetCheck[] = []
  const twinOf = (row: HttpSummaryRow) => http.find((entry) => entry.target === 'baseline' && entry.scenario === row.scenario && entry.connections === row.connections)
  for (const row of http.filter((entry) => entry.target === 'taskforge')) {
    if (row.ratioAgainst === 'baseline' && row.ratio !== null) {
      // The framework floor (no database, no authentication) has a target of its own: issue 19.
      const wanted = row.scenario === 'health-live' ? FLOOR_RATIO : TWIN_RATIO
      checks.push({
        name: `${row.scenario} @${String(row.connections)}: taskforge / baseline`, wanted: `≥ ${wanted.toFixed(2)}`, actual: row.ratio.toFixed(2), met: row.ratio >= wanted
      })
      const twin = twinOf(row)
      if (row.connections === P99_CONNECTIONS && twin !== undefined) {
        const p99 = row.latencyP99Ms / twin.latencyP99Ms
        checks.push({
          name: `${row.scenario} @${String(row.connections)}: p99, taskforge / baseline`,
          wanted: `≤ ${P99_RATIO.toFixed(2)}`,
          actual: `${p99.toFixed(2)} (${String(row.latencyP99Ms)} / ${String(twin.latencyP99Ms)} ms)`,
          met: p99 <= P99_RATIO
        })
      }
    }
    if (row.ratioAgainst === 'argon2' && row.ratio !== null) {
      checks.push({ name: `${row.scenario} @${String(row.connections)}: login / raw argon2 verify rate`, wanted: '≥ 0.80', actual: row.ratio.toFixed(2), met: row.ratio >= 0.8 })
    }
  }
  // Peak RSS over the scenarios with a twin, each server's highest.
  const twinned = http.filter((row) => row.ratioAgainst === 'baseline' && row.target === 'taskforge')
  const peak = (rows: HttpSummaryRow[]) => Math.max(...rows.map((row) => row.peakRssMiB ?? Number.NaN))
  const appPeak = peak(twinned)
  const twinPeak = peak(twinned.flatMap((row) => twinOf(row) ?? []))
  if (twinned.length > 0 && Number.isFinite(appPeak) && Number.isFinite(twinPeak)) {
    checks.push({
      name: 'peak RSS under load, scenarios with a twin: taskforge / baseline',
      wanted: `≤ ${RSS_RATIO.toFixed(2)}`,
      actual: `${(appPeak / twinPeak).toFixed(2)} (${String(round(appPeak))} / ${String(round(twinPeak))} MiB)`,
      met: appPeak / twinPeak <= RSS_RATIO
    })
  }
  const failures = http.reduce((sum, row) => sum + row.errors + row.non2xx, 0)
  checks.push({ name: 'errors and non-2xx answers, every scenario and server', wanted: '0', actual: String(failures), met: failures === 0 })
  for (const row of jobs?.summary ?? []) {
    // taskforge-before (--jobs-before) is a comparison, not a target.
    if (row.processedRatio === null || row.configuration === 'taskforge-before') continue
    checks.push({
      name: `jobs processed, ${String(row.instances)} instance${row.instances > 1 ? 's' : ''}: taskforge / ${row.configuration} (${String(row.inFlight)} in slots)`,
      wanted: '≥ 1.00',
      actual: row.processedRatio.toFixed(2),
      met: row.processedRatio >= 1
    })
  }
  for (const row of latency?.summary ?? []) {
    if (row.mode !== 'idle') continue
    checks.push({ name: 'queue latency, idle worker: commit of a registration to its welcome job starting, median', wanted: '< 10 ms', actual: `${row.medianMs.toFixed(2)} ms`, met: row.medianMs < 10 })
  }
  return checks
}

interface HttpPart {
  runs: HttpRun[]
  argon2Runs: Argon2Run[]
  seed: Record<string, number>
  postgresVersion: string
  appEnvironment: Record<string, string>
  webhooks: DeliveryRate
  variants: HttpVariants
}

/** Whether a Redis answers at url: undefined when it does, else what went wrong. */
async function redisProblem (url: string): Promise<string | undefined> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await client.ping()
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  } finally {
    client.disconnect()
  }
}

/** A rate-limit counter's value in Redis (rate-limiter-flexible keeps it as a number under its key). */
async function redisCounter (url: string, key: string): Promise<number> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0 })
  try {
    await client.connect()
    return Number(await client.get(key))
  } finally {
    client.disconnect()
  }
}

/** A personal access token for `token`'s user that may read tasks; undefined on a build without them (a 404). */
async function personalAccessToken (appUrl: string, token: string): Promise<string | undefined> {
  const response = await fetch(`${appUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ name: 'benchmark', scopes: ['tasks:read'] })
  })
  if (response.status === 404) return undefined
  if (response.status !== 201) throw new Error(`POST /auth/tokens answered ${response.status}: ${await response.text()}`)
  return (await response.json() as { token: string }).token
}

async function runHttp (): Promise<HttpPart> {
  const buildDir = join(workDir, 'dist')
  say(`build: tsc -p tsconfig.build.json --outDir ${relative(PROJECT_ROOT, buildDir)}`)
  await run(process.execPath, [join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', buildDir], PROJECT_ROOT)
  const database = await createDatabase(adminUrl, `${databasePrefix}_http`)
  const servers: ServerHandle[] = []
  let receiver: WebhookReceiver | undefined
  try {
    const appPort = await findFreePort()
    const appEnvironment = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(appPort),
      DATABASE_URL: database.url,
      DB_POOL_MAX: String(settings.poolMax),
      JWT_SECRET: randomBytes(36).toString('base64url'),
      // One client (this process, from 127.0.0.1, as one user) sends everything: limits that never trigger.
      RATE_LIMIT_MAX: '1000000000',
      AUTH_RATE_LIMIT_MAX: '1000000000',
      // Concurrent logins as one user from one address: attempts in flight count against the failure budget until they succeed.
      LOGIN_FAILURES_MAX: '1000000000',
      // Tokens issued at the start must outlive the run.
      ACCESS_TOKEN_TTL: '2h',
      JOBS_CONCURRENCY: String(settings.jobsConcurrency),
      // The webhook receiver is this process, on 127.0.0.1 (production logs a warning about it at start).
      WEBHOOKS_ALLOW_PRIVATE_URLS: 'true',
      ...(appNodeOptions === undefined ? {} : { NODE_OPTIONS: appNodeOptions })
    }
    say(`start taskforge (node dist/server.js, NODE_ENV=production, LOG_LEVEL=warn, NODE_OPTIONS=${appNodeOptions ?? ''}) on database ${database.name}`)
    // cwd is the build folder, which has no .env: the app sees exactly this environment.
    const app = await startServer({
      name: 'taskforge',
      args: [...(args.profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', resolve(args.profile)]), join(buildDir, 'server.js')],
      env: { PATH: process.env.PATH, ...appEnvironment },
      cwd: workDir,
      port: appPort,
      readyPath: '/health/ready',
      logFile: join(workDir, 'taskforge.log')
    })
    servers.push(app)

    say(`seed: ${settings.seed.tasksPerUser} tasks for the reader, ${settings.seed.otherUsers + 1} more users with ${settings.seed.tasksPerOtherUser} each`)
    const seeded = await seedDatabase({ appUrl: app.url, databaseUrl: database.url, ...settings.seed })
    const context: ScenarioContext = {
      seed: seeded,
      readerToken: await login(app.url, seeded.reader),
      writerToken: await login(app.url, seeded.writer),
      hookedToken: await login(app.url, seeded.hooked),
      filteredCursor: { cursor: '', afterCreatedAt: '', afterId: '' }
    }
    context.filteredCursor = await filteredCursor(app.url, context.readerToken)
    receiver = await startWebhookReceiver()
    await subscribe(app.url, context.hookedToken, receiver.url)

    const baselinePort = await findFreePort()
    const baseline = await startServer({
      name: 'baseline',
      args: ['--import', 'tsx', join(PROJECT_ROOT, 'bench', 'baseline-server.ts')],
      env: { PATH: process.env.PATH, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(baselinePort), DATABASE_URL: database.url, DB_POOL_MAX: String(settings.poolMax), BENCH_USER_ID: seeded.reader.id },
      cwd: PROJECT_ROOT,
      port: baselinePort,
      readyPath: '/health/live',
      logFile: join(workDir, 'baseline.log')
    })
    servers.push(baseline)

    // The variants: the same build with REDIS_URL (a server of its own), with a traceparent, with a personal access token.
    const skippedVariants: Partial<Record<VariantId, string>> = {}
    const variantServers = new Map<VariantId, ServerHandle>()
    for (const id of settings.variants) {
      if (id === 'taskforge-redis') {
        const problem = await redisProblem(redisUrl)
        if (problem !== undefined) {
          skippedVariants[id] = `no Redis answers at ${redisUrl} (${problem})`
          say(`variant ${id} skipped: ${skippedVariants[id]}`)
          continue
        }
        const port = await findFreePort()
        say(`start ${id}: the same build and database, REDIS_URL=${redisUrl}`)
        const server = await startServer({
          name: id,
          args: [join(buildDir, 'server.js')],
          env: { PATH: process.env.PATH, ...appEnvironment, PORT: String(port), REDIS_URL: redisUrl },
          cwd: workDir,
          port,
          readyPath: '/health/ready',
          logFile: join(workDir, `${id}.log`)
        })
        servers.push(server)
        variantServers.set(id, server)
      } else if (id === 'taskforge-pat') {
        context.readerPersonalToken = await personalAccessToken(app.url, context.readerToken)
        if (context.readerPersonalToken === undefined) {
          skippedVariants[id] = 'this build has no personal access tokens (POST /auth/tokens answers 404)'
          say(`variant ${id} skipped: ${skippedVariants[id]}`)
          continue
        }
        variantServers.set(id, app)
      } else {
        variantServers.set(id, app)
      }
    }

    const selected = SCENARIOS.filter((entry) => settings.scenarios.includes(entry.id))
    if (settings.warmupSeconds > 0) {
      // Every code path compiled and every cache filled before anything counts.
      say(`warm-up: ${2 * settings.warmupSeconds} s of each scenario on each server`)
      for (const scenario of selected) {
        if (scenario.id === 'tasks-list-filtered' && context.filteredCursor.cursor === '') continue
        const warmed: { target: Target; server: ServerHandle }[] = [{ target: 'taskforge', server: app }]
        if (scenario.baseline) warmed.push({ target: 'baseline', server: baseline })
        const redis = variantServers.get('taskforge-redis')
        if (scenario.baseline && redis !== undefined) warmed.push({ target: 'taskforge-redis', server: redis })
        for (const { target, server } of warmed) {
          await measure(server, requestsFor(scenario, context, target) ?? [], {
            scenario: scenario.id,
            target,
            connections: settings.connections[0] ?? 10,
            repetition: 0,
            durationSeconds: 2 * settings.warmupSeconds,
            database: database.name
          })
        }
      }
    }
    const runs: HttpRun[] = []
    const argon2Runs: Argon2Run[] = []
    let redisCount: number | null = null
    for (const scenario of selected) {
      if (scenario.id === 'tasks-list-filtered' && context.filteredCursor.cursor === '') throw new Error('the seed is too small for a second page of the filtered list')
      for (const connections of settings.connections) {
        const targets: { target: Target; server: ServerHandle; requests: autocannon.Request[] }[] = []
        const candidates: { target: Target; server: ServerHandle }[] = [{ target: 'taskforge', server: app }]
        // The variants run where the baseline twin does, beside it.
        if (scenario.baseline) {
          candidates.push({ target: 'baseline', server: baseline })
          for (const [target, server] of variantServers) candidates.push({ target, server })
        }
        for (const { target, server } of candidates) {
          const requests = requestsFor(scenario, context, target)
          if (requests !== undefined) targets.push({ target, server, requests })
        }
        for (const { target, server, requests } of targets) {
          if (settings.warmupSeconds > 0) {
            await measure(server, requests, {
              scenario: scenario.id, target, connections, repetition: 0, durationSeconds: settings.warmupSeconds, database: database.name
            })
          }
        }
        for (let repetition = 1; repetition <= settings.repetitions; repetition += 1) {
          // Login's ceiling, measured right beside it: the same argon2 verification, as many in flight, in this process.
          const measureArgon2 = async () => {
            if (scenario.id !== 'auth-login') return
            const rate = await argon2VerifyRate(argon2Parameters, connections, settings.durationSeconds, repetition)
            argon2Runs.push(rate)
            say(`argon2 verify @${connections} #${repetition}: ${rate.verifiesPerSecond}/s`)
          }
          // Alternate the order, so that neither side always runs first.
          const ordered = repetition % 2 === 1 ? targets : [...targets].reverse()
          if (repetition % 2 === 0) await measureArgon2()
          for (const { target, server, requests } of ordered) {
            await sleep(quick ? 50 : 500)
            const result = await measure(server, requests, {
              scenario: scenario.id, target, connections, repetition, durationSeconds: settings.durationSeconds, database: database.name
            })
            runs.push(result)
            const failures = result.errors + result.timeouts + result.non2xx
            say(`${scenario.id} @${connections} ${target} #${repetition}: ${result.requestsPerSecond} req/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ${result.cpuMicrosPerRequest ?? '?'} µs CPU/req${failures > 0 ? `, ${failures} FAILED ${JSON.stringify(result.statusCodes)}` : ''}`)
          }
          if (repetition % 2 === 1) await measureArgon2()
        }
        // Read while the counter's one-minute window is still open: the redis variant must have counted in Redis,
        // not in the memory it falls back to when Redis fails.
        if (targets.some(({ target }) => target === 'taskforge-redis')) {
          const counted = await redisCounter(redisUrl, `taskforge-rate-limit:global:user:${seeded.reader.id}`)
          redisCount = Math.max(redisCount ?? 0, counted)
        }
      }
    }
    if (redisCount !== null && !(redisCount > 0)) throw new Error(`the redis variant counted nothing in Redis (key of the reader: ${String(redisCount)})`)

    // The scenarios' deliveries drained first: the rate is timed on a quiet queue.
    say('webhooks: waiting for the scenarios\' deliveries to drain')
    const drainStarted = performance.now()
    await waitForDeliveries(database.url, 900_000)
    say(`webhooks: drained in ${Math.round((performance.now() - drainStarted) / 1000)} s`)
    const webhooks = await measureDeliveryRate({
      appUrl: app.url,
      token: context.hookedToken,
      taskIds: seeded.hookedTaskIds,
      receiver,
      events: settings.webhookEvents,
      timeoutMs: 600_000,
      settings: { maxInFlight: loadConfig({}).webhooks.maxInFlight, jobsConcurrency: settings.jobsConcurrency }
    })
    say(`webhooks: ${webhooks.events} events delivered in ${webhooks.seconds} s: ${webhooks.deliveredPerSecond}/s`)

    const admin = postgres(database.url, { max: 1, onnotice: () => undefined })
    const [version] = await admin<{ serverVersion: string }[]>`select current_setting('server_version') as "serverVersion"`
    await admin.end()
    const { JWT_SECRET: _secret, DATABASE_URL: _url, PORT: _port, ...shownEnvironment } = appEnvironment
    return {
      runs,
      argon2Runs,
      seed: { ...seeded.counts, readerTasks: settings.seed.tasksPerUser },
      postgresVersion: version?.serverVersion ?? 'unknown',
      appEnvironment: shownEnvironment,
      webhooks,
      variants: {
        measured: [...variantServers.keys()],
        skipped: skippedVariants,
        ...(redisCount === null ? {} : { redisUrl, readerRequestsCountedInRedis: redisCount })
      }
    }
  } finally {
    for (const server of servers.reverse()) await server.stop()
    await receiver?.close()
    await database.drop()
  }
}

const startedAt = new Date()
mkdirSync(workDir, { recursive: true })
// Interrupted: no server or worker is left running (the databases stay; their names start with the prefix).
// Exit status 128 + the signal's number, as a shell reports it: 130 for SIGINT, 143 for SIGTERM.
for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => {
    killChildren()
    process.exit(status)
  })
}
say(`bench ${quick ? '(quick) ' : ''}on ${describeDatabaseUrl(adminUrl)}; work folder ${relative(PROJECT_ROOT, workDir)}`)
// A part that fails is reported as failed; the other parts still run and the results are still written.
const failures: string[] = []
async function part<T> (name: string, work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work()
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    say(`${name} FAILED: ${message}`)
    failures.push(`${name}: ${message}`)
    return undefined
  }
}
const http = args['only-jobs'] || args['only-latency'] ? undefined : await part('http', runHttp)
let jobs: JobsResults | null = null
if (!args['skip-jobs'] && !args['only-latency']) {
  say(`jobs: ${jobsOptions.jobs} no-op jobs, ${jobsOptions.instances.join(' and ')} worker instance(s), ${jobsOptions.repetitions} repetition(s); graphile-worker ${graphile.version}`)
  jobs = await part('jobs', () => runJobsBench(jobsOptions, packageVersion('pg-boss'), graphile)) ?? null
}
let latency: LatencyResults | null = null
if (!args['skip-jobs'] && !args['skip-latency']) {
  say(`latency: ${latencyOptions.jobs} registrations per mode (${latencyOptions.modes.join(', ')}), a worker of concurrency ${appJobSettings.concurrency}`)
  latency = await part('latency', () => runLatencyBench(latencyOptions)) ?? null
}

const argon2Summary = settings.connections.flatMap((concurrency) => {
  const selected = (http?.argon2Runs ?? []).filter((entry) => entry.concurrency === concurrency)
  return selected.length === 0
    ? []
    : [{
        concurrency,
        verifiesPerSecond: round(median(selected.map((entry) => entry.verifiesPerSecond)), 1),
        cpuMicrosPerVerify: round(median(selected.map((entry) => entry.cpuMicrosPerVerify)))
      }]
})
const httpSummary = summarizeHttp(http?.runs ?? [], argon2Summary)
const spread = (values: number[]) => values.length === 0
  ? null
  : { min: Math.min(...values), median: round(median(values), 2), max: Math.max(...values) }
const cpus = os.cpus()
const summary: BenchSummary = {
  kind: quick ? 'quick' : 'full',
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  machine: {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`
  },
  versions: {
    node: process.version,
    postgresql: http?.postgresVersion ?? 'unknown',
    fastify: packageVersion('fastify'),
    postgres: packageVersion('postgres'),
    argon2: packageVersion('argon2'),
    autocannon: packageVersion('autocannon'),
    'pg-boss': packageVersion('pg-boss'),
    'graphile-worker': graphile.version
  },
  settings: { ...settings, appEnvironment: http?.appEnvironment ?? {}, jobs: jobs?.settings ?? null },
  seed: http?.seed ?? {},
  // How busy the machine was while the HTTP scenarios ran (other work on it shows here).
  conditions: {
    loadAverage: spread((http?.runs ?? []).map((entry) => entry.loadAverage)),
    machineBusyPercent: spread((http?.runs ?? []).flatMap((entry) => entry.machineBusyPercent ?? []))
  },
  http: { summary: httpSummary, runs: http?.runs ?? [], ...(http === undefined ? {} : { variants: http.variants }) },
  argon2: {
    parameters: { memoryKiB: argon2Parameters.memoryCost, timeCost: argon2Parameters.timeCost, parallelism: argon2Parameters.parallelism },
    summary: argon2Summary,
    runs: http?.argon2Runs ?? []
  },
  jobs,
  latency,
  webhooks: http?.webhooks ?? null,
  targets: checkTargets(httpSummary, jobs, latency),
  failures
}
const outFile = resultsFile(failures.length === 0)
mkdirSync(dirname(outFile), { recursive: true })
writeFileSync(outFile, `${JSON.stringify(summary, null, 2)}\n`)
say(`results: ${relative(process.cwd(), outFile)}`)
process.stdout.write(renderMarkdown(summary))
if (failures.length > 0) {
  say(`${failures.length} part(s) failed; the servers' logs are in ${relative(process.cwd(), workDir)}`)
  process.exitCode = 1
} else {
  rmSync(workDir, { recursive: true, force: true })
}
