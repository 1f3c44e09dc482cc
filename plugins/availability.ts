import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import { sendProblem } from './problem.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** True from the moment shutdown starts: readiness answers 503 so that load balancers stop sending traffic. */
    readonly draining: boolean
    /** Called by the signal handler before the server stops accepting. */
    startDraining: () => void
  }
}

/**
 * Whether this process should get traffic: it drains on shutdown, refuses
 * new requests with a 503 problem (and Connection: close) once closing, and
 * sheds load with a 503 problem while its event loop lags.
 */
export default fp(async (app) => {
  let draining = false
  let closing = false
  app.decorate('draining', { getter: () => draining })
  app.decorate('startDraining', () => {
    if (!draining) app.log.info('draining: readiness now answers 503')
    draining = true
  })
  app.addHook('preClose', (done) => {
    draining = true
    closing = true
    done()
  })
  // Requests already running finish; a request arriving on a kept-alive connection after close began is told to go elsewhere.
  // A callback hook, not an async one: it runs on every request and almost always just passes.
  app.addHook('onRequest', (request, reply, done) => {
    if (!closing) {
      done()
      return
    }
    reply.header('Connection', 'close').header('Retry-After', '1')
    sendProblem(request, reply, { status: 503, slug: 'shutting-down', title: 'Shutting down', detail: 'This instance is shutting down; retry, another one will answer' })
  })

  const { maxEventLoopDelayMs } = app.config
  if (maxEventLoopDelayMs > 0) {
    await app.register(underPressure, {
      maxEventLoopDelay: maxEventLoopDelayMs,
      retryAfter: 5,
      pressureHandler: (request, reply, type, value) => {
        request.log.warn({ pressure: type, value }, 'shedding load: the process is overloaded')
        reply.header('Retry-After', '5')
        sendProblem(request, reply, { status: 503, slug: 'overloaded', title: 'Service overloaded', detail: 'The server is overloaded; retry in a few seconds' })
      }
    })
  }
}, { name: 'availability', dependencies: ['config'] })
