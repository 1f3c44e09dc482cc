import { errorCodes, type FastifyReply } from 'fastify'
import fp from 'fastify-plugin'

/** How often the requests in flight are looked at, as a share of the time-out: a request is answered at most this late. */
const SWEEPS_PER_TIMEOUT = 10

/**
 * REQUEST_TIMEOUT_MS: a request not answered in time gets the 503 `timeout`
 * problem (plugins/errors.ts), whatever it still waits for, from its first
 * hook to its last byte (give or take a tenth of the time-out).
 *
 * Not Fastify's own handlerTimeout: Fastify 5.12 stops that timer on the
 * request's 'close' event, which Node emits as soon as a request body has
 * been read, so every request with a body (POST, PUT, PATCH) was left
 * unbounded (fastify/fastify#6725). This one ends with the response.
 *
 * One timer for all requests rather than one each: a request is an entry in
 * a Map, in order of arrival, so of deadline; a sweep every tenth of the
 * time-out answers the expired ones at the front. A timer and a 'close'
 * listener per request cost some 6% of a /health/live request.
 */
export default fp(async (app) => {
  const timeoutMs = app.config.requestTimeoutMs
  const deadlines = new Map<FastifyReply, number>()

  const sweep = () => {
    const now = performance.now()
    for (const [reply, deadline] of deadlines) {
      if (deadline > now) break
      deadlines.delete(reply)
      // Sent in full, or its connection is gone (a client that left gets no onResponse): nothing left to bound.
      if (reply.sent || reply.raw.destroyed) continue
      const error = new errorCodes.FST_ERR_HANDLER_TIMEOUT(timeoutMs, reply.request.routeOptions.url)
      // A response already under way cannot become a problem answer: end it.
      if (reply.raw.headersSent) reply.raw.destroy(error)
      else reply.send(error)
    }
  }
  const sweeper = setInterval(sweep, Math.max(1, Math.floor(timeoutMs / SWEEPS_PER_TIMEOUT)))
  sweeper.unref()
  app.addHook('onClose', (_instance, done) => {
    clearInterval(sweeper)
    done()
  })

  app.addHook('onRequest', (_request, reply, done) => {
    deadlines.set(reply, performance.now() + timeoutMs)
    done()
  })
  app.addHook('onResponse', (_request, reply, done) => {
    deadlines.delete(reply)
    done()
  })
}, { name: 'request-timeout', dependencies: ['config'] })
