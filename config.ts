import { randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { estimateSecretBits, MIN_SECRET_BITS } from './services/auth/secret-strength.js'

const OWASP_ARGON2_MEMORY_KIB = 19_456
const OWASP_ARGON2_TIME_COST = 2

const Duration = (defaultValue: string) =>
  Type.String({ pattern: '^[0-9]+[smhd]?$', default: defaultValue, description: 'a whole number of seconds, or a number followed by s, m, h or d (e.g. 15m)' })

const Url = (protocols: string[]) =>
  Type.String({ pattern: `^(${protocols.join('|')})://`, description: `a ${protocols.join(' or ')} URL` })

/** Every variable taskforge reads, as strings straight from the environment. */
export const EnvironmentSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)), { default: 'info' }),
  METRICS_ENABLED: Type.Boolean({ default: true }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  METRICS_HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Url(['http', 'https'])),
  OTEL_SERVICE_NAME: Type.String({ minLength: 1, default: 'taskforge' }),
  DATABASE_URL: Type.Optional(Url(['postgres', 'postgresql'])),
  DB_URL: Type.Optional(Url(['postgres', 'postgresql'])),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  DB_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  EMBEDDED_PG_PORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  JWT_SECRET: Type.Optional(Type.String()),
  ACCESS_TOKEN_TTL: Duration('15m'),
  // OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane. Raise them, never lower them in production.
  ARGON2_MEMORY_KIB: Type.Integer({ minimum: 1024, maximum: 4 * 1024 * 1024, default: OWASP_ARGON2_MEMORY_KIB }),
  ARGON2_TIME_COST: Type.Integer({ minimum: 1, maximum: 100, default: OWASP_ARGON2_TIME_COST }),
  ARGON2_PARALLELISM: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
  REFRESH_TOKEN_TTL: Duration('30d'),
  REFRESH_TOKEN_MAX_AGE: Duration('90d'),
  // At most 4 s, so that a revocation reaches every instance within 5 s even if its notification is lost.
  PAT_CACHE_TTL_MS: Type.Integer({ minimum: 0, maximum: 4000, default: 4000 }),
  CORS_ORIGINS: Type.String({ default: '' }),
  REDIS_URL: Type.Optional(Url(['redis', 'rediss'])),
  SMTP_URL: Type.Optional(Url(['smtp', 'smtps'])),
  MAIL_FROM: Type.String({ minLength: 3, default: 'taskforge <no-reply@taskforge.local>' }),
  JOBS_CONCURRENCY: Type.Integer({ minimum: 0, maximum: 256, default: 4 }),
  JOBS_PREFETCH: Type.Integer({ minimum: 0, maximum: 1024, default: 0 }),
  JOBS_POLL_INTERVAL_MS: Type.Integer({ minimum: 10, maximum: 600_000, default: 2000 }),
  JOBS_LEASE_MS: Type.Integer({ minimum: 300, maximum: 3_600_000, default: 60_000 }),
  JOBS_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
  JOBS_RETRY_BASE_MS: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 1000 }),
  WEBHOOKS_ALLOW_PRIVATE_URLS: Type.Boolean({ default: false }),
  WEBHOOKS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 30_000, default: 10_000 }),
  WEBHOOKS_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 30, default: 10 }),
  WEBHOOKS_RETRY_BASE_MS: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 15_000 }),
  WEBHOOKS_MAX_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
  BODY_LIMIT: Type.Integer({ minimum: 1024, maximum: 100 * 1024 * 1024, default: 1024 * 1024 }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 300 }),
  AUTH_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 10 }),
  LOGIN_FAILURES_MAX: Type.Integer({ minimum: 1, default: 10 }),
  TRUST_PROXY: Type.String({ pattern: '^(true|false|[0-9]+|[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*)$', default: 'false', description: 'true, false, a number of hops, or addresses/CIDRs separated by commas' }),
  // Unset: SHUTDOWN_DEFAULTS of NODE_ENV.
  SHUTDOWN_DELAY_MS: Type.Optional(Type.Integer({ minimum: 0, maximum: 120_000 })),
  SHUTDOWN_TIMEOUT_MS: Type.Optional(Type.Integer({ minimum: 1000, maximum: 600_000 })),
  KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ minimum: 1000, maximum: 600_000, default: 5000 }),
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 })
})
export type Environment = Static<typeof EnvironmentSchema>

