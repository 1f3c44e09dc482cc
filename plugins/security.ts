import cors from '@fastify/cors'
import helmet, { type HelmetOptions } from 'helmet'
import fp from 'fastify-plugin'

/** Headers a browser client may send and read; the API uses these and no others. */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'If-Match', 'Idempotency-Key', 'X-Request-Id']
export const CORS_EXPOSED_HEADERS = [
  'ETag', 'Location', 'Link', 'X-Request-Id', 'Retry-After', 'Idempotent-Replayed',
  'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset',
  'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'
]

/**
 * The headers helmet would set, worked out once. @fastify/helmet runs helmet
 * anew on every request, which parses the policy each time (about 30 µs a
 * request in the benchmark); without per-request nonces they never change.
 */
export function securityHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const collector = {
    setHeader: (name: string, value: string) => { headers[name.toLowerCase()] = value },
    removeHeader: (name: string) => { Reflect.deleteProperty(headers, name.toLowerCase()) }
  }
  helmet(options)({} as never, collector as never, () => undefined)
  return headers
}

/**
 * Security headers for a JSON API (and the Swagger UI page at /docs), and
 * CORS for the configured origins only: any other origin gets no CORS
 * headers, so browsers keep its pages away from the API.
 */
export default fp(async (app) => {
  const headers = securityHeaders({
    // JSON loads nothing and belongs in no frame. The one HTML page, Swagger UI, replaces this with its own hashed CSP (staticCSP in plugins/docs.ts).
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'same-site' }
  })
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
  const allowed = new Set(app.config.corsOrigins)
  await app.register(cors, {
    // false for any other origin turns CORS off for that request: no CORS header at all, not even on a preflight.
    origin: (origin, callback) => { callback(null, origin !== undefined && allowed.has(origin) ? origin : false) },
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    // Bearer tokens, no cookies: credentials stay off.
    credentials: false,
    maxAge: 600
  })
}, { name: 'security', dependencies: ['config'] })
