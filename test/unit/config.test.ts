import { randomBytes } from 'node:crypto'
import { Value } from '@sinclair/typebox/value'
import t from 'tap'
import { ConfigError, ConfigSchema, loadConfig, parseDurationSeconds } from '../../config.js'

function problemsOf (environment: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(environment)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

/** What `openssl rand -base64 48` makes. */
const strongSecret = () => randomBytes(48).toString('base64')

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

t.test('what loadConfig makes is what ConfigSchema, the source of the Config type, describes', async (t) => {
  const environments: NodeJS.ProcessEnv[] = [
    {},
    { NODE_ENV: 'production', JWT_SECRET: strongSecret(), METRICS_PORT: '9464', TRUST_PROXY: '10.0.0.0/8,192.168.1.1', DATABASE_URL: 'postgres://db/app' },
    { METRICS_TOKEN: 'a-token-of-sixteen+', TRUST_PROXY: '2', REDIS_URL: 'redis://cache', SMTP_URL: 'smtp://mail', EMBEDDED_PG_PORT: '5499' },
    { TRUST_PROXY: 'true', CORS_ORIGINS: 'https://a.example, https://b.example', JOBS_CONCURRENCY: '0' }
  ]
  for (const environment of environments) {
    const config = loadConfig(environment)
    t.same([...Value.Errors(ConfigSchema, config)].map((error) => `${error.path} ${error.message}`), [], JSON.stringify(environment))
  }
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
    JWT_SECRET: strongSecret()
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
  t.match(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) }), [/^JWT_SECRET: is guessable/], '32 characters are not enough by themselves')
  t.same(problemsOf({ NODE_ENV: 'production', JWT_SECRET: strongSecret() }), [])
})

