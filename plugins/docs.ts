import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { SECURITY_SCHEMES } from './auth.js'
import { completeDocument, markRouteFacts, SERVERS } from './openapi.js'
import { PAGE_SECURITY_HEADERS } from './security.js'

// Swagger UI draws its own logo (an inline SVG with a <style>) before @fastify/swagger-ui swaps in its own.
export const SWAGGER_LOGO_STYLE_HASH = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"

/**
 * The CSP @fastify/swagger-ui sends for /docs, made stricter and usable over
 * plain HTTP: no upgrade-insecure-requests (it blanks the page on any http://
 * host but localhost), no framing, fonts and styles from us only (plus the
 * hash of Swagger UI's logo style).
 */
function tightenDocsCsp (header: string): string {
  return header
    .replace(/\s*upgrade-insecure-requests;?/, '')
    .replace("frame-ancestors 'self'", "frame-ancestors 'none'")
    .replace("font-src 'self' https: data:", "font-src 'self' data:")
    .replace("style-src 'self' https:", `style-src 'self' ${SWAGGER_LOGO_STYLE_HASH}`)
}

/** OpenAPI built from the routes' TypeBox schemas, served as JSON and through Swagger UI at /docs. */
export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'taskforge',
        version: '1.0.0',
        description: 'A task-manager HTTP API: accounts with rotating refresh tokens, per-user tasks with cursor paging, ' +
          'ETags and idempotent create. Errors are RFC 9457 problem details (application/problem+json). Every answer carries ' +
          'X-Request-Id and the rate-limit headers; 429 and 503 answers say when to retry (Retry-After).'
      },
      servers: SERVERS,
      tags: [
        { name: 'auth', description: 'Accounts and tokens: short-lived JWT access tokens, rotating refresh tokens, personal access tokens with scopes' },
        { name: 'tasks', description: 'Your tasks: cursor paging, filters, ETags and If-Match, idempotent create' },
        { name: 'webhooks', description: 'Task events pushed to your URL: durable, signed per Standard Webhooks, retried for about a day, with a log of deliveries' },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'metrics', description: 'Prometheus metrics' }
      ],
      components: {
        securitySchemes: SECURITY_SCHEMES
      }
    },
    // Each route's own parts come from its schema; the parts all routes share are added to the document (plugins/openapi.ts).
    transform: markRouteFacts,
    transformObject: (documents) => 'openapiObject' in documents ? completeDocument(documents.openapiObject) : documents.swaggerObject,
    refResolver: {
      // Shared schemas keep their own names ("Problem") in components.schemas.
      buildLocalReference: (json, _baseUri, _fragment, index) => typeof json.$id === 'string' ? json.$id : `def-${index}`
    }
  })
  // staticCSP: the UI's own Content-Security-Policy, with hashes of its inline code, replaces the API's stricter one on /docs.
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: tightenDocsCsp,
    uiHooks: {
      onRequest: (_request, reply, done) => {
        reply.headers(PAGE_SECURITY_HEADERS)
        done()
      }
    }
  })
}, { name: 'docs' })
