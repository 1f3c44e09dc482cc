import fastifyJwt from '@fastify/jwt'
import type { FastifyBaseLogger, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import {
  createPersonalAccessTokensRepository, PERSONAL_ACCESS_TOKENS_CHANNEL
} from '../db/auth/personal-access-tokens-repository.js'
import { createRefreshTokensRepository } from '../db/auth/refresh-tokens-repository.js'
import { createUsersRepository } from '../db/auth/users-repository.js'
import { unitOfWork } from '../db/transaction.js'
import { InsufficientScopeError, UnauthorizedError } from '../errors.js'
import { tracedService } from '../observability/tracing.js'
import { accessTokenJwtOptions, createAccessTokens, type AccessTokenClaims, type AccessTokens } from '../services/auth/access-tokens.js'
import { createPasswordHasher } from '../services/auth/passwords.js'
import {
  createPersonalAccessTokens, isPersonalAccessToken, type PersonalAccessTokens, type TokenVerdict
} from '../services/auth/personal-access-tokens.js'
import { createRefreshTokens, type RefreshTokens } from '../services/auth/refresh-tokens.js'
import { isRouteScope, ROUTE_SCOPES, type RouteScope } from '../services/auth/scopes.js'
import { createUsersService, type UsersService } from '../services/auth/users.js'
import { systemClock, type Clock } from '../services/clock.js'

export interface AuthenticatedUser {
  id: string
  /** Set when the request came with a personal access token: which one. */
  tokenId?: string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The auth concern's services: accounts and passwords, access tokens, refresh tokens, personal access tokens. */
    auth: {
      users: UsersService
      accessTokens: AccessTokens
      refreshTokens: RefreshTokens
      personalAccessTokens: PersonalAccessTokens
    }
    /**
     * onRequest hook that authenticates a request and checks the route's
     * `config.scope`; sets request.user. Routes get it by declaring a scope:
     * the auth plugin adds it to every route that does.
     */
    authenticate: onRequestHookHandler
    /** The user a request's valid credential names, else undefined; resolved once per request, before the rate limits. */
    bearerUserId: (request: FastifyRequest) => string | undefined
  }
  interface FastifyContextConfig {
    /**
     * What the route needs of a request's credential; leave it out for a
     * public route. The one declaration of a route's access: the auth plugin
     * authenticates every route that has one, checks it, and describes it in
     * the OpenAPI document (`security`).
     */
    scope?: RouteScope
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    /** What app.jwt signs: an access token's claims. */
    payload: AccessTokenClaims
    /** request.user: set by app.authenticate; only read it in routes that declare a scope. */
    user: AuthenticatedUser
  }
}

export interface AuthPluginOptions {
  /** The time tokens are issued and judged at; tests move it. */
  clock?: Clock
}

/**
 * The OpenAPI security schemes: both are `Authorization: Bearer`, told apart
 * by the token's form, so Swagger UI's Authorize takes either.
 */
export const SECURITY_SCHEMES = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A session\'s access token, from POST /auth/login, /auth/register or /auth/refresh. It may do anything its user may.'
  },
  personalAccessToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'tfp_…',
    description: 'A personal access token from POST /auth/tokens (`tfp_…`), for scripts and integrations. It works on the routes its ' +
      'scopes cover (an operation lists the scope it needs; tasks:write implies tasks:read) and on GET /auth/me; elsewhere it gets 403 ' +
      'insufficient_scope. It cannot manage tokens.'
  }
} as const