const Env = EnvironmentSchema.properties
/** A setting that may be unset: its key is always there, its value may be undefined. */
const Maybe = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Undefined()])
/** A variable the environment may leave out but loadConfig always gives a value (a default that depends on NODE_ENV). */
const Given = <T extends TSchema>(schema: T) => Type.Optional(schema, false)
const Seconds = Type.Integer({ minimum: 1 })

/** What loadConfig makes of the environment, the only settings the app reads: a variable read as it is keeps its schema. */
export const ConfigSchema = Type.Object({
  env: Env.NODE_ENV,
  host: Env.HOST,
  port: Env.PORT,
  logLevel: Env.LOG_LEVEL,
  observability: Type.Object({
    /** GET /metrics, open or (with a token) behind `Authorization: Bearer <token>`. */
    metrics: Type.Object({
      enabled: Env.METRICS_ENABLED,
      token: Maybe(Env.METRICS_TOKEN),
      /** The public listener serves it: not in production without a token, nor when it has a listener of its own. */
      onPublicListener: Type.Boolean(),
      /** METRICS_PORT: a listener of its own that serves GET /metrics only. */
      listener: Maybe(Type.Object({ host: Env.METRICS_HOST, port: Type.Integer({ minimum: 0, maximum: 65535 }) }))
    }),
    /** Unset endpoint: no spans (a caller's traceparent still reaches the logs). */
    tracing: Type.Object({ endpoint: Maybe(Env.OTEL_EXPORTER_OTLP_ENDPOINT), serviceName: Env.OTEL_SERVICE_NAME })
  }),
  database: Type.Object({
    /** Unset: an embedded PostgreSQL is started under dataDir. */
    url: Maybe(Env.DATABASE_URL),
    dataDir: Env.DATA_DIR,
    embeddedPort: Maybe(Env.EMBEDDED_PG_PORT),
    poolMax: Env.DB_POOL_MAX,
    statementTimeoutMs: Env.DB_STATEMENT_TIMEOUT_MS
  }),
  auth: Type.Object({
    jwtSecret: Type.String({ minLength: 32 }),
    accessTokenTtlSeconds: Seconds,
    refreshTokenTtlSeconds: Seconds,
    /** A login's refresh tokens stop working this long after the login, however often they rotate. */
    refreshTokenMaxAgeSeconds: Seconds,
    /** How long an instance believes a personal access token lookup before asking the database again (0: never cached). */
    personalAccessTokenCacheTtlMs: Env.PAT_CACHE_TTL_MS,
    argon2: Type.Object({ memoryCost: Env.ARGON2_MEMORY_KIB, timeCost: Env.ARGON2_TIME_COST, parallelism: Env.ARGON2_PARALLELISM })
  }),
  corsOrigins: Type.Array(Type.String()),
  redisUrl: Maybe(Env.REDIS_URL),
  mail: Type.Object({ smtpUrl: Maybe(Env.SMTP_URL), from: Env.MAIL_FROM }),
  jobs: Type.Object({
    /** 0: this instance enqueues but runs no worker. */
    concurrency: Env.JOBS_CONCURRENCY,
    /** Jobs claimed ahead of a free slot (0: none): a throughput setting for many short jobs. */
    prefetch: Env.JOBS_PREFETCH,
    pollIntervalMs: Env.JOBS_POLL_INTERVAL_MS,
    leaseMs: Env.JOBS_LEASE_MS,
    maxAttempts: Env.JOBS_MAX_ATTEMPTS,
    retryBaseMs: Env.JOBS_RETRY_BASE_MS
  }),
  webhooks: Type.Object({
    /** Lifts the https-only and address rules (loopback, private, link-local, ...); cloud metadata addresses stay refused. */
    allowPrivateUrls: Env.WEBHOOKS_ALLOW_PRIVATE_URLS,
    /** An attempt not answered (status and body) within this is a failure. */
    timeoutMs: Env.WEBHOOKS_TIMEOUT_MS,
    /** Attempts of one delivery, the first included, before it is failed. */
    maxAttempts: Env.WEBHOOKS_MAX_ATTEMPTS,
    /** The wait after the first failed attempt; each next one is 4 times longer, up to 6 hours (services/webhooks/retry.ts). */
    retryBaseMs: Env.WEBHOOKS_RETRY_BASE_MS,
    /** Attempts one webhook may have in flight at once, over all instances. */
    maxInFlight: Env.WEBHOOKS_MAX_IN_FLIGHT
  }),
  /** A request not answered by then gets a 503 problem, whatever it still waits for. */
  requestTimeoutMs: Env.REQUEST_TIMEOUT_MS,
  bodyLimit: Env.BODY_LIMIT,
  /** loginFailuresMax: failed logins per client address and email in 15 minutes (plugins/rate-limits.ts has the whole model). */
  rateLimit: Type.Object({ max: Env.RATE_LIMIT_MAX, authMax: Env.AUTH_RATE_LIMIT_MAX, loginFailuresMax: Env.LOGIN_FAILURES_MAX }),
  /** Fastify's trustProxy: whether X-Forwarded-* from a proxy in front is believed (true, a number of hops, or addresses/CIDRs). */
  trustProxy: Type.Union([Type.Boolean(), Type.Integer({ minimum: 0 }), Type.Array(Type.String())]),
  shutdown: Type.Object({
    /** Readiness fails this long before the server stops accepting, so a load balancer can take the instance out first. */
    delayMs: Given(Env.SHUTDOWN_DELAY_MS),
    /** After this, a shutdown that has not finished is forced. */
    timeoutMs: Given(Env.SHUTDOWN_TIMEOUT_MS)
  }),
  /** How long an idle kept-alive connection stays open; clients are told (Keep-Alive: timeout=…) and close it first. */
  keepAliveTimeoutMs: Env.KEEP_ALIVE_TIMEOUT_MS,
  /** Above this event-loop delay the process sheds load with 503 (0: never). */
  maxEventLoopDelayMs: Env.MAX_EVENT_LOOP_DELAY_MS,
  /** Things worth a log line once the logger exists (e.g. a generated secret). */
  warnings: Type.Array(Type.String())
})
export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

