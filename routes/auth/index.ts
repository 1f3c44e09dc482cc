import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { RegistrationSchema, UserSchema, type User } from '../../services/auth/schemas.js'
import { UnauthorizedError } from '../../errors.js'
import { problems } from '../../plugins/problem.js'
import { trimBodyStrings } from '../trim.js'
import { noStore } from '../no-store.js'
import { NoContent, problemResponse, reference } from '../shared-schemas.js'
import tokenRoutes from './tokens.js'
import {
  authResultAnswer, AuthResultSchema, CredentialsRef, CredentialsSchema, RefreshRequestRef, RefreshRequestSchema, RegistrationRef
} from './schemas.js'

function authResult (app: FastifyInstance, user: User, refreshToken: string) {
  const access = app.auth.accessTokens.issue(user.id)
  return { user, accessToken: access.token, refreshToken, tokenType: 'Bearer' as const, expiresIn: access.expiresIn }
}

// The credential routes are public (`security: []`): what they take is in their body.
const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { users, refreshTokens } = app.auth
  for (const schema of [UserSchema, AuthResultSchema, RegistrationSchema, CredentialsSchema, RefreshRequestSchema]) app.addSchema(schema)

  app.post('/auth/register', {
    onSend: noStore,
    schema: {
      operationId: 'register',
      summary: 'Create an account and log in',
      description: 'The email is trimmed and unique regardless of letter case. Answers like a login: the new user and a token pair.',
      security: [],
      body: RegistrationRef,
      response: { 201: authResultAnswer('The new account, signed in: its user and a token pair'), 409: problemResponse('The email is already registered', problems.conflict) }
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
      operationId: 'login',
      summary: 'Exchange email and password for tokens',
      description: 'An unknown email and a wrong password get the same 401, in about the same time. ' +
        'Failed logins are limited per address and email (429 with Retry-After).',
      security: [],
      body: CredentialsRef,
      response: { 200: authResultAnswer('Signed in: the user and a token pair'), 401: problemResponse('The email or the password is wrong', problems.unauthorized) }
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
      operationId: 'refresh',
      summary: 'Spend a refresh token for a new token pair',
      description: 'Each refresh token works once. Presenting a spent one again revokes every token of its login.',
      security: [],
      body: RefreshRequestRef,
      response: {
        200: authResultAnswer('A new token pair; the refresh token sent is spent'),
        401: problemResponse('The refresh token is invalid, expired, spent or revoked, or its account is gone', problems.unauthorized)
      }
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
      operationId: 'logout',
      summary: 'End a login: revoke its refresh tokens',
      description: 'Revokes every refresh token of the login the given one belongs to. Access tokens already issued live out their short lifetime.',
      security: [],
      body: RefreshRequestRef,
      response: { 204: { ...NoContent, description: 'Logged out: the login\'s refresh tokens no longer work' }, 401: problemResponse('The refresh token is invalid or expired', problems.unauthorized) }
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
      operationId: 'getCurrentUser',
      summary: 'The user the access token belongs to',
      description: 'Answers 401 when the account no longer exists.',
      response: { 200: reference<typeof UserSchema>('User', { description: 'The signed-in user' }) }
    }
  }, async (request) => {
    const user = await users.findById(request.user.id)
    if (user === null) throw new UnauthorizedError('The account no longer exists')
    return user
  })

  await app.register(tokenRoutes)
}

export default authRoutes
