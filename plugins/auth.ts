import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { UnauthorizedError } from '../errors.js'

export interface AuthenticatedUser {
  id: string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook for routes that need a Bearer access token; sets request.user. */
    authenticate: onRequestHookHandler
  }
  interface FastifyRequest {
    /** Set by app.authenticate; only read it in routes that use that hook. */
    user: AuthenticatedUser
  }
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/

/** Bearer access tokens: routes opt in with `onRequest: app.authenticate`. */
export default fp((app, _options, done) => {
  app.decorateRequest('user', null as unknown as AuthenticatedUser)
  const userIdOf = (request: FastifyRequest): string => {
    const header = request.headers.authorization
    if (header === undefined) throw new UnauthorizedError('This route needs an access token: send Authorization: Bearer <token>')
    const token = BEARER.exec(header)?.[1]
    if (token === undefined) throw new UnauthorizedError('The Authorization header must be "Bearer <token>"')
    return app.services.accessTokens.verify(token).userId
  }
  app.decorate('authenticate', (request, _reply, next) => {
    try {
      const userId = userIdOf(request)
      request.user = { id: userId }
      request.log = request.log.child({ userId })
      next()
    } catch (error) {
      next(error as Error)
    }
  })
  done()
}, { name: 'auth', dependencies: ['services'] })