const MIN_SECRET_LENGTH = 32
const MAKE_A_SECRET = 'make one with `openssl rand -base64 48`'
/** Secrets this repository has published (compose file, tests, scripts): anyone can sign tokens with them. */
const PUBLISHED_SECRETS = [
  'local-only-jwt-secret-not-for-any-real-deployment',
  'test-secret-that-is-long-enough-for-hs256-0123456789',
  'openapi-rendering-needs-no-real-secret'
]
// A config error is printed and logged: these never appear in it, and URLs show no password.
const SECRET_VARIABLES = new Set(['JWT_SECRET', 'METRICS_TOKEN'])
const URL_VARIABLES = new Set(['DATABASE_URL', 'DB_URL', 'REDIS_URL', 'SMTP_URL'])

/**
 * Production waits 5 s after SIGTERM before it stops accepting, so that a load balancer checking /health/ready
 * every second or two has taken the instance out by then, and gives up 15 s after the signal; anywhere else
 * (a developer's Ctrl-C) it closes at once.
 */
export const SHUTDOWN_DEFAULTS = {
  production: { delayMs: 5000, timeoutMs: 15_000 },
  other: { delayMs: 0, timeoutMs: 10_000 }
} as const
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const

export function parseDurationSeconds (value: string): number {
  const unit = value.at(-1)
  if (unit !== undefined && unit in UNIT_SECONDS) {
    return Number(value.slice(0, -1)) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS]
  }
  return Number(value)
}

/** What the checks of loadConfig find beside the values: reasons to refuse the environment, and things worth a log line. */
interface Findings {
  problems: string[]
  warnings: string[]
}

/** Reads and checks the environment once; throws ConfigError naming every bad variable. */
export function loadConfig (source: NodeJS.ProcessEnv = process.env): Config {
  const env = readEnvironment(source)
  const findings: Findings = { problems: [], warnings: [] }
  const tokenLifetimes = checkTokenLifetimes(env, findings)
  checkDatabaseUrls(env, findings)
  checkArgon2(env, findings)
  const shutdown = shutdownSettings(env, findings)
  const jwtSecret = jwtSecretOf(env, findings)
  const metrics = metricsSettings(env, findings)
  checkTrustProxy(env, findings)
  checkWebhooks(env, findings)
  if (findings.problems.length > 0 || jwtSecret === undefined) throw new ConfigError(findings.problems)
  return assembleConfig(env, { ...tokenLifetimes, jwtSecret, shutdown, metrics, warnings: findings.warnings })
}

