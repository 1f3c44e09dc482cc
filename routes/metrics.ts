import { createHash, timingSafeEqual } from 'node:crypto'
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { context } from '@opentelemetry/api'
import { suppressTracing } from '@opentelemetry/core'
import type { onRequestHookHandler } from 'fastify'
import { UnauthorizedError } from '../errors.js'
import type { AppMetrics } from '../observability/metrics.js'
import { problems } from '../plugins/problem.js'
import { problemResponse } from './shared-schemas.js'

const METRICS_EXAMPLE = [
  '# HELP http_requests_total HTTP requests answered, by method, route template and status code',
  '# TYPE http_requests_total counter',
  'http_requests_total{method="GET",route="/tasks",status_code="200"} 42',
  ''
].join('\n')

/** Compares digests, so the time a wrong guess takes says nothing of the token's length or prefix. */
function bearerTokenCheck (token: string): onRequestHookHandler {
  const expected = createHash('sha256').update(`Bearer ${token}`).digest()
  return (request, _reply, done) => {
    const given = createHash('sha256').update(request.headers.authorization ?? '').digest()
    if (timingSafeEqual(given, expected)) done()
    else done(new UnauthorizedError('GET /metrics needs the METRICS_TOKEN: send Authorization: Bearer <token>'))
  }
}

export interface MetricsRouteOptions {
  metrics: AppMetrics
  /** METRICS_TOKEN: when set, scrapes must send `Authorization: Bearer <token>`. */
  token: string | undefined
}

/** GET /metrics for Prometheus on the instance it is registered in: the public listener, or plugins/metrics-listener.ts's own. */
export const metricsRoute: FastifyPluginAsyncTypebox<MetricsRouteOptions> = async (app, { metrics, token }) => {
  app.get('/metrics', {
    schema: {
      operationId: 'getMetrics',
      summary: 'Prometheus metrics: requests, jobs, database, process',
      description: 'The Prometheus text format. When METRICS_TOKEN is set, send it as `Authorization: Bearer <token>`. ' +
        'In production this listener serves it only when METRICS_TOKEN is set; METRICS_PORT serves it on a listener of its own instead.',
      // The METRICS_TOKEN is not a user's credential: the operation is public as far as the API's security scheme goes.
      security: [],
      response: {
        200: {
          description: 'Prometheus text exposition format 0.0.4',
          content: { 'text/plain': { schema: Type.String(), example: METRICS_EXAMPLE } }
        },
        401: problemResponse('METRICS_TOKEN is set and the request did not carry it', problems.unauthorized)
      }
    },
    logLevel: 'warn',
    // A scrape every few seconds would bury the traces that matter.
    config: { otel: false },
    ...(token === undefined ? {} : { onRequest: bearerTokenCheck(token) })
  }, async (_request, reply) => {
    // Counting the job queue is a query: untraced, like the scrape itself.
    const text = await context.with(suppressTracing(context.active()), () => metrics.render())
    return reply.type(metrics.contentType).send(text)
  })
}

/** GET /metrics on the public listener, when config.ts says it is served there (see Config's onPublicListener). */
const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { onPublicListener, token } = app.config.observability.metrics
  if (onPublicListener) await app.register(metricsRoute, { metrics: app.observability.metrics, token })
}

export default metricsRoutes
