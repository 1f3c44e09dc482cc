import { createHash } from 'node:crypto'
import { once } from 'node:events'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible'
import { TooManyRequestsError } from '../errors.js'
import type { AppMetrics } from '../observability/metrics.js'
import { normalizeEmail } from '../services/auth/users.js'

declare module 'fastify' {
  interface FastifyInstance {
    rateLimits: {
      /** onRequest hook of the credential routes: AUTH_RATE_LIMIT_MAX requests a minute per client address, one budget for all of them. */
      credentials: onRequestHookHandler
      /**
       * The login route's failure budgets: `check` (preHandler) before the password is tried,
       * `settle` (onSend) once the answer is known.
       */
      loginFailures: { check: RateLimitHook; settle: (request: FastifyRequest, reply: FastifyReply, payload: unknown) => Promise<unknown> }
    }
  }
}

type RateLimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/** The limiters, as logs and the taskforge_rate_limit_store_errors_total metric name them. */
type LimiterName = 'global' | 'credentials' | 'login_failures_address_email' | 'login_failures_email'

const MINUTE_SECONDS = 60
const LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
/**
 * An email is under attack once it has had this many times LOGIN_FAILURES_MAX
 * failures in the window, from any addresses: more than one address may make
 * on its own, so the guesses come from several.
 */
const EMAIL_FAILURES_FACTOR = 2
const REDIS_PREFIX = 'taskforge-rate-limit'

/** A key's count in its window, as rate-limiter-flexible's RateLimiterRes tells it. */
interface Count {
  /** Consumed in this window; above the limit is over it. */
  readonly consumedPoints: number
  readonly remainingPoints: number
  /** Until the window ends. */
  readonly msBeforeNext: number
}

/**
 * Fixed windows in this instance's memory, counted as rate-limiter-flexible's
 * RateLimiterMemory counts them (a window starts at a key's first hit and
 * lasts windowSeconds), but at once: RateLimiterMemory answers every hit
 * with a promise and a result object, and arms a timer for every new key.
 * Here a hit is a Map lookup and an addition, and windows that have ended
 * are dropped by one sweep per window length. The global limit counts every
 * request, so this was some 12 µs of each one (bench/compare.ts --callgrind).
 */
class MemoryWindows {
  readonly #windows = new Map<string, { consumed: number; endsAt: number }>()
  readonly #windowMs: number
  readonly #limit: number
  readonly #sweeper: NodeJS.Timeout

  constructor (limit: number, windowSeconds: number) {
    this.#limit = limit
    this.#windowMs = windowSeconds * 1000
    this.#sweeper = setInterval(() => { this.#sweep() }, this.#windowMs)
    this.#sweeper.unref()
  }

