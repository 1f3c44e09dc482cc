/**
 * Two or more builds of the app side by side on one seeded database, beside
 * the bare baseline: what a change gains, measured in the same minutes on the
 * same data. The builds take turns in every round, in an order that rotates,
 * and the table gives each one's medians and its ratios to the baseline.
 *
 *   node --import tsx bench/compare.ts --ref before=main --ref after=. [options]
 *
 * Everything runs on the Node that runs this script: "$(.ci/fetch-node)" --import tsx ... for Node 26.
 *
 *   --ref NAME=REF         a build: a git commit (exported with git archive), or a folder
 *                          holding a source tree as it is ("." for this one); repeat for each build
 *   --scenarios a,b        as npm run bench (default health-live,tasks-get,tasks-list,tasks-list-filtered)
 *   --connections 10,100   --duration S (3)   --rounds N (3)
 *   --env KEY=VALUE        more environment for every build (e.g. REDIS_URL); repeatable
 *   --header NAME=VALUE    a header on every request (e.g. a traceparent); repeatable
 *   --admin-url URL        a PostgreSQL role that may create databases
 *   --callgrind N          count instructions instead of timing: every server runs under
 *                          valgrind --tool=callgrind; per scenario N requests warm up, the
 *                          counters are zeroed, N more are sent, and the table gives
 *                          instructions per request. Slow (minutes), but the same on a busy
 *                          machine as on a quiet one, where CPU time per request moves by 10-30%.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs'
import autocannon from 'autocannon'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { findFreePort } from '../db/embedded/processes.js'
import { FILTERED_PAGE, FILTERED_QUERY, measure, SCENARIOS, type HttpRun, type ScenarioContext } from './http.js'
import { seed as seedDatabase, type SeededUser } from './seed.js'
import { createDatabase, DEFAULT_ADMIN_URL, imageNodeOptions, killChildren, median, PROJECT_ROOT, round, run, say, startServer, type ServerHandle } from './support.js'

const { values: args } = parseArgs({
  options: {
    ref: { type: 'string', multiple: true },
    scenarios: { type: 'string', default: 'health-live,tasks-get,tasks-list,tasks-list-filtered' },
    connections: { type: 'string', default: '10' },
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    env: { type: 'string', multiple: true },
    header: { type: 'string', multiple: true },
    'admin-url': { type: 'string' },
    callgrind: { type: 'string' }
  }
})

const pairs = (entries: string[] | undefined, what: string): [string, string][] => (entries ?? []).map((entry) => {
  const at = entry.indexOf('=')
  if (at <= 0) throw new Error(`${what}: NAME=VALUE, got ${entry}`)
  return [entry.slice(0, at), entry.slice(at + 1)]
})
const refs = pairs(args.ref, '--ref')
if (refs.length === 0) throw new Error('at least one --ref NAME=REF')
const connectionLevels = args.connections.split(',').map(Number)
const durationSeconds = Number(args.duration)
const rounds = Number(args.rounds)
const extraEnvironment = Object.fromEntries(pairs(args.env, '--env'))
const extraHeaders = Object.fromEntries(pairs(args.header, '--header').map(([name, value]) => [name.toLowerCase(), value]))
const callgrindRequests = args.callgrind === undefined ? undefined : Number(args.callgrind)
const scenarios = SCENARIOS.filter((scenario) => args.scenarios.split(',').includes(scenario.id))
const workDir = join(PROJECT_ROOT, '.tmp', `compare-${process.pid}`)
const tsc = join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

/**
 * Compiles one build into workDir/NAME/dist (a source tree as it is, or a commit exported from git), and
 * gives the NODE_OPTIONS its Dockerfile runs it with.
 */
async function build (name: string, ref: string): Promise<{ dist: string; nodeOptions: string | undefined }> {
  const out = join(workDir, name, 'dist')
  let tree: string
  if (existsSync(ref) && statSync(ref).isDirectory()) {
    tree = resolve(ref)
    if (!existsSync(join(tree, 'node_modules'))) symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(tree, 'node_modules'))
  } else {
    tree = join(workDir, name, 'tree')
    mkdirSync(tree, { recursive: true })
    execFileSync('bash', ['-c', `git archive ${JSON.stringify(ref)} | tar -x -C ${JSON.stringify(tree)}`], { cwd: PROJECT_ROOT })
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(tree, 'node_modules'))
  }
  await run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', out], tree)
  return { dist: out, nodeOptions: imageNodeOptions(tree) }
}