/** The variables taskforge knows, defaulted and converted, or a ConfigError naming each one that does not fit its schema. */
function readEnvironment (source: NodeJS.ProcessEnv): Environment {
  const known = Object.keys(EnvironmentSchema.properties)
  // Empty strings mean "unset", as in most .env conventions.
  const raw = Object.fromEntries(known.flatMap((key) => {
    const value = source[key]
    return value === undefined || value === '' ? [] : [[key, value]]
  }))

  const candidate = Value.Convert(EnvironmentSchema, Value.Default(EnvironmentSchema, raw))
  const problems = [...Value.Errors(EnvironmentSchema, candidate)].map((error) => {
    const name = error.path.slice(1)
    return `${name}: ${describeExpectation(error.schema, error.message)} (got ${JSON.stringify(shownValue(name, raw[name]))})`
  })
  if (problems.length > 0) throw new ConfigError(dedupe(problems))
  return candidate as Environment
}

function checkTokenLifetimes (env: Environment, { problems }: Findings) {
  const accessTokenTtlSeconds = parseDurationSeconds(env.ACCESS_TOKEN_TTL)
  const refreshTokenTtlSeconds = parseDurationSeconds(env.REFRESH_TOKEN_TTL)
  if (accessTokenTtlSeconds < 1) problems.push('ACCESS_TOKEN_TTL: must be at least 1 second')
  if (refreshTokenTtlSeconds <= accessTokenTtlSeconds) problems.push('REFRESH_TOKEN_TTL: must be longer than ACCESS_TOKEN_TTL')
  const refreshTokenMaxAgeSeconds = parseDurationSeconds(env.REFRESH_TOKEN_MAX_AGE)
  if (refreshTokenMaxAgeSeconds < refreshTokenTtlSeconds) problems.push('REFRESH_TOKEN_MAX_AGE: must be at least REFRESH_TOKEN_TTL')
  return { accessTokenTtlSeconds, refreshTokenTtlSeconds, refreshTokenMaxAgeSeconds }
}

function checkDatabaseUrls (env: Environment, { problems }: Findings): void {
  if (env.DATABASE_URL !== undefined && env.DB_URL !== undefined && env.DATABASE_URL !== env.DB_URL) {
    problems.push('DB_URL: is an alias of DATABASE_URL; set one of them, not two different values')
  }
}

function checkArgon2 (env: Environment, { problems }: Findings): void {
  if (env.NODE_ENV === 'production' && (env.ARGON2_MEMORY_KIB < OWASP_ARGON2_MEMORY_KIB || env.ARGON2_TIME_COST < OWASP_ARGON2_TIME_COST)) {
    problems.push(`ARGON2_MEMORY_KIB, ARGON2_TIME_COST: below OWASP's minimum for argon2id (${OWASP_ARGON2_MEMORY_KIB} KiB, ${OWASP_ARGON2_TIME_COST} passes) in production`)
  }
}

function shutdownSettings (env: Environment, { problems }: Findings): Config['shutdown'] {
  const shutdownDefaults = env.NODE_ENV === 'production' ? SHUTDOWN_DEFAULTS.production : SHUTDOWN_DEFAULTS.other
  const shutdown = {
    delayMs: env.SHUTDOWN_DELAY_MS ?? shutdownDefaults.delayMs,
    timeoutMs: env.SHUTDOWN_TIMEOUT_MS ?? shutdownDefaults.timeoutMs
  }
  if (shutdown.delayMs >= shutdown.timeoutMs) {
    problems.push(`SHUTDOWN_DELAY_MS: must be shorter than SHUTDOWN_TIMEOUT_MS (${shutdown.delayMs} ms, ${shutdown.timeoutMs} ms), or the forced exit comes before the server has closed`)
  }
  return shutdown
}

/** The secret access tokens are signed with: JWT_SECRET, or outside production a random one when it is missing or short. */
function jwtSecretOf (env: Environment, { problems, warnings }: Findings): string | undefined {
  const jwtSecret = env.JWT_SECRET
  if (jwtSecret === undefined || jwtSecret.length < MIN_SECRET_LENGTH) {
    if (env.NODE_ENV === 'production') {
      problems.push(`JWT_SECRET: must be set to at least ${MIN_SECRET_LENGTH} characters in production (e.g. \`openssl rand -base64 48\`)`)
      return undefined
    }
    warnings.push(`JWT_SECRET is ${env.JWT_SECRET === undefined ? 'not set' : 'too short'}: using a random one for this process; tokens will not survive a restart`)
    return randomBytes(48).toString('base64url')
  }
  const weakness = secretWeakness(jwtSecret)
  if (weakness !== undefined && env.NODE_ENV === 'production') problems.push(`JWT_SECRET: ${weakness}; production needs a secret of your own: ${MAKE_A_SECRET}`)
  else if (weakness !== undefined) warnings.push(`JWT_SECRET ${weakness}: production would refuse it (${MAKE_A_SECRET})`)
  return jwtSecret
}

