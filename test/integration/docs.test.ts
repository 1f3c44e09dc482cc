import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import SwaggerParser from '@apidevtools/swagger-parser'
import t from 'tap'
import { renderOpenApi } from '../../scripts/openapi-document.js'
import { buildTestApp } from '../helpers/app.js'
import { PROJECT_ROOT } from '../helpers/test-server.js'

t.test('/docs/json is a valid OpenAPI 3 document', async (t) => {
  const { app } = await buildTestApp(t)
  const response = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(response.statusCode, 200)
  const document = response.json()
  t.match(document.openapi, /^3\./)
  await t.resolves(SwaggerParser.validate(structuredClone(document)), 'passes the OpenAPI validator')
  t.ok(document.paths['/health/ready'], 'routes are described')
  t.ok(document.components.schemas.Problem, 'the problem schema is a named component')

  const errorMediaTypes = new Set<string>()
  for (const operations of Object.values<Record<string, { responses: Record<string, { content?: object }> }>>(document.paths)) {
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) >= 400) for (const mediaType of Object.keys(response.content ?? {})) errorMediaTypes.add(mediaType)
      }
    }
  }
  t.same([...errorMediaTypes], ['application/problem+json'], 'every error answer is documented as problem+json')
})

t.test('both credentials are security schemes, so Swagger UI\'s Authorize takes either; each operation says which it accepts', async (t) => {
  const { app } = await buildTestApp(t)
  const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{
    components: { securitySchemes: Record<string, { type: string; scheme: string; bearerFormat: string }> }
    paths: Record<string, Record<string, { security?: Record<string, string[]>[]; operationId?: string }>>
  }>()
  t.match(document.components.securitySchemes, {
    bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    personalAccessToken: { type: 'http', scheme: 'bearer', bearerFormat: 'tfp_…' }
  })
  t.same(document.paths['/tasks']?.post?.security, [{ bearerAuth: [] }, { personalAccessToken: ['tasks:write'] }], 'a token needs tasks:write here')
  t.same(document.paths['/auth/tokens']?.get?.security, [{ bearerAuth: [] }], 'a session only')
  t.same(['post', 'get'].map((method) => document.paths['/auth/tokens']?.[method]?.operationId), ['createPersonalAccessToken', 'listPersonalAccessTokens'])
  t.equal(document.paths['/auth/tokens/{id}']?.delete?.operationId, 'revokePersonalAccessToken')
})

t.test('/docs serves Swagger UI', async (t) => {
  const { app } = await buildTestApp(t)
  const response = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /text\/html/)
  t.match(response.body, /swagger-ui/i)
})

t.test('the committed openapi.json is what the app generates (run `npm run openapi` after changing a route)', async (t) => {
  const committed = await readFile(join(PROJECT_ROOT, 'openapi.json'), 'utf8')
  t.equal(committed, await renderOpenApi())
})
