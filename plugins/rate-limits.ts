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
 * A limiter of its own as a route hook. The plugin's per-route limits stop
 * at the first limiter that ran for a request and keep a counter per route;
 * these share one counter across the routes that use them, and stack.
 */
function limiterHook (app: FastifyInstance, scope: string, options: CreateRateLimitOptions): RateLimitHook {
  const limiter = app.createRateLimit({ ...options, timeWindow: WINDOW_MS, skipOnError: true })
  return async (request, reply) => {
    const result = await limiter(request)
    if (result.isAllowed) return
    reply.header('RateLimit-Limit', result.max).header('RateLimit-Remaining', result.remaining).header('RateLimit-Reset', result.ttlInSeconds)
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
  // Before the route's own authentication runs: a valid access token names the user, anything else counts against the IP.
  const byUserOrIp = (request: FastifyRequest) => {
    const userId = app.bearerUserId(request)
    // an invalid token is refused later, by the route; until then it counts against the IP
    return userId === undefined ? byIp(request) : `user:${userId}`
  }
  const exceeded = (scope: string) => (request: FastifyRequest, key: string) => {
    request.log.warn({ rateLimit: scope, key: key.startsWith('user:') || key.startsWith('ip:') ? key : '[email]' }, 'rate limit hit')
  }

  await app.register(rateLimit, {
    global: true,
    max,
    timeWindow: WINDOW_MS,
    keyGenerator: byUserOrIp,
    ...(redis === undefined ? {} : { redis }),
    nameSpace: 'taskforge-rate-limit:',
    // Availability over strictness: if Redis is down, requests go through (and it is logged).
    skipOnError: true,
    enableDraftSpec: true,
    errorResponseBuilder: (_request, context) => new TooManyRequestsError(`Too many requests: at most ${context.max} a minute. Retry after ${context.after}.`),
    onExceeded: exceeded('global')
  })

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

  // API.md promises both header families: the IETF draft's RateLimit-* and the older X-RateLimit-*.
  app.addHook('onSend', (_request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
    for (const name of ['limit', 'remaining', 'reset']) {
      const value = reply.getHeader(`ratelimit-${name}`)
      if (value !== undefined) reply.header(`x-ratelimit-${name}`, value)
    }
    done(null, payload)
  })
}, { name: 'rate-limits', dependencies: ['config', 'services', 'auth'] })