t.test('production refuses a published example or a guessable JWT_SECRET, and says how to make one', async (t) => {
  const published = [
    'local-only-jwt-secret-not-for-any-real-deployment', // the compose file's old default
    'test-secret-that-is-long-enough-for-hs256-0123456789', // test/helpers/app.ts until it became random
    'openapi-rendering-needs-no-real-secret', // scripts/openapi-document.ts
    'Local-Only-JWT-Secret-Not-For-Any-Real-Deployment!2' // a published one, dressed up
  ]
  for (const secret of published) {
    t.match(problemsOf({ NODE_ENV: 'production', JWT_SECRET: secret }), [/^JWT_SECRET: is an example value published with taskforge; production needs a secret of your own: make one with `openssl rand -base64 48`$/], secret)
  }
  const guessable = ['a'.repeat(40), 'password1234'.repeat(4), 'aB3$'.repeat(10), 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEF', 'correct horse battery staple xyzzy']
  for (const secret of guessable) {
    const [problem, ...rest] = problemsOf({ NODE_ENV: 'production', JWT_SECRET: secret })
    t.match(problem, /^JWT_SECRET: is guessable: about \d+ bits of entropy by estimate, less than 128 .*make one with `openssl rand -base64 48`$/, secret)
    t.same(rest, [])
    t.notOk(problem?.includes(secret), 'the message does not repeat it')
  }
  for (const secret of [strongSecret(), randomBytes(32).toString('hex'), randomBytes(36).toString('base64url')]) {
    t.same(problemsOf({ NODE_ENV: 'production', JWT_SECRET: secret }), [], 'generated secrets pass')
  }
  const development = loadConfig({ JWT_SECRET: 'password1234'.repeat(4) })
  t.equal(development.auth.jwtSecret, 'password1234'.repeat(4), 'development uses it')
  t.match(development.warnings, [/^JWT_SECRET is guessable: .*: production would refuse it/], 'and says production would not')
})

t.test('production refuses argon2 costs below OWASP\'s minimum', async (t) => {
  const base = { NODE_ENV: 'production', JWT_SECRET: strongSecret() }
  const below = /^ARGON2_MEMORY_KIB, ARGON2_TIME_COST: below OWASP's minimum for argon2id \(19456 KiB, 2 passes\) in production$/
  t.match(problemsOf({ ...base, ARGON2_MEMORY_KIB: '19455' }), [below], 'one KiB less memory')
  t.match(problemsOf({ ...base, ARGON2_TIME_COST: '1' }), [below], 'one pass')
  t.same(problemsOf(base), [], 'the defaults are the minimum')
  t.same(problemsOf({ ...base, ARGON2_MEMORY_KIB: '65536', ARGON2_TIME_COST: '3' }), [], 'more is fine')
  t.same(loadConfig({ ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' }).auth.argon2, { memoryCost: 8192, timeCost: 1, parallelism: 1 }, 'development may go lower (tests do)')
})

t.test('a config error never shows a secret: JWT_SECRET, METRICS_TOKEN and passwords in URLs are ***', async (t) => {
  const secrets = ['hunter2-jwt', 'hunter2-metrics', 'hunter2-database', 'hunter2-alias', 'hunter2-redis', 'hunter2-smtp', 'hunter2-query']
  const environment = {
    NODE_ENV: 'production',
    JWT_SECRET: 'hunter2-jwt'.repeat(4),
    METRICS_TOKEN: 'hunter2-metrics', // too short
    DATABASE_URL: 'mysql://app:hunter2-database@db:3306/app', // wrong scheme
    DB_URL: 'postgres//app:hunter2-alias@db/app', // no ://
    REDIS_URL: 'http://:hunter2-redis@cache:6379',
    SMTP_URL: 'mail://hunter2-smtp@relay.example:587' // a key as the user name
  }
  const error = t.throws(() => loadConfig(environment)) as Error
  t.match(error.message, /METRICS_TOKEN: .*\(got "\*\*\*"\)/)
  t.match(error.message, /DATABASE_URL: .*\(got "mysql:\/\/app:\*\*\*@db:3306\/app"\)/, 'the user and host stay: they help')
  t.match(error.message, /DB_URL: .*\(got "postgres\/\/app:\*\*\*@db\/app"\)/)
  t.match(error.message, /REDIS_URL: .*\(got "http:\/\/:\*\*\*@cache:6379"\)/)
  t.match(error.message, /SMTP_URL: .*\(got "mail:\/\/\*\*\*@relay\.example:587"\)/)
  const withQuery = t.throws(() => loadConfig({ DATABASE_URL: 'pg://db/app?user=app&password=hunter2-query' })) as Error
  t.match(withQuery.message, /password=\*\*\*/)
  const jwt = t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'hunter2-jwt'.repeat(4), DATABASE_URL: 'postgres://db/app' })) as Error
  t.match(jwt.message, /JWT_SECRET: is guessable/)
  for (const message of [error.message, withQuery.message, jwt.message]) {
    for (const secret of secrets) t.notOk(message.includes(secret), `no ${secret}`)
  }
})

t.test('TRUST_PROXY: hops or proxy addresses; production refuses true and says what to use', async (t) => {
  t.equal(loadConfig({ TRUST_PROXY: '1' }).trustProxy, 1)
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8,192.168.1.7,fd00::/8' }).trustProxy, ['10.0.0.0/8', '192.168.1.7', 'fd00::/8'])
  t.equal(loadConfig({}).trustProxy, false, 'off by default: X-Forwarded-For is ignored')
  t.match(problemsOf({ TRUST_PROXY: '10.0.0/8,1.2.3.4/33,::/129' }), [
    /^TRUST_PROXY: "10\.0\.0\/8" is not an IP address or a CIDR$/,
    /^TRUST_PROXY: "1\.2\.3\.4\/33" is not/,
    /^TRUST_PROXY: "::\/129" is not/
  ])

  t.match(problemsOf({ NODE_ENV: 'production', JWT_SECRET: strongSecret(), TRUST_PROXY: 'true' }), [
    /^TRUST_PROXY: true believes any X-Forwarded-For, so a client could choose its own address and rate-limit budget; in production set the number of proxies in front of the app \(TRUST_PROXY=1 .*\) or their addresses\/CIDRs/
  ])
  t.same(problemsOf({ NODE_ENV: 'production', JWT_SECRET: strongSecret(), TRUST_PROXY: '2' }), [])
  const development = loadConfig({ TRUST_PROXY: 'true' })
  t.equal(development.trustProxy, true, 'development still takes it')
  t.match(development.warnings, [/JWT_SECRET is not set/, /^TRUST_PROXY=true believes any X-Forwarded-For, .*production refuses it: set the number of proxies/])
})

t.test('METRICS_PORT and METRICS_HOST: a listener of its own for /metrics', async (t) => {
  const own = loadConfig({ METRICS_PORT: '9464' }).observability.metrics
  t.same(own.listener, { host: '127.0.0.1', port: 9464 }, 'on the loopback interface unless METRICS_HOST says otherwise')
  t.equal(own.onPublicListener, false, 'and no longer on the public one')
  t.same(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0' }).observability.metrics.listener, { host: '0.0.0.0', port: 9464 })
  t.match(problemsOf({ PORT: '8080', METRICS_PORT: '8080' }), [/^METRICS_PORT: must differ from PORT/])
  t.equal(loadConfig({ METRICS_PORT: '9464', METRICS_ENABLED: 'false' }).observability.metrics.listener, undefined, 'METRICS_ENABLED=false: no metrics anywhere')

  t.equal(loadConfig({}).observability.metrics.onPublicListener, true, 'development: on the public listener, as ever')
  const base = { NODE_ENV: 'production', JWT_SECRET: strongSecret() }
  const bare = loadConfig(base)
  t.equal(bare.observability.metrics.onPublicListener, false, 'production without a token: not on the public listener')
  t.match(bare.warnings, [/^GET \/metrics is not served: in production set METRICS_TOKEN .* or METRICS_PORT .*; METRICS_ENABLED=false if you want no metrics$/])
  t.equal(loadConfig({ ...base, METRICS_TOKEN: 'a-long-enough-metrics-token' }).observability.metrics.onPublicListener, true, 'with the token: there, behind it')
  t.same(loadConfig({ ...base, METRICS_PORT: '9464' }).warnings, [], 'a listener of its own: nothing to warn about')
  t.same(loadConfig({ ...base, METRICS_ENABLED: 'false' }).warnings, [], 'no metrics wanted: nothing to warn about')
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

t.test('REFRESH_TOKEN_MAX_AGE: 90 days by default, and never shorter than REFRESH_TOKEN_TTL', async (t) => {
  t.equal(loadConfig({}).auth.refreshTokenMaxAgeSeconds, 90 * 86_400)
  t.equal(loadConfig({ REFRESH_TOKEN_MAX_AGE: '45d' }).auth.refreshTokenMaxAgeSeconds, 45 * 86_400)
  t.equal(loadConfig({ REFRESH_TOKEN_TTL: '7d', REFRESH_TOKEN_MAX_AGE: '7d' }).auth.refreshTokenMaxAgeSeconds, 7 * 86_400, 'equal to the TTL: no rotation extends a login')
  t.match(problemsOf({ REFRESH_TOKEN_MAX_AGE: '29d' }), [/^REFRESH_TOKEN_MAX_AGE: must be at least REFRESH_TOKEN_TTL/])
  t.match(problemsOf({ REFRESH_TOKEN_MAX_AGE: 'forever' }), [/^REFRESH_TOKEN_MAX_AGE: must be a whole number of seconds/])
})

t.test('shutdown: production waits for the load balancer, development closes at once; the delay fits in the time-out', async (t) => {
  const secret = strongSecret()
  t.same(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }).shutdown, { delayMs: 5000, timeoutMs: 15_000 })
  t.same(loadConfig({}).shutdown, { delayMs: 0, timeoutMs: 10_000 }, 'development: Ctrl-C stays instant')
  t.same(loadConfig({ NODE_ENV: 'test' }).shutdown, { delayMs: 0, timeoutMs: 10_000 })
  t.same(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, SHUTDOWN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '20000' }).shutdown, { delayMs: 0, timeoutMs: 20_000 }, 'set values win')
  t.match(problemsOf({ SHUTDOWN_DELAY_MS: '10000' }), [/^SHUTDOWN_DELAY_MS: must be shorter than SHUTDOWN_TIMEOUT_MS \(10000 ms, 10000 ms\)/])
  t.match(problemsOf({ NODE_ENV: 'production', JWT_SECRET: secret, SHUTDOWN_TIMEOUT_MS: '4000' }), [/^SHUTDOWN_DELAY_MS: must be shorter/])
  t.equal(loadConfig({}).keepAliveTimeoutMs, 5000, "kept-alive connections: Node's 5 s, not Fastify's 72 s")
})

