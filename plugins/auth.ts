import type { FastifyBaseLogger, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { UnauthorizedError } from '../errors.js'

export interface AuthenticatedUser {
  id: string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook for routes that need a Bearer access token; sets request.user. */
    authenticate: onRequestHookHandler
    /** The user a request's valid access token names, else undefined; verified once per request, whoever asks first. */
    bearerUserId: (request: FastifyRequest) => string | undefined
  }
  interface FastifyRequest {
    /** Set by app.authenticate; only read it in routes that use that hook. */
    user: AuthenticatedUser
  }
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

/** Bearer access tokens: routes opt in with `onRequest: app.authenticate`. */
export default fp((app, _options, done) => {
  app.decorateRequest('user', null as unknown as AuthenticatedUser)
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
        verification = { userId: app.services.accessTokens.verify(token).userId }
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
  done()
}, { name: 'auth', dependencies: ['services'] })
