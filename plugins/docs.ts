import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

/** OpenAPI built from the routes' TypeBox schemas, served as JSON and through Swagger UI at /docs. */
export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'taskforge',
        version: '1.0.0',
        description: 'A task-manager HTTP API: accounts with rotating refresh tokens, per-user tasks with cursor paging, ETags and idempotent create. Errors are RFC 9457 problem details.'
      },
      tags: [
        { name: 'health', description: 'Liveness and readiness' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }
        }
      }
    },
    refResolver: {
      // Shared schemas keep their own names ("Problem") in components.schemas.
      buildLocalReference: (json, _baseUri, _fragment, index) => typeof json.$id === 'string' ? json.$id : `def-${index}`
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'docs' })
