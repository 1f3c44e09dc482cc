import { errorCodes } from 'fastify'
import fp from 'fastify-plugin'

/**
 * REQUEST_TIMEOUT_MS: a request not answered in time gets the 503 `timeout`
 * problem (plugins/errors.ts), whatever it still waits for, from its first
 * hook to its last byte.
 *
 * Not Fastify's own handlerTimeout: Fastify 5.12 stops that timer on the
 * request's 'close' event, which Node emits as soon as a request body has
 * been read, so every request with a body (POST, PUT, PATCH) was left
 * unbounded (fastify/fastify#6725). This one ends with the response.
 */
export default fp(async (app) => {
  const timeoutMs = app.config.requestTimeoutMs
  app.addHook('onRequest', (request, reply, next) => {
    const timer = setTimeout(() => {
      if (reply.sent) return
      const error = new errorCodes.FST_ERR_HANDLER_TIMEOUT(timeoutMs, request.routeOptions.url)
      // A response already under way cannot become a problem answer: end it.
      if (reply.raw.headersSent) reply.raw.destroy(error)
      else reply.send(error)
    }, timeoutMs)
    // The response's 'close': it was sent, or its connection is gone; either way there is nothing left to bound.
    reply.raw.once('close', () => { clearTimeout(timer) })
    next()
  })
}, { name: 'request-timeout', dependencies: ['config'] })
