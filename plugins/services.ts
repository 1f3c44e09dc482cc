import fp from 'fastify-plugin'
import { systemClock, type Clock } from '../services/clock.js'
import { createServices, type Services } from '../services/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    services: Services
  }
}

export interface ServicesPluginOptions {
  /** Tests pass a clock they control; the system clock otherwise. */
  clock?: Clock
}

/** The business services, built once on the app's database and config. */
export default fp<ServicesPluginOptions>((app, options, done) => {
  app.decorate('services', createServices({
    sql: app.sql,
    config: app.config,
    log: app.observability.log,
    clock: options.clock ?? systemClock,
    tracer: app.observability.tracer
  }))
  done()
}, { name: 'services', dependencies: ['config', 'observability', 'db'] })
