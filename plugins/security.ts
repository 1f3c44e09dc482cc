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

const API_HELMET_OPTIONS: HelmetOptions = {
  // JSON loads nothing and belongs in no frame. The one HTML page, Swagger UI, replaces this
  // with its own hashed CSP (staticCSP in plugins/docs.ts).
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginResourcePolicy: { policy: 'same-site' },
  // Matches frame-ancestors 'none' for browsers that know only this header.
  xFrameOptions: { action: 'deny' },
  // Headers that only mean something to an HTML page: sent with /docs (PAGE_SECURITY_HEADERS), not with every JSON answer.
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false
}

/** On every answer: what a JSON API needs (OWASP's REST list): CSP, CORP, HSTS, nosniff, frame options, referrer policy. */
export const API_SECURITY_HEADERS = securityHeaders(API_HELMET_OPTIONS)

/** Added on the Swagger UI page: the rest of helmet's defaults, which concern documents a browser renders. */
export const PAGE_SECURITY_HEADERS = Object.fromEntries(Object.entries(securityHeaders({
  contentSecurityPolicy: false
})).filter(([name]) => !(name in API_SECURITY_HEADERS)))

/**
 * Security headers for a JSON API (and the Swagger UI page at /docs), and
 * CORS for the configured origins only: any other origin gets no CORS
 * headers, so browsers keep its pages away from the API.
 */
export default fp(async (app) => {
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(API_SECURITY_HEADERS)
    done()
  })
  const allowed = new Set(app.config.corsOrigins)
  // With no origin allowed, CORS has nothing to say to anyone: @fastify/cors would still run on every request (some
  // 15% of a /health/live request) only to add Vary: Origin to answers that never vary by origin. Preflights get the
  // 404 problem either way.
  if (allowed.size === 0) return
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
