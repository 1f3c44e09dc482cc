import rateLimit, { type CreateRateLimitOptions } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { TooManyRequestsError } from '../errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    rateLimits: {
      /** onRequest hook of the credential routes: AUTH_RATE_LIMIT_MAX a minute per client IP, one budget for all of them. */
      credentials: RateLimitHook
      /** preHandler of login: AUTH_RATE_LIMIT_MAX attempts a minute per email tried, from whatever address. */
      perLoginEmail: RateLimitHook
    }
  }
}

const WINDOW_MS = 60_000

type RateLimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/**
 * A limiter of its own as a hook. The plugin's own global and per-route
 * limits run after the hooks of the route's plugin (so a 401 from
 * authentication was never counted), stop at the first limiter that ran for
 * a request and keep a counter per route; these run where they are added,
 * share one counter across the routes that use them, and stack: the last to
 * run (the strictest, on the credential routes) sets the headers.
 */
function limiterHook (app: FastifyInstance, scope: string, options: CreateRateLimitOptions): RateLimitHook {
  const limiter = app.createRateLimit({ ...options, timeWindow: WINDOW_MS, skipOnError: true })
  return async (request, reply) => {
    const result = await limiter(request)
    if (result.isAllowed) return
    // API.md promises both header families: the IETF draft's RateLimit-* and the older X-RateLimit-*.
    reply.headers({
      'RateLimit-Limit': result.max,
      'RateLimit-Remaining': result.remaining,
      'RateLimit-Reset': result.ttlInSeconds,
      'X-RateLimit-Limit': result.max,
      'X-RateLimit-Remaining': result.remaining,
      'X-RateLimit-Reset': result.ttlInSeconds
    })
    if (!result.isExceeded) return
    reply.header('Retry-After', result.ttlInSeconds)
    request.log.warn({ rateLimit: scope }, 'rate limit hit')
    throw new TooManyRequestsError(`Too many requests: at most ${result.max} a minute. Retry after ${result.ttlInSeconds} seconds.`)
  }
}

/**
 * Rate limits: RATE_LIMIT_MAX requests a minute per user (per IP before
 * login) on every route, and far fewer on the credential routes. Counters
 * live in Redis when REDIS_URL is set, so every instance behind a load
 * balancer counts against the same budget; in memory otherwise.
 */
export default fp(async (app) => {
  const { max, authMax } = app.config.rateLimit
  const redis = app.config.redisUrl === undefined
    ? undefined
    : new Redis(app.config.redisUrl, { connectTimeout: 2000, maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false })
  if (redis !== undefined) {
    redis.on('error', (error: Error) => { app.log.warn({ err: error }, 'redis for rate limits is unreachable; requests pass unlimited meanwhile') })
    app.addHook('onClose', (_instance, done) => {
      redis.disconnect()
      done()
    })
  }
  app.log.info(`rate limits: counted ${redis === undefined ? 'in memory (set REDIS_URL to share them between instances)' : 'in Redis'}`)

  const byIp = (request: FastifyRequest) => `ip:${request.ip}`
  // Before the route's own authentication runs: a valid access token names the user; no token or a bad one (refused later, by the route) counts against the IP.
  const byUserOrIp = (request: FastifyRequest) => {
    const userId = app.bearerUserId(request)
    return userId === undefined ? byIp(request) : `user:${userId}`
  }
  // The plugin supplies the counters (in Redis or in memory); the limits are our hooks.
  await app.register(rateLimit, {
    global: false,
    ...(redis === undefined ? {} : { redis }),
    nameSpace: 'taskforge-rate-limit:',
    // Availability over strictness: if Redis is down, requests go through (and it is logged).
    skipOnError: true
  })
  // On the root: before any route's own hooks, so that requests refused by authentication count too.
  app.addHook('onRequest', limiterHook(app, 'global', { max, keyGenerator: byUserOrIp }))

  app.decorate('rateLimits', {
    credentials: limiterHook(app, 'credentials', { max: authMax, keyGenerator: (request) => `credentials:${byIp(request)}` }),
    perLoginEmail: limiterHook(app, 'login-email', {
      max: authMax,
      keyGenerator: (request) => {
        const email = (request.body as { email?: unknown } | undefined)?.email
        return `login-email:${typeof email === 'string' ? email.trim().toLowerCase() : ''}`
      }
    })
  })
}, { name: 'rate-limits', dependencies: ['config', 'services', 'auth'] })
