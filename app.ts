import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { DestinationStream } from 'pino'
import type { Config } from './config.js'
import type { Sql } from './db/client.js'
import auth from './plugins/auth.js'
import db from './plugins/db.js'
import docs from './plugins/docs.js'
import errors from './plugins/errors.js'
import jobs from './plugins/jobs.js'
import { fastifyLogger } from './plugins/logger.js'
import mailer from './plugins/mailer.js'
import { ProblemSchema } from './plugins/problem.js'
import requestId, { requestIdServerOptions } from './plugins/request-id.js'
import services from './plugins/services.js'
import { buildValidator } from './plugins/validation.js'
import authRoutes from './routes/auth/index.js'
import healthRoutes from './routes/health.js'
import taskRoutes from './routes/tasks/index.js'
import type { Clock } from './services/clock.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export interface BuildAppOptions {
  /** Where log lines go instead of stdout; tests read them from here. */
  logStream?: DestinationStream
  /** A database client the caller owns; by default the app opens (and migrates) the configured database. */
  sql?: Sql
  /** The time services see (token expiry); tests move it. */
  clock?: Clock
}

/** The composition root: ecosystem plugins, then ours, then routes. */
export async function buildApp (config: Config, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: fastifyLogger(config, options.logStream),
    ...requestIdServerOptions(),
    bodyLimit: config.bodyLimit,
    schemaController: { compilersFactory: { buildValidator } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  // The API speaks JSON only: any other body is a 415, not a string handed to a handler.
  app.removeContentTypeParser('text/plain')
  await app.register(fp((instance) => { instance.decorate('config', config) }, { name: 'config' }))
  app.addSchema(ProblemSchema)
  await app.register(errors)
  await app.register(requestId)
  await app.register(docs)
  await app.register(db, { sql: options.sql })
  await app.register(mailer)
  await app.register(jobs)
  await app.register(services, { clock: options.clock })
  await app.register(auth)

  await app.register(healthRoutes)
  await app.register(authRoutes)
  await app.register(taskRoutes)
  return app
}