  /** Adds points (one hit, or a penalty; a reward when negative) and tells the count now. */
  add (key: string, points: number): Count {
    const now = Date.now()
    let window = this.#windows.get(key)
    if (window === undefined || window.endsAt <= now) {
      window = { consumed: 0, endsAt: now + this.#windowMs }
      this.#windows.set(key, window)
    }
    window.consumed += points
    return this.#count(window.consumed, window.endsAt - now)
  }

  peek (key: string): Count | null {
    const now = Date.now()
    const window = this.#windows.get(key)
    return window === undefined || window.endsAt <= now ? null : this.#count(window.consumed, window.endsAt - now)
  }

  clear (key: string): void {
    this.#windows.delete(key)
  }

  close (): void {
    clearInterval(this.#sweeper)
  }

  #count (consumed: number, msBeforeNext: number): Count {
    return { consumedPoints: consumed, remainingPoints: Math.max(this.#limit - consumed, 0), msBeforeNext }
  }

  #sweep (): void {
    const now = Date.now()
    for (const [key, window] of this.#windows) {
      if (window.endsAt <= now) this.#windows.delete(key)
    }
  }
}

/** A count per key in fixed windows: in Redis when there is one, in this instance's memory while Redis fails (or when there is none). */
interface Counter {
  readonly name: LimiterName
  readonly limit: number
  /**
   * Adds one and tells the count now: at once when it is counted in memory
   * (no REDIS_URL), which spares every request a promise; later when Redis is asked.
   */
  hit: (key: string) => Count | Promise<Count>
  /** The count, unchanged; null when the key has none in its window. */
  peek: (key: string) => Promise<Count | null>
  /** Adds points (or takes them back, when negative) without judging the result. */
  add: (key: string, points: number) => Promise<void>
  clear: (key: string) => Promise<void>
}

/** Tells, once per outage, that Redis failed and came back; counts every failed operation in the metric. */
function redisHealth (log: FastifyBaseLogger, metrics: AppMetrics) {
  let failing = false
  const errorCounters = new Map<LimiterName, () => void>()
  return {
    watch (limiter: LimiterName): void {
      errorCounters.set(limiter, metrics.rateLimitStoreErrorCounter(limiter))
    },
    failed (limiter: LimiterName, error: unknown): void {
      errorCounters.get(limiter)?.()
      if (failing) return
      failing = true
      log.warn({ err: error }, 'rate limits: Redis failed; counting in this instance\'s memory until it answers again')
    },
    answered (): void {
      if (!failing) return
      failing = false
      log.info('rate limits: Redis answers again; counting there')
    }
  }
}

type RedisHealth = ReturnType<typeof redisHealth>

function createCounter (
  name: LimiterName, limit: number, windowSeconds: number, memory: MemoryWindows, redis?: { client: Redis; health: RedisHealth }
): Counter {
  const shared = redis === undefined
    ? undefined
    : {
        limiter: new RateLimiterRedis({ storeClient: redis.client, keyPrefix: `${REDIS_PREFIX}:${name}`, points: limit, duration: windowSeconds, rejectIfRedisNotReady: true }),
        health: redis.health
      }
  shared?.health.watch(name)

  // Our own fallback rather than the library's insuranceLimiter, which switches silently: each failure is counted and logged.
  const run = async <T>(inRedis: (limiter: RateLimiterRedis) => Promise<T>, inMemory: () => T): Promise<T> => {
    if (shared === undefined) return inMemory()
    try {
      const result = await inRedis(shared.limiter)
      shared.health.answered()
      return result
    } catch (error) {
      shared.health.failed(name, error)
      return inMemory()
    }
  }
  return {
    name,
    limit,
    hit: (key) => shared === undefined
      ? memory.add(key, 1)
      // consume() rejects with the count when it is over the limit; a count is an answer here, not an error.
      : run((limiter) => limiter.consume(key).catch((error: unknown) => {
        if (error instanceof RateLimiterRes) return error
        throw error
      }), () => memory.add(key, 1)),
    peek: (key) => run((limiter) => limiter.get(key), () => memory.peek(key)),
    add: async (key, points) => {
      await run((limiter) => points >= 0 ? limiter.penalty(key, points) : limiter.reward(key, -points), () => memory.add(key, points))
    },
    clear: async (key) => {
      await run(async (limiter) => { await limiter.delete(key) }, () => { memory.clear(key) })
    }
  }
}

const secondsUntil = (milliseconds: number): number => Math.max(1, Math.ceil(milliseconds / 1000))

/**
 * API.md promises both header families: the IETF draft's RateLimit-* and the
 * older X-RateLimit-*. On every answer, so each value is made a string once
 * for both, and the names are given as Fastify keeps them (in lower case).
 */
function setLimitHeaders (reply: FastifyReply, limit: number, remaining: number, resetSeconds: number): void {
  const limitText = String(limit)
  const remainingText = String(remaining)
  const resetText = String(resetSeconds)
  reply
    .header('ratelimit-limit', limitText)
    .header('ratelimit-remaining', remainingText)
    .header('ratelimit-reset', resetText)
    .header('x-ratelimit-limit', limitText)
    .header('x-ratelimit-remaining', remainingText)
    .header('x-ratelimit-reset', resetText)
}

function refuse (
  request: FastifyRequest, reply: FastifyReply, limiter: LimiterName, limit: number, retryAfterSeconds: number, detail: string
): never {
  setLimitHeaders(reply, limit, 0, retryAfterSeconds)
  reply.header('Retry-After', retryAfterSeconds)
  request.log.warn({ rateLimit: limiter }, 'rate limit hit')
  throw new TooManyRequestsError(`${detail} Retry after ${retryAfterSeconds} seconds.`)
}

/**
 * A limit on requests as a hook, counted where it is added: on the root it
 * runs before any route's own hooks (so requests that authentication then
 * refuses count too); hooks stack, and the last to run (the strictest, on
 * the credential routes) sets the headers. A callback hook, not an async
 * one: counted in memory, the request goes on at once, with no promise.
 */
function requestLimit (counter: Counter, keyOf: (request: FastifyRequest) => string): onRequestHookHandler {
  const judge = (request: FastifyRequest, reply: FastifyReply, count: Count): void => {
    const resetSeconds = secondsUntil(count.msBeforeNext)
    setLimitHeaders(reply, counter.limit, count.remainingPoints, resetSeconds)
    if (count.consumedPoints > counter.limit) {
      refuse(request, reply, counter.name, counter.limit, resetSeconds, `Too many requests: at most ${counter.limit} a minute.`)
    }
  }
  return (request, reply, done) => {
    try {
      const count = counter.hit(keyOf(request))
      if (count instanceof Promise) {
        count.then((counted) => {
          judge(request, reply, counted)
          done()
        }).catch(done)
        return
      }
      judge(request, reply, count)
    } catch (error) {
      done(error as Error)
      return
    }
    done()
  }
}

interface LoginKeys {
  addressEmail: string
  email: string
}

/**
 * Failed logins slow down the address that fails, not the account's owner:
 * - per (client address, email): LOGIN_FAILURES_MAX failures in 15 minutes,
 *   then 429 for that pair only;
 * - per email, from any address: past EMAIL_FAILURES_FACTOR times that in
 *   15 minutes the email is under attack, and an address that has failed on
 *   it in its own window waits, while one that has not still gets its try.
 *   Guessing from many addresses then costs about one address per guess.
 * Only failures count: a success clears its pair, and the attempt is
 * reserved up front (and handed back unless it failed) so that concurrent
 * attempts cannot all pass as "no failures yet" (so attempts in flight
 * count as failures until they settle). Keys are the normalised email's
 * digest, the same for an email with an account and one without (which must
 * stay indistinguishable); Redis holds no email addresses.
 */
function loginFailureBudgets (loginFailuresMax: number, counterFor: (name: LimiterName, limit: number, windowSeconds: number) => Counter) {
  const perAddressAndEmail = counterFor('login_failures_address_email', loginFailuresMax, LOGIN_FAILURE_WINDOW_SECONDS)
  const perEmail = counterFor('login_failures_email', loginFailuresMax * EMAIL_FAILURES_FACTOR, LOGIN_FAILURE_WINDOW_SECONDS)
  const inFlight = new WeakMap<FastifyRequest, LoginKeys>()

  const check: RateLimitHook = async (request, reply) => {
    // The route's schema has made it a string by now.
    const { email } = request.body as { email: string }
    const emailKey = createHash('sha256').update(normalizeEmail(email)).digest('base64url')
    const keys = { addressEmail: `${request.ip}:${emailKey}`, email: emailKey }
    const [attempt, emailFailures] = await Promise.all([perAddressAndEmail.hit(keys.addressEmail), perEmail.peek(keys.email)])
    // Attempts still in flight from this address count as failures until they settle.
    const earlierFailures = attempt.consumedPoints - 1
    const underAttack = emailFailures !== null && emailFailures.consumedPoints >= perEmail.limit
    if (earlierFailures < perAddressAndEmail.limit && !(underAttack && earlierFailures > 0)) {
      inFlight.set(request, keys)
      return
    }
    // A refusal is not a failure: retrying while refused adds nothing to the address's count.
    await perAddressAndEmail.add(keys.addressEmail, -1)
    if (earlierFailures >= perAddressAndEmail.limit) {
      refuse(request, reply, perAddressAndEmail.name, perAddressAndEmail.limit, secondsUntil(attempt.msBeforeNext),
        `Too many failed logins for this email from your address: at most ${perAddressAndEmail.limit} in 15 minutes.`)
    }
    const waitMs = Math.min(attempt.msBeforeNext, emailFailures?.msBeforeNext ?? attempt.msBeforeNext)
    refuse(request, reply, perEmail.name, perEmail.limit, secondsUntil(waitMs),
      'This email has had many failed logins recently, and one came from your address.')
  }

  const settle = async (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const keys = inFlight.get(request)
    if (keys === undefined) return payload
    inFlight.delete(request)
    if (reply.statusCode === 401) {
      await perEmail.add(keys.email, 1)
    } else if (reply.statusCode < 400) {
      // The password was right from this address: its earlier failures were typos.
      await perAddressAndEmail.clear(keys.addressEmail)
    } else {
      // No verdict on the password (the database was away, say): not a failure.
      await perAddressAndEmail.add(keys.addressEmail, -1)
    }
    return payload
  }

  return { check, settle }
}

/**
 * Rate limits, on rate-limiter-flexible: RATE_LIMIT_MAX requests a minute
 * per user (per address before login) on every route, AUTH_RATE_LIMIT_MAX a
 * minute per address on the credential routes, and the login failure
 * budgets above. Counters live in Redis when REDIS_URL is set, so every
 * instance behind a load balancer counts against the same budget; in memory
 * otherwise, and while Redis fails (each failure counted in
 * taskforge_rate_limit_store_errors_total): limits then hold per instance
 * rather than not at all.
 */
export default fp(async (app) => {
  const { max, authMax, loginFailuresMax } = app.config.rateLimit
  let redis: { client: Redis; health: RedisHealth } | undefined
  if (app.config.redisUrl !== undefined) {
    // No offline queue, a short command time-out: a request never waits on a Redis that is away, it is counted in memory instead.
    const client = new Redis(app.config.redisUrl, {
      connectTimeout: 2000,
      commandTimeout: 1000,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false
    })
    client.on('error', (error: Error) => { app.log.warn({ err: error }, 'redis for rate limits is unreachable') })
    app.addHook('onClose', (_instance, done) => {
      client.disconnect()
      done()
    })
    // The first connection settles before the first request, so a reachable Redis counts from the start.
    await once(client, 'ready').catch(() => undefined)
    redis = { client, health: redisHealth(app.log, app.observability.metrics) }
  }
  const store = redis === undefined
    ? 'in memory (set REDIS_URL to share them between instances)'
    : redis.client.status === 'ready' ? 'in Redis' : 'in memory until Redis answers'
  app.log.info(`rate limits: counted ${store}`)
  const windows: MemoryWindows[] = []
  app.addHook('onClose', (_instance, done) => {
    for (const memory of windows) memory.close()
    done()
  })
  const counterFor = (name: LimiterName, limit: number, windowSeconds: number) => {
    const memory = new MemoryWindows(limit, windowSeconds)
    windows.push(memory)
    return createCounter(name, limit, windowSeconds, memory, redis)
  }

  const byIp = (request: FastifyRequest) => `ip:${request.ip}`
  // Before the route's own authentication runs: a valid access token names the user;
  // no token or a bad one (refused later, by the route) counts against the IP.
  const byUserOrIp = (request: FastifyRequest) => {
    const userId = app.bearerUserId(request)
    return userId === undefined ? byIp(request) : `user:${userId}`
  }
  // On the root: before any route's own hooks, so that requests refused by authentication count too.
  app.addHook('onRequest', requestLimit(counterFor('global', max, MINUTE_SECONDS), byUserOrIp))

  app.decorate('rateLimits', {
    credentials: requestLimit(counterFor('credentials', authMax, MINUTE_SECONDS), byIp),
    loginFailures: loginFailureBudgets(loginFailuresMax, counterFor)
  })
}, { name: 'rate-limits', dependencies: ['config', 'observability', 'auth'] })
