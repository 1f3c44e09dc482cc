import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { TokenInputSchema, TokenSchema } from '../../services/auth/schemas.js'
import { noStore } from '../no-store.js'
import { problems } from '../../plugins/problem.js'
import { NoContent, problemResponse, reference } from '../shared-schemas.js'
import { trimBodyStrings } from '../trim.js'
import { NewTokenSchema, TokenList, TokenParams } from './schemas.js'

/**
 * Personal access tokens, managed with a session's access token only
 * (`scope: 'session'`): a token cannot make, see or revoke tokens, so a
 * leaked one cannot give itself more.
 */
const tokenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { personalAccessTokens } = app.auth
  app.addSchema(TokenSchema)
  app.addSchema(NewTokenSchema)

  app.post('/auth/tokens', {
    config: { scope: 'session' },
    onSend: noStore,
    schema: {
      operationId: 'createPersonalAccessToken',
      summary: 'Make a personal access token',
      description: 'A long-lived token for scripts and integrations, limited to `scopes` (tasks:write implies tasks:read), ' +
        'until `expiresAt` (at most a year ahead) or, without it, until revoked. The answer carries the secret, `token`, ' +
        'this once: only a hash of it is kept. Needs a session\'s access token; a personal access token gets 403.',
      body: TokenInputSchema,
      response: { 201: reference<typeof NewTokenSchema>('NewToken', { description: 'The new token, with its secret shown this once' }) }
    },
    preValidation: trimBodyStrings(['name'])
  }, async (request, reply) => reply.code(201).send(await personalAccessTokens.create(request.user.id, request.body)))

  app.get('/auth/tokens', {
    config: { scope: 'session' },
    schema: {
      operationId: 'listPersonalAccessTokens',
      summary: 'List your personal access tokens',
      description: 'The tokens that still work (neither revoked nor expired), newest first, without their secrets. ' +
        '`lastUsedAt` is kept to within a minute. Needs a session\'s access token.',
      response: { 200: { ...TokenList, description: 'Your live tokens, newest first' } }
    }
  }, async (request) => ({ items: await personalAccessTokens.list(request.user.id) }))

  app.delete('/auth/tokens/:id', {
    config: { scope: 'session' },
    schema: {
      operationId: 'revokePersonalAccessToken',
      summary: 'Revoke a personal access token',
      description: 'The token stops working at once (on every instance within 5 seconds). Another user\'s token, a revoked or ' +
        'expired one and a malformed id are all 404. Needs a session\'s access token.',
      params: TokenParams,
      response: { 204: { ...NoContent, description: 'Revoked' }, 404: problemResponse('No such token among yours', problems.notFound) }
    }
  }, async (request, reply) => {
    await personalAccessTokens.revoke(request.user.id, request.params.id)
    return reply.code(204).send(null)
  })
}

export default tokenRoutes