function metricsSettings (env: Environment, { problems, warnings }: Findings): Config['observability']['metrics'] {
  const listener = env.METRICS_PORT === undefined ? undefined : { host: env.METRICS_HOST, port: env.METRICS_PORT }
  if (listener !== undefined && listener.port !== 0 && listener.port === env.PORT) {
    problems.push('METRICS_PORT: must differ from PORT (the metrics listener is a server of its own)')
  }
  // Its counts (sign-ups, failed logins) and its query per scrape are not for anyone who asks:
  // in production the public listener wants the token.
  const onPublicListener = env.METRICS_ENABLED && listener === undefined && (env.NODE_ENV !== 'production' || env.METRICS_TOKEN !== undefined)
  if (env.METRICS_ENABLED && listener === undefined && !onPublicListener) {
    warnings.push('GET /metrics is not served: in production set METRICS_TOKEN (scrapers send Authorization: Bearer <token>) or METRICS_PORT (a listener of its own, on METRICS_HOST, 127.0.0.1 by default); METRICS_ENABLED=false if you want no metrics')
  }
  return { enabled: env.METRICS_ENABLED, token: env.METRICS_TOKEN, onPublicListener, listener: env.METRICS_ENABLED ? listener : undefined }
}

function checkTrustProxy (env: Environment, { problems, warnings }: Findings): void {
  problems.push(...trustProxyProblems(env.TRUST_PROXY))
  if (env.TRUST_PROXY === 'true') {
    const advice = 'set the number of proxies in front of the app (TRUST_PROXY=1 behind one load balancer) or their addresses/CIDRs (e.g. TRUST_PROXY=10.0.0.0/8)'
    if (env.NODE_ENV === 'production') problems.push(`TRUST_PROXY: true believes any X-Forwarded-For, so a client could choose its own address and rate-limit budget; in production ${advice}`)
    else warnings.push(`TRUST_PROXY=true believes any X-Forwarded-For, so a client can choose its own address and rate-limit budget; production refuses it: ${advice}`)
  }
}

function checkWebhooks (env: Environment, { warnings }: Findings): void {
  if (env.WEBHOOKS_ALLOW_PRIVATE_URLS && env.NODE_ENV === 'production') {
    warnings.push('WEBHOOKS_ALLOW_PRIVATE_URLS=true: webhook URLs may be http:// and may reach loopback, private, link-local and other internal addresses, so any user can make this server send requests into its network; cloud metadata addresses stay refused. Leave it unset unless your receivers live on a private network of your own')
  }
}

/** What the checks worked out, beside the variables read as they are. */
interface Derived extends Pick<Config, 'shutdown' | 'warnings'>,
  Pick<Config['auth'], 'jwtSecret' | 'accessTokenTtlSeconds' | 'refreshTokenTtlSeconds' | 'refreshTokenMaxAgeSeconds'> {
  metrics: Config['observability']['metrics']
}

function assembleConfig (env: Environment, derived: Derived): Config {
  return {
    env: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    observability: {
      metrics: derived.metrics,
      tracing: { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: env.OTEL_SERVICE_NAME }
    },
    database: {
      url: env.DATABASE_URL ?? env.DB_URL,
      dataDir: env.DATA_DIR,
      embeddedPort: env.EMBEDDED_PG_PORT,
      poolMax: env.DB_POOL_MAX,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS
    },
    auth: {
      jwtSecret: derived.jwtSecret,
      accessTokenTtlSeconds: derived.accessTokenTtlSeconds,
      refreshTokenTtlSeconds: derived.refreshTokenTtlSeconds,
      refreshTokenMaxAgeSeconds: derived.refreshTokenMaxAgeSeconds,
      personalAccessTokenCacheTtlMs: env.PAT_CACHE_TTL_MS,
      argon2: { memoryCost: env.ARGON2_MEMORY_KIB, timeCost: env.ARGON2_TIME_COST, parallelism: env.ARGON2_PARALLELISM }
    },
    corsOrigins: env.CORS_ORIGINS.split(',').map((origin) => origin.trim()).filter((origin) => origin !== ''),
    redisUrl: env.REDIS_URL,
    mail: { smtpUrl: env.SMTP_URL, from: env.MAIL_FROM },
    jobs: {
      concurrency: env.JOBS_CONCURRENCY,
      prefetch: env.JOBS_PREFETCH,
      pollIntervalMs: env.JOBS_POLL_INTERVAL_MS,
      leaseMs: env.JOBS_LEASE_MS,
      maxAttempts: env.JOBS_MAX_ATTEMPTS,
      retryBaseMs: env.JOBS_RETRY_BASE_MS
    },
    webhooks: {
      allowPrivateUrls: env.WEBHOOKS_ALLOW_PRIVATE_URLS,
      timeoutMs: env.WEBHOOKS_TIMEOUT_MS,
      maxAttempts: env.WEBHOOKS_MAX_ATTEMPTS,
      retryBaseMs: env.WEBHOOKS_RETRY_BASE_MS,
      maxInFlight: env.WEBHOOKS_MAX_IN_FLIGHT
    },
    requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
    bodyLimit: env.BODY_LIMIT,
    rateLimit: { max: env.RATE_LIMIT_MAX, authMax: env.AUTH_RATE_LIMIT_MAX, loginFailuresMax: env.LOGIN_FAILURES_MAX },
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    shutdown: derived.shutdown,
    keepAliveTimeoutMs: env.KEEP_ALIVE_TIMEOUT_MS,
    maxEventLoopDelayMs: env.MAX_EVENT_LOOP_DELAY_MS,
    warnings: derived.warnings
  }
}

