/**
 * What authenticating with a personal access token costs per request, against
 * a session's access token, with the lookup cache and without it
 * (PAT_CACHE_TTL_MS=0). Two measurements on a fresh database:
 *
 * 1. The authentication step alone, in process: µs per verification of a
 *    JWT (fast-jwt's cached verdict), of a cached token, and of a token
 *    looked up in PostgreSQL every time.
 * 2. Through HTTP (autocannon, a server in a child process per cache
 *    setting): GET /auth/me, which reads the user, with each credential;
 *    requests a second and latency, median of the repetitions.
 *
 * npx tsx bench/pat-auth.ts [--seconds 5] [--repetitions 3] [--connections 10] [--admin-url postgres://…]
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import pino from 'pino'
import { buildApp } from '../app.js'
import { loadConfig } from '../config.js'
import { createSql } from '../db/client.js'
import { migrate } from '../db/migrator.js'
import { findFreePort } from '../db/embedded/processes.js'
import { createDatabase, DEFAULT_ADMIN_URL, median, PROJECT_ROOT, round, say, startServer, type ServerHandle } from './support.js'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    repetitions: { type: 'string', default: '3' },
    connections: { type: 'string', default: '10' },
    'admin-url': { type: 'string' }
  }
})
const seconds = Number(args.seconds)
const repetitions = Number(args.repetitions)
const connections = Number(args.connections)
const adminUrl = args['admin-url'] ?? process.env.BENCH_ADMIN_URL ?? DEFAULT_ADMIN_URL
const JWT_SECRET = randomBytes(48).toString('base64')
const PASSWORD = 'benchmark password 42'

const environment = (databaseUrl: string, port: number, cacheTtlMs: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  NODE_ENV: 'production',
  LOG_LEVEL: 'warn',
  HOST: '127.0.0.1',
  PORT: String(port),
  DATABASE_URL: databaseUrl,
  JWT_SECRET,
  METRICS_ENABLED: 'false',
  JOBS_CONCURRENCY: '0',
  RATE_LIMIT_MAX: '1000000000',
  AUTH_RATE_LIMIT_MAX: '1000000000',
  PAT_CACHE_TTL_MS: cacheTtlMs
})

async function post<T> (url: string, body: unknown, token?: string): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body)
  })
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`)
  return await response.json() as T
}

/** µs per call of fn, over `calls` calls after a warm-up of a tenth of them. */
async function perCall (calls: number, fn: () => unknown): Promise<number> {
  for (let i = 0; i < calls / 10; i++) await fn()
  const started = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) await fn()
  return Number(process.hrtime.bigint() - started) / 1000 / calls
}

async function measureStep (databaseUrl: string): Promise<Record<string, number>> {
  const results: Record<string, number> = {}
  for (const cacheTtl of ['4000', '0']) {
    const sql = createSql(databaseUrl, { poolMax: 4, statementTimeoutMs: 10_000, log: pino({ level: 'silent' }) })
    const config = loadConfig({ ...environment(databaseUrl, 0, cacheTtl), LOG_LEVEL: 'silent' })
    const app = await buildApp(config, { sql })
    try {
      await app.ready()
      const email = `step-${cacheTtl}-${Date.now()}@example.io`
      const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } })
      const accessToken = registered.json<{ accessToken: string }>().accessToken
      const created = await app.inject({
        method: 'POST', url: '/auth/tokens', headers: { authorization: `Bearer ${accessToken}` }, payload: { name: 'bench', scopes: ['tasks:read'] }
      })
      const token = created.json<{ token: string }>().token
      const { accessTokens, personalAccessTokens } = app.auth
      if (cacheTtl !== '0') {
        results['session access token (JWT)'] = await perCall(200_000, () => accessTokens.verify(accessToken))
        results['personal access token, cached'] = await perCall(200_000, () => personalAccessTokens.verify(token))
      } else {
        results['personal access token, looked up (PAT_CACHE_TTL_MS=0)'] = await perCall(5000, () => personalAccessTokens.verify(token))
      }
    } finally {
      await app.close()
      await sql.end()
    }
  }
  return results
}

interface HttpResult { requestsPerSecond: number; p50Ms: number; p99Ms: number }

async function measureHttp (server: ServerHandle, token: string): Promise<HttpResult> {
  const result = await autocannon({
    url: `${server.url}/auth/me`,
    connections,
    duration: seconds,
    headers: { authorization: `Bearer ${token}` }
  })
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx answers, ${result.errors} errors`)
  return { requestsPerSecond: result.requests.average, p50Ms: result.latency.p50, p99Ms: result.latency.p99 }
}

const database = await createDatabase(adminUrl, 'tf_bench_pat')
const servers: ServerHandle[] = []
try {
  say(`database ${database.name}`)
  const migrator = createSql(database.url, { poolMax: 1, statementTimeoutMs: 60_000, log: pino({ level: 'silent' }) })
  await migrate(migrator)
  await migrator.end()

  say('1. the authentication step, in process')
  const step = await measureStep(database.url)
  for (const [what, micros] of Object.entries(step)) say(`   ${what}: ${round(micros, 2)} µs per request`)

  say(`2. GET /auth/me through HTTP: ${connections} connections, ${seconds} s, median of ${repetitions}`)
  const runs: Record<string, HttpResult[]> = {}
  for (const cacheTtl of ['4000', '0']) {
    const port = await findFreePort()
    const server = await startServer({
      name: `taskforge PAT_CACHE_TTL_MS=${cacheTtl}`,
      args: ['--import', 'tsx', join(PROJECT_ROOT, 'server.ts')],
      env: environment(database.url, port, cacheTtl),
      cwd: PROJECT_ROOT,
      port,
      readyPath: '/health/ready',
      logFile: join(PROJECT_ROOT, '.tmp', `bench-pat-${cacheTtl}.log`)
    })
    servers.push(server)
    const email = `http-${cacheTtl}-${Date.now()}@example.io`
    const { accessToken } = await post<{ accessToken: string }>(`${server.url}/auth/register`, { email, password: PASSWORD })
    const { token } = await post<{ token: string }>(`${server.url}/auth/tokens`, { name: 'bench', scopes: ['tasks:read'] }, accessToken)
    const credentials: Record<string, string> = cacheTtl === '0'
      ? { 'personal access token, looked up (PAT_CACHE_TTL_MS=0)': token }
      : { 'session access token (JWT)': accessToken, 'personal access token, cached': token }
    // Warm-up: every path compiled, every cache filled.
    for (const value of Object.values(credentials)) await measureHttp(server, value)
    for (let repetition = 0; repetition < repetitions; repetition++) {
      // Each credential first in turn: the load of a shared machine drifts.
      const order = Object.entries(credentials)
      if (repetition % 2 === 1) order.reverse()
      for (const [what, value] of order) (runs[what] ??= []).push(await measureHttp(server, value))
    }
    await server.stop()
  }
  for (const [what, results] of Object.entries(runs)) {
    const rps = median(results.map((result) => result.requestsPerSecond))
    say(`   ${what}: ${round(rps)} req/s (${round(1_000_000 / rps)} µs of server per request), ` +
      `p50 ${median(results.map((result) => result.p50Ms))} ms, p99 ${median(results.map((result) => result.p99Ms))} ms`)
  }
} finally {
  for (const server of servers) await server.stop()
  await database.drop()
}
