import fastifyJwt from '@fastify/jwt'
import type { FastifyBaseLogger, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { createRefreshTokensRepository } from '../db/auth/refresh-tokens-repository.js'
import { createUsersRepository } from '../db/auth/users-repository.js'
import { unitOfWork } from '../db/transaction.js'
import { UnauthorizedError } from '../errors.js'
import { tracedService } from '../observability/tracing.js'
import { accessTokenJwtOptions, createAccessTokens, type AccessTokenClaims, type AccessTokens } from '../services/auth/access-tokens.js'
import { createPasswordHasher } from '../services/auth/passwords.js'
import { createRefreshTokens, type RefreshTokens } from '../services/auth/refresh-tokens.js'
import { createUsersService, type UsersService } from '../services/auth/users.js'
import { systemClock, type Clock } from '../services/clock.js'

export interface AuthenticatedUser {
  id: string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The auth concern's services: accounts and passwords, access tokens, refresh tokens. */
    auth: {
      users: UsersService
      accessTokens: AccessTokens
      refreshTokens: RefreshTokens
    }
    /** onRequest hook for routes that need a Bearer access token; sets request.user. */
    authenticate: onRequestHookHandler
    /** The user a request's valid access token names, else undefined; verified once per request, whoever asks first. */
    bearerUserId: (request: FastifyRequest) => string | undefined
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    /** What app.jwt signs: an access token's claims. */
    payload: AccessTokenClaims
    /** request.user: set by app.authenticate; only read it in routes that use that hook. */
    user: AuthenticatedUser
  }
}

export interface AuthPluginOptions {
  /** The time tokens are issued and judged at; tests move it. */
  clock?: Clock
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/

// A reason, not an error: building an Error (and its stack) on every request without a token is measurable.
type Verification = { userId: string } | { refused: string }

/** pino's loggers can add bindings in place; a custom logger may not, and gets a child instead. */
function bindUserId (request: FastifyRequest, userId: string): void {
  const log = request.log as FastifyBaseLogger & { setBindings?: (bindings: Record<string, unknown>) => void }
  if (typeof log.setBindings === 'function') log.setBindings({ userId })
  else request.log = log.child({ userId })
}

/**
 * Accounts and the credentials that prove them: decorates app.auth (the
 * users, access-token and refresh-token services), app.jwt (@fastify/jwt,
 * which signs and verifies access tokens), app.authenticate (routes opt in
 * with `onRequest: app.authenticate`) and app.bearerUserId. A registration
 * queues the welcome email in its own transaction, through the jobs plugin.
 */
export default fp<AuthPluginOptions>(async (app, { clock = systemClock }) => {
  const settings = app.config.auth
  const { tracer, log } = app.observability
  await app.register(fastifyJwt, accessTokenJwtOptions(settings.jwtSecret, settings.accessTokenTtlSeconds))
  const inTransaction = unitOfWork(app.sql, (tx) => ({
    users: createUsersRepository(tx),
    refreshTokens: createRefreshTokensRepository(tx),
    jobs: app.jobs.within(tx)
  }))
  const accessTokens = createAccessTokens({ jwt: app.jwt, ttlSeconds: settings.accessTokenTtlSeconds, clock })
  app.decorate('auth', {
    users: tracedService(tracer, 'users', createUsersService({
      users: createUsersRepository(app.sql),
      inTransaction,
      passwords: createPasswordHasher(settings.argon2),
      log
    })),
    // Signing and checking a JWT takes microseconds, less than a span of its own would: not traced.
    accessTokens,
    refreshTokens: tracedService(tracer, 'refreshTokens', createRefreshTokens({
      inTransaction,
      ttlSeconds: settings.refreshTokenTtlSeconds,
      maxAgeSeconds: settings.refreshTokenMaxAgeSeconds,
      clock,
      log
    }))
  })

  // The rate limiter reads the token before the route authenticates: one HMAC check serves both.
  const verifications = new WeakMap<FastifyRequest, Verification>()
  const verify = (request: FastifyRequest): Verification => {
    const header = request.headers.authorization
    if (header === undefined) return { refused: 'This route needs an access token: send Authorization: Bearer <token>' }
    const token = BEARER.exec(header)?.[1]
    if (token === undefined) return { refused: 'The Authorization header must be "Bearer <token>"' }
    let verification = verifications.get(request)
    if (verification === undefined) {
      try {
        verification = { userId: accessTokens.verify(token).userId }
      } catch (error) {
        if (!(error instanceof UnauthorizedError)) throw error
        verification = { refused: error.message }
      }
      verifications.set(request, verification)
    }
    return verification
  }
  app.decorate('bearerUserId', (request: FastifyRequest) => {
    const verification = verify(request)
    return 'userId' in verification ? verification.userId : undefined
  })
  app.decorate('authenticate', (request, _reply, next) => {
    try {
      const verification = verify(request)
      if ('refused' in verification) {
        next(new UnauthorizedError(verification.refused))
        return
      }
      request.user = { id: verification.userId }
      bindUserId(request, verification.userId)
      next()
    } catch (error) {
      next(error as Error)
    }
  })
}, { name: 'auth', dependencies: ['config', 'observability', 'db', 'jobs'] })