/** A route's OpenAPI security, from its scope: which credentials it takes, and the scope a personal access token needs. */
function securityFor (scope: RouteScope): Record<string, string[]>[] {
  if (scope === 'session') return [{ bearerAuth: [] }]
  return [{ bearerAuth: [] }, { personalAccessToken: scope === 'any' ? [] : [scope] }]
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/

/** Who a request's credential names: a session's user, or a personal access token's (with what the token may do). */
type Identity =
  | { userId: string; tokenId?: undefined; granted?: undefined }
  | { userId: string; tokenId: string; granted: ReadonlySet<RouteScope> }
// A reason, not an error: building an Error (and its stack) on every request without a token is measurable.
// `failed`: the token could not be looked up (the database is away): not the client's fault, not a 401.
type Resolution = Identity | { refused: string } | { failed: Error }

/** pino's loggers can add bindings in place; a custom logger may not, and gets a child instead. */
function bindIdentity (request: FastifyRequest, identity: Identity): void {
  const bindings = identity.tokenId === undefined ? { userId: identity.userId } : { userId: identity.userId, tokenId: identity.tokenId }
  const log = request.log as FastifyBaseLogger & { setBindings?: (bindings: Record<string, unknown>) => void }
  if (typeof log.setBindings === 'function') log.setBindings(bindings)
  else request.log = log.child(bindings)
}

function fromVerdict (verdict: TokenVerdict): Resolution {
  return 'refused' in verdict ? verdict : { userId: verdict.userId, tokenId: verdict.tokenId, granted: verdict.granted }
}

function routeName (route: Pick<RouteOptions, 'method' | 'url'>): string {
  return `${[route.method].flat().join(',')} ${route.url}`
}

/**
 * Accounts and the credentials that prove them: decorates app.auth (the
 * users, access-token, refresh-token and personal-access-token services),
 * app.jwt (@fastify/jwt, which signs and verifies access tokens),
 * app.authenticate and app.bearerUserId. A registration queues the welcome
 * email in its own transaction, through the jobs plugin.
 *
 * Access is declared per route, in one place: `config: { scope }`. Every
 * route registered after this plugin that declares one is authenticated
 * (app.authenticate, added here) and described in the OpenAPI document
 * accordingly; one that authenticates without declaring a scope is refused at
 * registration, so no route can be open to every token by omission.
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
  // Not traced: verify() runs for every request that carries one (the query of a lookup has its own span).
  const personalAccessTokens = createPersonalAccessTokens({
    tokens: createPersonalAccessTokensRepository(app.sql),
    clock,
    log,
    cacheTtlMs: settings.personalAccessTokenCacheTtlMs
  })
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
    })),
    personalAccessTokens
  })

  // Revocations on other instances: the database tells us (migration 0010's trigger). When the listening
  // connection comes back after a drop, notifications may have been missed: forget every cached lookup.
  try {
    const subscription = await app.sql.listen(PERSONAL_ACCESS_TOKENS_CHANNEL, personalAccessTokens.forget, personalAccessTokens.forgetAll)
    app.addHook('onClose', async () => { await subscription.unlisten().catch(() => undefined) })
  } catch (error) {
    app.log.warn({ err: error }, `personal access tokens: cannot listen for revocations; other instances' revocations reach this one within ${settings.personalAccessTokenCacheTtlMs} ms only`)
  }

  // The rate limiter keys by the user before the route authenticates: one resolution serves both.
  const resolutions = new WeakMap<FastifyRequest, Resolution>()
  const resolve = (request: FastifyRequest): Resolution | Promise<Resolution> => {
    const known = resolutions.get(request)
    if (known !== undefined) return known
    const header = request.headers.authorization
    if (header === undefined) return { refused: 'This route needs an access token: send Authorization: Bearer <token>' }
    const token = BEARER.exec(header)?.[1]
    if (token === undefined) return { refused: 'The Authorization header must be "Bearer <token>"' }
    let resolution: Resolution
    if (isPersonalAccessToken(token)) {
      const verdict = personalAccessTokens.verify(token)
      if (verdict instanceof Promise) {
        return verdict.then(fromVerdict, (error: unknown) => ({ failed: error instanceof Error ? error : new Error(String(error)) }))
          .then((settled) => {
            resolutions.set(request, settled)
            return settled
          })
      }
      resolution = fromVerdict(verdict)
    } else {
      try {
        resolution = { userId: accessTokens.verify(token).userId }
      } catch (error) {
        if (!(error instanceof UnauthorizedError)) throw error
        resolution = { refused: error.message }
      }
    }
    resolutions.set(request, resolution)
    return resolution
  }

  // Ahead of the rate limits (registered after this plugin): a personal access token not in the cache is looked up
  // here, so that the limiter, which runs synchronously on what is known, counts its requests against its user.
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.headers.authorization === undefined) {
      done()
      return
    }
    const resolution = resolve(request)
    if (resolution instanceof Promise) {
      resolution.then(() => { done() }, done)
      return
    }
    done()
  })

  app.decorate('bearerUserId', (request: FastifyRequest) => {
    const resolution = resolve(request)
    return resolution instanceof Promise || !('userId' in resolution) ? undefined : resolution.userId
  })

  const authenticated = new WeakSet<FastifyRequest>()
  const admit = (request: FastifyRequest, resolution: Resolution): Error | undefined => {
    if ('refused' in resolution) return new UnauthorizedError(resolution.refused)
    if ('failed' in resolution) return resolution.failed
    // Checked at registration; a route added in a way onRoute cannot see (addHook) is refused here rather than let through.
    const scope = request.routeOptions.config.scope
    if (scope === undefined) return new Error(`${request.method} ${request.routeOptions.url ?? request.url} authenticates but declares no config.scope`)
    // Before the scope check: a refused request's lines say which token tried, too.
    bindIdentity(request, resolution)
    if (resolution.tokenId !== undefined) {
      if (!resolution.granted.has(scope)) {
        return scope === 'session'
          ? new InsufficientScopeError('This route needs a session\'s access token (log in); a personal access token cannot use it')
          : new InsufficientScopeError(`This route needs a token with the ${scope} scope`, scope)
      }
      personalAccessTokens.recordUse(resolution.tokenId)
    }
    request.user = resolution.tokenId === undefined ? { id: resolution.userId } : { id: resolution.userId, tokenId: resolution.tokenId }
    authenticated.add(request)
    return undefined
  }

  const authenticate: onRequestHookHandler = (request, _reply, done) => {
    // A route may be given the hook twice (declared, and added by hand): the second time there is nothing to do.
    if (authenticated.has(request)) {
      done()
      return
    }
    try {
      const resolution = resolve(request)
      if (resolution instanceof Promise) {
        resolution.then((settled) => { done(admit(request, settled)) }, done)
        return
      }
      done(admit(request, resolution))
    } catch (error) {
      done(error as Error)
    }
  }
  app.decorate('authenticate', authenticate)

  // Every route's access comes from its config.scope, and from nothing else.
  app.addHook('onRoute', (route) => {
    const scope: unknown = route.config?.scope
    const onRequest = route.onRequest === undefined ? [] : [route.onRequest].flat()
    if (scope === undefined) {
      // `security: []` says a route is public (the OpenAPI document's way); any other security needs a scope.
      if (onRequest.includes(authenticate) || (route.schema?.security ?? []).length > 0) {
        throw new Error(`${routeName(route)} authenticates but declares no scope: add config: { scope } (one of ${ROUTE_SCOPES.join(', ')})`)
      }
      return
    }
    if (!isRouteScope(scope)) throw new Error(`${routeName(route)}: config.scope ${JSON.stringify(scope)} is none of ${ROUTE_SCOPES.join(', ')}`)
    if (!onRequest.includes(authenticate)) route.onRequest = [authenticate, ...onRequest]
    route.schema = { ...route.schema, security: securityFor(scope) }
  })
}, { name: 'auth', dependencies: ['config', 'observability', 'db', 'jobs'] })
