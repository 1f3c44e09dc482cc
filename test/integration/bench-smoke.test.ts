// `npm run bench -- --quick` starts, drives every part and writes a results
// file of the expected shape. Speeds are never asserted here: they belong to
// the benchmark (BENCHMARKS.md), and this machine is shared with other tests.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { imageNodeOptions } from '../../bench/support.js'
import { PROJECT_ROOT, readTestServerState } from '../helpers/test-server.js'

const run = promisify(execFile)

// The quick run takes about 45 s on a quiet machine (three queues, two latency modes); a shared one may need several times that.
const QUICK_RUN_TIMEOUT_MS = 200_000
t.setTimeout(QUICK_RUN_TIMEOUT_MS + 40_000)

interface QuickResults {
  kind: string
  failures: string[]
  seed: { users: number; tasks: number; readerTasks: number }
  http: {
    summary: Array<{ scenario: string; target: string; requestsPerSecond: number; errors: number; non2xx: number; ratio?: number | null }>
    variants: { measured: string[]; skipped: Record<string, string>; readerRequestsCountedInRedis?: number }
  }
  argon2: { summary: Array<{ verifiesPerSecond: number }> }
  jobs: { summary: Array<{ system: string; processedPerSecond: number; enqueuePerSecond: number }>; runs: Array<{ unfinished: number }> }
  latency: { summary: Array<{ mode: string; jobs: number; medianMs: number; p99Ms: number }> }
  webhooks: { events: number; seconds: number; deliveredPerSecond: number }
  versions: Record<string, string>
  settings: { appEnvironment: Record<string, string> }
  targets: Array<{ name: string; wanted: string; actual: string; met: boolean }>
}

t.test('the quick benchmark runs every part and writes its results', async (t) => {
  const state = readTestServerState()
  const folder = mkdtempSync(join(tmpdir(), 'taskforge-bench-smoke-'))
  t.teardown(() => { rmSync(folder, { recursive: true, force: true }) })
  const out = join(folder, 'quick.json')

  // The test run's prefix: whatever the bench leaves behind, the global teardown drops.
  const { stdout } = await run(process.execPath, [
    '--import', 'tsx', join(PROJECT_ROOT, 'bench', 'run.ts'),
    '--quick', '--out', out, '--admin-url', state.adminUrl, '--database-prefix', `${state.prefix}bench`
  ], { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH }, timeout: QUICK_RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 })

  const results = JSON.parse(readFileSync(out, 'utf8')) as QuickResults
  t.equal(results.kind, 'quick')
  t.same(results.failures, [], 'no part failed')
  t.ok(results.seed.readerTasks > 0 && results.seed.tasks >= results.seed.readerTasks, 'data was seeded')
  t.match(imageNodeOptions(), /--max-semi-space-size=\d+/, 'the Dockerfile\'s NODE_OPTIONS is found')
  t.equal(results.settings.appEnvironment.NODE_OPTIONS, imageNodeOptions(), 'and the app ran with them, as the image runs it')

  // The variants: REDIS_URL (CI runs a Redis, as the rate-limit tests need), a traceparent, and a personal access
  // token once the build has them (issue 14); each runs where a baseline twin does, a token only where one is sent.
  const { variants } = results.http
  t.same([...variants.measured, ...Object.keys(variants.skipped)].sort(), ['taskforge-pat', 'taskforge-redis', 'taskforge-traceparent'],
    'every variant ran or says why not')
  t.ok(variants.measured.includes('taskforge-redis') && variants.measured.includes('taskforge-traceparent'), 'with Redis and with a traceparent')
  t.ok((variants.readerRequestsCountedInRedis ?? 0) > 0, 'the redis variant counted in Redis')
  if (!variants.measured.includes('taskforge-pat')) t.match(variants.skipped['taskforge-pat'], /no personal access tokens/)
  const variantRuns = (scenarios: string[], target: string) => variants.measured.includes(target) ? scenarios.map((scenario) => `${scenario}/${target}`) : []

  const measured = results.http.summary.map((row) => `${row.scenario}/${row.target}`).sort()
  t.same(measured, [
    'auth-login/taskforge',
    'health-live/baseline', 'health-live/taskforge',
    'tasks-create/taskforge',
    'tasks-get/baseline', 'tasks-get/taskforge',
    'tasks-list/baseline', 'tasks-list/taskforge',
    'tasks-patch-webhook/taskforge', 'tasks-patch/taskforge',
    ...variantRuns(['health-live', 'tasks-get', 'tasks-list'], 'taskforge-redis'),
    ...variantRuns(['health-live', 'tasks-get', 'tasks-list'], 'taskforge-traceparent'),
    ...variantRuns(['tasks-get', 'tasks-list'], 'taskforge-pat')
  ].sort(), 'each quick scenario ran on taskforge and, where it has one, on its baseline twin and taskforge\'s variants')
  for (const row of results.http.summary) {
    t.ok(row.requestsPerSecond > 0, `${row.scenario} on ${row.target} served requests`)
    t.equal(row.errors + row.non2xx, 0, `${row.scenario} on ${row.target}: no errors, no non-2xx answers`)
  }
  const ratios = results.http.summary.filter((row) => row.target !== 'baseline' && !row.scenario.startsWith('tasks-create') &&
    !row.scenario.startsWith('tasks-patch'))
  for (const row of ratios) t.type(row.ratio, 'number', `${row.scenario} has its ratio`)
  t.ok(results.argon2.summary.every((row) => row.verifiesPerSecond > 0), 'the raw argon2 rate was measured')

  t.same(results.jobs.summary.map((row) => row.system).sort(), ['graphile-worker', 'pg-boss', 'taskforge'], 'the three queues ran')
  t.ok(results.jobs.summary.every((row) => row.processedPerSecond > 0 && row.enqueuePerSecond > 0), 'every queue enqueued and processed')
  t.ok(results.jobs.runs.every((run) => run.unfinished === 0), 'every job was processed')
  t.equal(results.versions.node, process.version, 'it ran on the Node that ran it')
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
  t.match(results.versions['graphile-worker'], major > 22 || (major === 22 && minor >= 18) ? /^0\.18\./ : /^0\.16\./, 'graphile-worker 0.18 from Node 22.18 on, else 0.16')

  t.same(results.latency.summary.map((row) => row.mode), ['idle', 'busy'], 'the latency was measured with an idle and a busy worker')
  t.ok(results.latency.summary.every((row) => row.jobs > 0 && Number.isFinite(row.medianMs) && row.p99Ms >= row.medianMs), 'each has its median and p99')

  t.ok(results.webhooks.events > 0 && results.webhooks.deliveredPerSecond > 0, 'webhook deliveries to a local receiver were timed')
  t.match(stdout, /Webhook deliveries to a receiver on 127\.0\.0\.1: .* events\/s/, 'and reported')

  t.ok(results.targets.length > 0 && results.targets.every((target) => typeof target.met === 'boolean'), 'the targets were checked')
  t.match(stdout, /\| scenario \| conns \| req\/s/, 'the Markdown tables were printed')
})
