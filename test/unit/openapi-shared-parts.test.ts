import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import type { OpenAPIV3_1 as OpenApi } from 'openapi-types'
import t from 'tap'
import docs from '../../plugins/docs.js'
import { problems, ProblemSchema } from '../../plugins/problem.js'
import { noStore } from '../../routes/no-store.js'
import { problemResponse, withHeaders } from '../../routes/shared-schemas.js'

/** A bare app with the docs plugin and routes of a concern the app does not have: what a new route gets without asking. */
async function documentOf (register: (app: FastifyInstance) => void): Promise<OpenApi.Document> {
  const app = Fastify()
  app.addSchema(ProblemSchema)
  await app.register(docs)
  register(app)
  await app.ready()
  const document = app.swagger() as OpenApi.Document
  await app.close()
  return document
}

const responseOf = (operation: OpenApi.OperationObject | undefined, status: number) =>
  operation?.responses?.[status] as OpenApi.ResponseObject

t.test('a new route gets its tag, bearer security and the shared answers and headers by default', async (t) => {
  const document = await documentOf((app) => {
    app.post('/webhooks/:id/rotate-secret', {
      schema: {
        operationId: 'rotateWebhookSecret',
        summary: 'Rotate',
        params: { type: 'object', properties: { id: { type: 'string', description: 'The webhook id' } } },
        response: {
          200: { type: 'object', description: 'Rotated' },
          403: problemResponse('The token lacks the webhooks scope'),
          404: problemResponse('No such webhook of yours', problems.notFound)
        }
      }
    }, async () => ({}))
  })
  const operation = document.paths?.['/webhooks/{id}/rotate-secret']?.post
  t.same(operation?.tags, ['webhooks'], 'tagged by its first path segment')
  t.same(operation?.security, [{ bearerAuth: [] }], 'secured with the bearer scheme unless it says security: []')
  t.same(Object.keys(operation?.responses ?? {}), ['200', '400', '401', '403', '404', '413', '414', '415', '429', '500', '503'])
  t.match(responseOf(operation, 403).headers?.['WWW-Authenticate'], { required: false }, 'a 403 may say which scope is missing')
  t.same(responseOf(operation, 401), { $ref: '#/components/responses/Unauthorized' }, 'shared answers by reference')
  t.match(responseOf(operation, 400).content?.['application/problem+json']?.examples, { 'malformed-json': {}, 'bad-url': {} })
  t.match(responseOf(operation, 404).content?.['application/problem+json']?.examples, { 'not-found': { value: { status: 404 } } })
  t.match(responseOf(operation, 200).headers, { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' }, 'RateLimit-Limit': {} })
  t.ok(document.components?.headers?.['WWW-Authenticate'], 'the headers are components')
})

t.test('a public route says security: [] and keeps it; a no-store route documents Cache-Control on every answer', async (t) => {
  const document = await documentOf((app) => {
    app.post('/auth/tokens/exchange', {
      onSend: noStore,
      schema: { operationId: 'exchange', summary: 'Exchange', security: [], response: { 201: withHeaders(Type.Object({}, { description: 'Made' }), 'Location') } }
    }, async () => ({}))
  })
  const operation = document.paths?.['/auth/tokens/exchange']?.post
  t.same(operation?.security, [])
  t.notOk(operation?.responses[401], 'no 401 on a public route that declares none')
  t.same(responseOf(operation, 201).headers?.Location, { $ref: '#/components/headers/Location' }, 'its own headers by reference')
  for (const status of ['201', '429', '503']) {
    const cacheControl = responseOf(operation, Number(status)).headers?.['Cache-Control']
    t.same(cacheControl, { $ref: '#/components/headers/Cache-Control' }, `Cache-Control on ${status}`)
  }
})
