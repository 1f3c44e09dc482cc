import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { RegistrationSchema, UserSchema, type User } from '../../services/auth/schemas.js'
import { UnauthorizedError } from '../../errors.js'
import { trimBodyStrings } from '../trim.js'
import { noStore } from '../no-store.js'
import { NoContent } from '../shared-schemas.js'
import { AuthResultSchema, LoginBody, problems, RefreshBody } from './schemas.js'
import tokenRoutes from './tokens.js'

function authResult (app: FastifyInstance, user: User, refreshToken: string) {
  const access = app.auth.accessTokens.issue(user.id)
  return { user, accessToken: access.token, refreshToken, tokenType: 'Bearer' as const, expiresIn: access.expiresIn }
}

const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { users, refreshTokens } = app.auth
  app.addSchema(UserSchema)
  app.addSchema(AuthResultSchema)

  app.post('/auth/register', {
    onSend: noStore,
    schema: {
      tags: ['auth'],
      summary: 'Create an account and log in',
      body: RegistrationSchema,
      response: { 201: AuthResultSchema, 400: problems[400], 409: problems[409], 429: problems[429] }
    },
    preValidation: trimBodyStrings(['email', 'name']),
    onRequest: app.rateLimits.credentials
  }, async (request, reply) => {
    const user = await users.register({ email: request.body.email, password: request.body.password, name: request.body.name ?? null })
    const refreshToken = await refreshTokens.issueForLogin(user.id)
    return reply.code(201).send(authResult(app, user, refreshToken))
  })

  app.post('/auth/login', {
    schema: {
      tags: ['auth'],
      summary: 'Exchange email and password for tokens',
      body: LoginBody,
      response: { 200: AuthResultSchema, 400: problems[400], 401: problems[401], 429: problems[429] }
    },
    preValidation: trimBodyStrings(['email']),
    onRequest: app.rateLimits.credentials,
    preHandler: app.rateLimits.loginFailures.check,
    onSend: [noStore, app.rateLimits.loginFailures.settle]
  }, async (request) => {
    const user = await users.authenticate(request.body.email, request.body.password)
    return authResult(app, user, await refreshTokens.issueForLogin(user.id))
  })

  app.post('/auth/refresh', {
    onSend: noStore,
    schema: {
      tags: ['auth'],
      summary: 'Spend a refresh token for a new token pair',
      description: 'Each refresh token works once. Presenting a spent one again revokes every token of its login.',
      body: RefreshBody,
      response: { 200: AuthResultSchema, 400: problems[400], 401: problems[401], 429: problems[429] }
    },
    onRequest: app.rateLimits.credentials
  }, async (request) => {
    const rotated = await refreshTokens.rotate(request.body.refreshToken)
    const user = await users.findById(rotated.userId)
    if (user === null) throw new UnauthorizedError('The account no longer exists')
    return authResult(app, user, rotated.refreshToken)
  })

  app.post('/auth/logout', {
    schema: {
      tags: ['auth'],
      summary: 'End a login: revoke its refresh tokens',
      body: RefreshBody,
      response: { 204: NoContent, 400: problems[400], 401: problems[401], 429: problems[429] }
    },
    onRequest: app.rateLimits.credentials
  }, async (request, reply) => {
    await refreshTokens.revoke(request.body.refreshToken)
    return reply.code(204).send(null)
  })

  app.get('/auth/me', {
    // Any valid credential: a personal access token needs no scope to say whose it is.
    config: { scope: 'any' },
    schema: {
      tags: ['auth'],
      summary: 'The user the access token belongs to',
      response: { 200: UserSchema, 401: problems[401], 429: problems[429] }
    }
  }, async (request) => {
    const user = await users.findById(request.user.id)
    if (user === null) throw new UnauthorizedError('The account no longer exists')
    return user
  })

  await app.register(tokenRoutes)
}

export default authRoutes
