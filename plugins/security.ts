import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'

/** Headers a browser client may send and read; the API uses these and no others. */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'If-Match', 'Idempotency-Key', 'X-Request-Id']
export const CORS_EXPOSED_HEADERS = [
  'ETag', 'Location', 'Link', 'X-Request-Id', 'Retry-After', 'Idempotent-Replayed',
  'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset',
  'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'
]

/**
 * Security headers for a JSON API (and the Swagger UI page at /docs), and
 * CORS for the configured origins only: any other origin gets no CORS
 * headers, so browsers keep its pages away from the API.
 */
export default fp(async (app) => {
  await app.register(helmet, {
    // The API answers JSON; the one HTML page (Swagger UI) brings its own CSP hashes (staticCSP in plugins/docs.ts).
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
        frameAncestors: ["'none'"]
      }
    },
    crossOriginResourcePolicy: { policy: 'same-site' }
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
