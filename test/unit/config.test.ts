import t from 'tap'
import { ConfigError, loadConfig, parseDurationSeconds } from '../../config.js'

function problemsOf (environment: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(environment)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

t.test('defaults give a working development configuration', async (t) => {
  const config = loadConfig({})
  t.equal(config.env, 'development')
  t.equal(config.port, 3000)
  t.equal(config.host, '0.0.0.0')
  t.equal(config.database.url, undefined, 'no URL: the embedded database is used')
  t.equal(config.database.dataDir, './data')
  t.equal(config.auth.accessTokenTtlSeconds, 900)
  t.equal(config.auth.refreshTokenTtlSeconds, 30 * 86_400)
  t.equal(config.bodyLimit, 1024 * 1024)
  t.same(config.corsOrigins, [])
  t.ok(config.auth.jwtSecret.length >= 32, 'a random secret is made in development')
  t.match(config.warnings, [/JWT_SECRET is not set/])
})

t.test('values are read and converted', async (t) => {
  const config = loadConfig({
    PORT: '8080',
    DB_URL: 'postgres://u:p@db:5432/app',
    ACCESS_TOKEN_TTL: '600',
    REFRESH_TOKEN_TTL: '7d',
    CORS_ORIGINS: 'https://a.example, https://b.example,',
    BODY_LIMIT: '2048',
    LOG_LEVEL: 'warn',
    JWT_SECRET: 'x'.repeat(40)
  })
  t.equal(config.port, 8080)
  t.equal(config.database.url, 'postgres://u:p@db:5432/app', 'DB_URL is an alias of DATABASE_URL')
  t.equal(config.auth.accessTokenTtlSeconds, 600)
  t.equal(config.auth.refreshTokenTtlSeconds, 7 * 86_400)
  t.same(config.corsOrigins, ['https://a.example', 'https://b.example'])
  t.equal(config.bodyLimit, 2048)
  t.equal(config.logLevel, 'warn')
  t.same(config.warnings, [])
})

t.test('empty strings count as unset', async (t) => {
  t.equal(loadConfig({ PORT: '', DATABASE_URL: '' }).port, 3000)
})

t.test('each bad value is named with what is wrong', async (t) => {
  const problems = problemsOf({ PORT: 'eighty', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://db/app', ACCESS_TOKEN_TTL: '15 minutes', REDIS_URL: 'localhost:6379' })
  t.equal(problems.length, 5)
  t.match(problems, [
    /^PORT: .*integer.*"eighty"/,
    /^LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)/,
    /^DATABASE_URL: must be a postgres or postgresql URL/,
    /^ACCESS_TOKEN_TTL: must be a whole number of seconds/,
    /^REDIS_URL: must be a redis or rediss URL/
  ])
  t.match(problemsOf({ PORT: '70000' }), [/^PORT: /])
})

t.test('rules across variables', async (t) => {
  t.match(problemsOf({ ACCESS_TOKEN_TTL: '1h', REFRESH_TOKEN_TTL: '30m' }), [/^REFRESH_TOKEN_TTL: must be longer than ACCESS_TOKEN_TTL/])
  t.match(problemsOf({ DATABASE_URL: 'postgres://a/x', DB_URL: 'postgres://b/y' }), [/^DB_URL: is an alias/])
})

t.test('production refuses a missing or weak JWT_SECRET', async (t) => {
  t.match(problemsOf({ NODE_ENV: 'production' }), [/^JWT_SECRET: must be set to at least 32 characters in production/])
  t.match(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'short' }), [/^JWT_SECRET: /])
  t.same(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) }), [])
})

t.test('the error message lists every problem', async (t) => {
  t.throws(() => loadConfig({ PORT: 'x', BODY_LIMIT: 'y' }), {
    name: 'ConfigError',
    message: /Invalid configuration:\n {2}- PORT: .*\n {2}- BODY_LIMIT: /
  })
})

t.test('durations', async (t) => {
  t.equal(parseDurationSeconds('45'), 45)
  t.equal(parseDurationSeconds('45s'), 45)
  t.equal(parseDurationSeconds('15m'), 900)
  t.equal(parseDurationSeconds('2h'), 7200)
  t.equal(parseDurationSeconds('30d'), 2_592_000)
})

t.test('shutdown: production waits for the load balancer, development closes at once; the delay fits in the time-out', async (t) => {
  const secret = 's'.repeat(32)
  t.same(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }).shutdown, { delayMs: 5000, timeoutMs: 15_000 })
  t.same(loadConfig({}).shutdown, { delayMs: 0, timeoutMs: 10_000 }, 'development: Ctrl-C stays instant')
  t.same(loadConfig({ NODE_ENV: 'test' }).shutdown, { delayMs: 0, timeoutMs: 10_000 })
  t.same(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, SHUTDOWN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '20000' }).shutdown, { delayMs: 0, timeoutMs: 20_000 }, 'set values win')
  t.match(problemsOf({ SHUTDOWN_DELAY_MS: '10000' }), [/^SHUTDOWN_DELAY_MS: must be shorter than SHUTDOWN_TIMEOUT_MS \(10000 ms, 10000 ms\)/])
  t.match(problemsOf({ NODE_ENV: 'production', JWT_SECRET: secret, SHUTDOWN_TIMEOUT_MS: '4000' }), [/^SHUTDOWN_DELAY_MS: must be shorter/])
  t.equal(loadConfig({}).keepAliveTimeoutMs, 5000, "kept-alive connections: Node's 5 s, not Fastify's 72 s")
})
