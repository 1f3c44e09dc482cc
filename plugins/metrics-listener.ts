import type { AddressInfo } from 'node:net'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { metricsRoute } from '../routes/metrics.js'
import errors from './errors.js'
import { ProblemSchema } from './problem.js'
import { requestIdServerOptions } from './request-id.js'

declare module 'fastify' {
  interface FastifyInstance {
    metricsListener: {
      /** Where METRICS_PORT's listener is bound once the app is ready (METRICS_PORT=0: a free port); undefined without one. */
      address: () => AddressInfo | undefined
    }
  }
}

/**
 * METRICS_PORT: GET /metrics on a listener of its own, as Prometheus
 * exporters do, bound to METRICS_HOST (127.0.0.1 by default) so that only
 * the scraper reaches it. It serves nothing else (other paths are 404
 * problems), listens when the app gets ready (a port in use stops start-up)
 * and closes with the app, after the public listener has drained: the last
 * scrapes of a shutdown still see it.
 */
export default fp(async (app) => {
  const { enabled, listener, token } = app.config.observability.metrics
  if (!enabled || listener === undefined) {
    app.decorate('metricsListener', { address: () => undefined })
    return
  }
  const server = Fastify({ loggerInstance: app.log.child({ listener: 'metrics' }), ...requestIdServerOptions() }).withTypeProvider<TypeBoxTypeProvider>()
  server.addSchema(ProblemSchema)
  await server.register(errors)
  await server.register(metricsRoute, { metrics: app.observability.metrics, token })

  app.addHook('onReady', async () => {
    // Not "Server listening at": that line is the public listener's, and tools look for it.
    await server.listen({ host: listener.host, port: listener.port, listenTextResolver: (address) => `metrics listening at ${address}/metrics` })
  })
  app.addHook('onClose', async () => { await server.close() })
  app.decorate('metricsListener', {
    address: () => {
      const address = server.server.address()
      return typeof address === 'object' && address !== null ? address : undefined
    }
  })
}, { name: 'metrics-listener', dependencies: ['config', 'observability'] })