function parseTrustProxy (value: string): Config['trustProxy'] {
  if (value === 'true' || value === 'false') return value === 'true'
  if (/^[0-9]+$/.test(value)) return Number(value)
  return value.split(',')
}

/** Each entry of an address list is an IP address or a CIDR (the pattern lets through things like 1.2.3 or ::/999). */
function trustProxyProblems (value: string): string[] {
  const list = parseTrustProxy(value)
  if (!Array.isArray(list)) return []
  return list.flatMap((entry) => {
    const [address = '', prefix, ...rest] = entry.split('/')
    const version = isIP(address)
    const prefixOk = prefix === undefined || (/^[0-9]{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128))
    return version !== 0 && prefixOk && rest.length === 0 ? [] : [`TRUST_PROXY: ${JSON.stringify(entry)} is not an IP address or a CIDR`]
  })
}

/** Why a JWT_SECRET of a good length is still no secret, or undefined. Never says the secret itself. */
function secretWeakness (secret: string): string | undefined {
  const lowered = secret.toLowerCase()
  if (PUBLISHED_SECRETS.some((published) => lowered.includes(published))) return 'is an example value published with taskforge'
  const bits = estimateSecretBits(secret)
  if (bits < MIN_SECRET_BITS) {
    return `is guessable: about ${Math.floor(bits)} bits of entropy by estimate, less than ${MIN_SECRET_BITS} (repeats, runs like aaaa or 1234, or few distinct characters)`
  }
  return undefined
}

/** A value as a config error may show it: secrets as ***, URLs without their password. */
function shownValue (name: string, value: unknown): unknown {
  if (typeof value !== 'string') return value ?? null
  if (SECRET_VARIABLES.has(name)) return '***'
  if (URL_VARIABLES.has(name)) return maskUrlPassword(value)
  return value
}

/** scheme://user:password@host → scheme://user:***@host; also a password= query parameter. Works on values that are not valid URLs too. */
function maskUrlPassword (value: string): string {
  let masked = value.replace(/([?&]password=)[^&#]*/gi, '$1***')
  const schemeEnd = masked.indexOf('://')
  const afterScheme = schemeEnd === -1 ? 0 : schemeEnd + 3
  const at = masked.lastIndexOf('@')
  if (at >= afterScheme) {
    const userinfo = masked.slice(afterScheme, at)
    const colon = userinfo.indexOf(':')
    // No colon: the whole userinfo may be a token (some services put the key there).
    const shown = colon === -1 ? '***' : `${userinfo.slice(0, colon)}:***`
    masked = masked.slice(0, afterScheme) + shown + masked.slice(at)
  }
  return masked
}

function describeExpectation (schema: TSchema, fallback: string): string {
  if (Array.isArray(schema.anyOf)) {
    const choices = (schema.anyOf as TSchema[]).map((option) => String(option.const))
    return `must be one of ${choices.join(', ')}`
  }
  if (typeof schema.pattern === 'string' && typeof schema.description === 'string') {
    return `must be ${schema.description}`
  }
  return fallback
}

function dedupe (items: string[]): string[] {
  return [...new Set(items)]
}