async function login (appUrl: string, user: SeededUser): Promise<string> {
  const response = await fetch(`${appUrl}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: user.email, password: user.password }) })
  if (response.status !== 200) throw new Error(`login answered ${response.status}`)
  return (await response.json() as { accessToken: string }).accessToken
}

async function filteredCursor (appUrl: string, token: string): Promise<ScenarioContext['filteredCursor']> {
  let cursor: string | undefined
  let position = { afterCreatedAt: '', afterId: '' }
  for (let page = 1; page < FILTERED_PAGE; page += 1) {
    const response = await fetch(`${appUrl}/tasks?${FILTERED_QUERY}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`, { headers: { authorization: `Bearer ${token}` } })
    if (response.status !== 200) throw new Error(`GET /tasks answered ${response.status}: ${await response.text()}`)
    const body = await response.json() as { items: { id: string; createdAt: string }[]; nextCursor: string | null }
    const last = body.items.at(-1)
    if (body.nextCursor === null || last === undefined) break
    cursor = body.nextCursor
    position = { afterCreatedAt: last.createdAt, afterId: last.id }
  }
  return { cursor: cursor ?? '', ...position }
}

/** Server options to run under callgrind (JIT code needs --smc-check), with a start-up time to match. */
function underCallgrind (name: string): { env: NodeJS.ProcessEnv; wrapper?: string[]; timeoutMs?: number } {
  if (callgrindRequests === undefined) return { env: {} }
  return {
    // callgrind_control finds the process by a name made of the user (LOGNAME or USER) and host (HOST, which
    // is the servers' listening address here): callgrindControl runs with the same.
    env: Object.fromEntries(['LOGNAME', 'USER'].flatMap((key) => process.env[key] === undefined ? [] : [[key, process.env[key]]])),
    // Instrumented from the first request on: a start-up at callgrind's pace overruns Fastify's plugin time-out.
    wrapper: ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', `--callgrind-out-file=${join(workDir, `${name}.callgrind.%p`)}`],
    timeoutMs: 600_000
  }
}

/** Instructions per request: N requests to warm up, counters zeroed, N more, counters read. */
async function instructionsPerRequest (
  name: string, server: ServerHandle, requests: autocannon.Request[], connections: number
): Promise<number> {
  const amount = callgrindRequests ?? 0
  const send = async () => {
    const result = await autocannon({ url: server.url, connections, amount, pipelining: 1, timeout: 60, requests })
    const failed = result.non2xx + result.errors + result.timeouts
    // At callgrind's pace a request may outlast a time-out now and then: said, not fatal to a count over hundreds.
    if (failed > 0) say(`${name}: ${failed} of ${amount} requests failed ${JSON.stringify(result.statusCodeStats)}`)
  }
  const control = { env: { ...process.env, HOST: '127.0.0.1' }, encoding: 'utf8' } as const
  execFileSync('callgrind_control', ['--instr=on', String(server.pid)], control)
  await send()
  execFileSync('callgrind_control', ['-z', String(server.pid)], control)
  await send()
  // The counters since they were zeroed, one line per thread ("Th 1  94,425,166"): the main thread, V8's and libuv's.
  const status = execFileSync('callgrind_control', ['-e', 'Ir', String(server.pid)], control)
  const threads = [...status.matchAll(/^\s*Th\s+\d+\s+([\d,]+)\s*$/gm)].map((match) => Number(match[1]?.replaceAll(',', '')))
  if (threads.length === 0) throw new Error(`${name}: callgrind_control said ${status}`)
  return threads.reduce((sum, count) => sum + count, 0) / amount
}

mkdirSync(workDir, { recursive: true })
for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => {
    killChildren()
    process.exit(status)
  })
}
const builds = []
for (const [name, ref] of refs) {
  say(`build ${name}: ${ref}`)
  const built = await build(name, ref)
  say(`build ${name}: NODE_OPTIONS=${built.nodeOptions ?? ''} (its Dockerfile's)`)
  builds.push({ name, ...built })
}
const database = await createDatabase(args['admin-url'] ?? process.env.BENCH_ADMIN_URL ?? DEFAULT_ADMIN_URL, 'taskforge_bench_compare')
const servers: { name: string; server: ServerHandle }[] = []
const runs: (HttpRun & { build: string })[] = []
const instructions: { scenario: string; connections: number; build: string; perRequest: number }[] = []
try {
  // One secret for all builds: a token from one is good on every other.
  const secret = randomBytes(36).toString('base64url')
  for (const { name, dist, nodeOptions } of builds) {
    const port = await findFreePort()
    const callgrind = underCallgrind(name)
    const server = await startServer({
      name,
      args: [join(dist, 'server.js')],
      env: {
        ...callgrind.env,
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        ...(nodeOptions === undefined ? {} : { NODE_OPTIONS: nodeOptions }),
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: database.url,
        DB_POOL_MAX: '10',
        JWT_SECRET: secret,
        RATE_LIMIT_MAX: '1000000000',
        AUTH_RATE_LIMIT_MAX: '1000000000',
        LOGIN_FAILURES_MAX: '1000000000',
        ACCESS_TOKEN_TTL: '2h',
        JOBS_CONCURRENCY: '4',
        // Under valgrind everything is some 50 times slower: the time-out must not answer for it, and load shedding
        // (@fastify/under-pressure, whose per-request check is a comparison) sees a delay there that is not.
        ...(callgrindRequests === undefined ? {} : { REQUEST_TIMEOUT_MS: '600000', MAX_EVENT_LOOP_DELAY_MS: '0' }),
        ...extraEnvironment
      },
      cwd: join(dist, '..'),
      port,
      readyPath: '/health/ready',
      logFile: join(workDir, `${name}.log`),
      wrapper: callgrind.wrapper,
      timeoutMs: callgrind.timeoutMs
    })
    servers.push({ name, server })
  }
  const first = servers[0]?.server
  if (first === undefined) throw new Error('no build started')
  say('seed: 10000 tasks for the reader, 49 more users with 1000 each')
  const seeded = await seedDatabase({
    appUrl: first.url, databaseUrl: database.url, tasksPerUser: 10_000, otherUsers: 48, tasksPerOtherUser: 1000
  })
  const readerToken = await login(first.url, seeded.reader)
  const context: ScenarioContext = {
    seed: seeded,
    readerToken,
    writerToken: await login(first.url, seeded.writer),
    hookedToken: await login(first.url, seeded.hooked),
    filteredCursor: await filteredCursor(first.url, readerToken)
  }
  const baselinePort = await findFreePort()
  const callgrind = underCallgrind('baseline')
  const baseline = await startServer({
    name: 'baseline',
    args: ['--import', 'tsx', join(PROJECT_ROOT, 'bench', 'baseline-server.ts')],
    env: { ...callgrind.env, PATH: process.env.PATH, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(baselinePort), DATABASE_URL: database.url, DB_POOL_MAX: '10', BENCH_USER_ID: seeded.reader.id },
    cwd: PROJECT_ROOT,
    port: baselinePort,
    readyPath: '/health/live',
    logFile: join(workDir, 'baseline.log'),
    wrapper: callgrind.wrapper,
    timeoutMs: callgrind.timeoutMs
  })
  servers.push({ name: 'baseline', server: baseline })

  for (const scenario of scenarios) {
    for (const connections of connectionLevels) {
      if (callgrindRequests !== undefined) {
        for (const { name, server } of servers.filter((entry) => entry.name !== 'baseline' || scenario.baseline)) {
          const requests = scenario.requests(context, name === 'baseline' ? 'baseline' : 'taskforge')
            .map((request) => ({ ...request, headers: { ...request.headers, ...(name === 'baseline' ? {} : extraHeaders) } }))
          const count = await instructionsPerRequest(name, server, requests, connections)
          instructions.push({ scenario: scenario.id, connections, build: name, perRequest: count })
          say(`${scenario.id} @${connections} ${name}: ${Math.round(count).toLocaleString('en')} instructions/request`)
        }
        continue
      }
      const targets = servers.filter(({ name }) => name !== 'baseline' || scenario.baseline)
      const requests = (name: string) => scenario.requests(context, name === 'baseline' ? 'baseline' : 'taskforge')
        .map((request) => ({ ...request, headers: { ...request.headers, ...(name === 'baseline' ? {} : extraHeaders) } }))
      for (const { name, server } of targets) {
        await measure(server, requests(name), { scenario: scenario.id, target: 'taskforge', connections, repetition: 0, durationSeconds: 2, database: database.name })
      }
      for (let index = 0; index < rounds; index += 1) {
        // Each round starts one further along, so that no build always follows the same one.
        const ordered = targets.map((_target, position) => targets[(position + index) % targets.length])
          .filter((entry) => entry !== undefined)
        for (const { name, server } of ordered) {
          await sleep(300)
          const result = await measure(server, requests(name), {
            scenario: scenario.id, target: name === 'baseline' ? 'baseline' : 'taskforge', connections, repetition: index + 1, durationSeconds, database: database.name
          })
          runs.push({ ...result, build: name })
          const failed = result.errors + result.timeouts + result.non2xx
          say(`${scenario.id} @${connections} ${name} #${index + 1}: ${result.requestsPerSecond} req/s, p99 ${result.latencyMs.p99} ms, ${result.cpuMicrosPerRequest ?? '?'} µs CPU/req, RSS ${result.peakRssMiB ?? '?'} MiB${failed > 0 ? `, ${failed} FAILED ${JSON.stringify(result.statusCodes)}` : ''}`)
        }
      }
    }
  }
} finally {
  for (const { server } of servers.reverse()) await server.stop()
  await database.drop()
}

if (callgrindRequests !== undefined) {
  const rows = ['| scenario | conns | build | instructions/request | baseline / build |', '| --- | --- | --- | --- | --- |']
  for (const entry of instructions) {
    const base = instructions.find((other) => other.build === 'baseline' && other.scenario === entry.scenario && other.connections === entry.connections)
    const ratio = entry.build === 'baseline' || base === undefined ? '' : (base.perRequest / entry.perRequest).toFixed(2)
    rows.push(`| ${entry.scenario} | ${entry.connections} | ${entry.build} | ${Math.round(entry.perRequest).toLocaleString('en')} | ${ratio} |`)
  }
  process.stdout.write(`${rows.join('\n')}\n`)
  rmSync(workDir, { recursive: true, force: true })
  process.exit(0)
}
const lines = ['| scenario | conns | build | req/s | ratio | CPU µs/req | CPU ratio | p99 ms | peak RSS MiB |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
for (const scenario of scenarios) {
  for (const connections of connectionLevels) {
    const of = (name: string) => runs.filter((entry) =>
      entry.scenario === scenario.id && entry.connections === connections && entry.build === name)
    const base = of('baseline')
    const baseRate = median(base.map((entry) => entry.requestsPerSecond))
    const baseCpu = median(base.map((entry) => entry.cpuMicrosPerRequest ?? Number.NaN))
    for (const name of [...builds.map((entry) => entry.name), 'baseline']) {
      const selected = of(name)
      if (selected.length === 0) continue
      const rate = median(selected.map((entry) => entry.requestsPerSecond))
      const cpu = median(selected.map((entry) => entry.cpuMicrosPerRequest ?? Number.NaN))
      const ratio = name === 'baseline' || base.length === 0 ? '' : round(rate / baseRate, 2).toFixed(2)
      const cpuRatio = name === 'baseline' || base.length === 0 ? '' : round(baseCpu / cpu, 2).toFixed(2)
      const rss = Math.max(...selected.map((entry) => entry.peakRssMiB ?? 0))
      lines.push(`| ${scenario.id} | ${connections} | ${name} | ${round(rate)} | ${ratio} | ${round(cpu)} | ${cpuRatio} | ${median(selected.map((entry) => entry.latencyMs.p99))} | ${round(rss)} |`)
    }
  }
}
process.stdout.write(`${lines.join('\n')}\n`)
rmSync(workDir, { recursive: true, force: true })