t.test('webhooks: private URLs refused by default; allowing them in production warns at start, saying what it allows', async (t) => {
  const defaults = loadConfig({})
  t.same(defaults.webhooks, { allowPrivateUrls: false, timeoutMs: 10_000, maxAttempts: 10, retryBaseMs: 15_000, maxInFlight: 2 })
  const production = loadConfig({ NODE_ENV: 'production', JWT_SECRET: strongSecret(), METRICS_ENABLED: 'false', WEBHOOKS_ALLOW_PRIVATE_URLS: 'true' })
  t.equal(production.webhooks.allowPrivateUrls, true)
  t.match(production.warnings, [/^WEBHOOKS_ALLOW_PRIVATE_URLS=true: webhook URLs may be http:\/\/ and may reach loopback, private, link-local and other internal addresses.*cloud metadata addresses stay refused/])
  t.same(loadConfig({ NODE_ENV: 'production', JWT_SECRET: strongSecret(), METRICS_ENABLED: 'false' }).warnings, [], 'no warning without it')
  t.same(loadConfig({ JWT_SECRET: strongSecret(), WEBHOOKS_ALLOW_PRIVATE_URLS: 'true' }).warnings, [], 'nor outside production')
  t.match(problemsOf({ WEBHOOKS_TIMEOUT_MS: '60000' }), [/^WEBHOOKS_TIMEOUT_MS: /], 'a time-out above 30 s is refused (the job\'s own limit is 60 s)')
})
