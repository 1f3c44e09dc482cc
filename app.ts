import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { SpanExporter } from '@opentelemetry/sdk-trace-node'
import Fastify, { type FastifyInstance } from 'fastify'
import type { DestinationStream } from 'pino'
import type { Config } from './config.js'
import type { Sql } from './db/client.js'
import auth from './plugins/auth.js'
import availability from './plugins/availability.js'
import configPlugin from './plugins/config.js'
import db from './plugins/db.js'
import docs from './plugins/docs.js'
import errors, { clientErrorHandler, frameworkErrors } from './plugins/errors.js'
import jobs from './plugins/jobs/index.js'
import { fastifyLogger } from './plugins/logger.js'
import mailer from './plugins/mailer.js'
import metricsListener from './plugins/metrics-listener.js'
import observability from './plugins/observability.js'
import { ProblemSchema } from './plugins/problem.js'
import rateLimits from './plugins/rate-limits.js'
import requestId, { requestIdServerOptions } from './plugins/request-id.js'
import requestTimeout from './plugins/request-timeout.js'
import security from './plugins/security.js'
import tasks from './plugins/tasks.js'
import webhooks from './plugins/webhooks.js'
import { buildValidator } from './plugins/validation.js'
import authRoutes from './routes/auth/index.js'
import healthRoutes from './routes/health.js'
import metricsRoutes from './routes/metrics.js'
import taskRoutes from './routes/tasks/index.js'
import webhookRoutes from './routes/webhooks/index.js'
import type { Clock } from './services/clock.js'
import type { HostResolver } from './services/webhooks/address-policy.js'

export interface BuildAppOptions {
  /** Where log lines go instead of stdout; tests read them from here. */
  logStream?: DestinationStream
  /** A database client the caller owns; by default the app opens (and migrates) the configured database. */
  sql?: Sql
  /** The time services and jobs see (token expiry, what the purge deletes); tests move it. */
  clock?: Clock
  /** Tests: spans go to this exporter (an InMemorySpanExporter) as they end, whatever OTEL_EXPORTER_OTLP_ENDPOINT says. */
  traceExporter?: SpanExporter
  /** How webhook URLs' host names resolve, at save and at delivery (the system's resolver by default); tests inject one. */
  resolveHost?: HostResolver
}

/** TRUST_PROXY=n: believe the n proxies nearest to us (Fastify's types have no number form). */
function trustHops (hops: number) {
  return (_address: string, hop: number) => hop < hops
}

/** The composition root: ecosystem plugins, then ours, then routes. */
export async function buildApp (config: Config, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: fastifyLogger(config, options.logStream),
    ...requestIdServerOptions(),
    bodyLimit: config.bodyLimit,
    // Node's 5 s by default, not Fastify's 72 s: shutdown leaves a kept-alive connection to the client until then.
    keepAliveTimeout: config.keepAliveTimeoutMs,
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : config.trustProxy,
    // plugins/availability.ts answers requests that arrive while closing, as a problem.
    return503OnClosing: false,
    // Long enough for any id a client might paste (malformed ids get the 404 API.md promises); longer is a 414 problem.
    routerOptions: { maxParamLength: 500 },
    frameworkErrors,
    // What Node's HTTP parser refuses (a 20 KB header, a malformed request line) is a problem too.
    clientErrorHandler,
    schemaController: { compilersFactory: { buildValidator } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  // The API speaks JSON only: any other body is a 415, not a string handed to a handler.
  app.removeContentTypeParser('text/plain')
  await app.register(configPlugin, { config })
  app.addSchema(ProblemSchema)
  await app.register(errors)
  await app.register(requestId)
  // Before every plugin with request hooks, so that a request's span and log scope exist when they run.
  await app.register(observability, { traceExporter: options.traceExporter })
  // Security headers and CORS first: the 503s of availability answer from their own hook, and carry them too.
  await app.register(security)
  // A last bound on every request: a query stuck on a connection the database dropped must not hold its client forever.
  await app.register(requestTimeout)
  await app.register(availability)
  await app.register(docs)
  // The app's concerns, each decorating what it owns for those after it: app.sql, app.mailer, app.jobs, app.auth, app.webhooks, app.tasks.
  await app.register(db, { sql: options.sql })
  await app.register(mailer)
  await app.register(jobs, { clock: options.clock, resolveHost: options.resolveHost })
  await app.register(auth, { clock: options.clock })
  await app.register(webhooks, { clock: options.clock, resolveHost: options.resolveHost })
  await app.register(tasks, { clock: options.clock })
  await app.register(rateLimits)

  await app.register(healthRoutes)
  await app.register(metricsRoutes)
  await app.register(metricsListener)
  await app.register(authRoutes)
  await app.register(taskRoutes)
  await app.register(webhookRoutes)
  return app
}
