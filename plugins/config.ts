import fp from 'fastify-plugin'
import type { Config } from '../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** What loadConfig made of the environment: every plugin reads its settings here. */
    config: Config
  }
}

export interface ConfigPluginOptions {
  config: Config
}

/** Decorates app.config; the plugins that read it name 'config' among their dependencies. */
export default fp<ConfigPluginOptions>(async (app, { config }) => {
  app.decorate('config', config)
}, { name: 'config' })
