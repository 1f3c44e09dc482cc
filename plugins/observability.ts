import { FastifyOtelInstrumentation } from '@fastify/otel'
import { context, diag, DiagLogLevel, SpanStatusCode, type Span, type SpanContext, type Tracer } from '@opentelemetry/api'
import type { SpanExporter } from '@opentelemetry/sdk-trace-node'
import { ATTR_URL_PATH } from '@opentelemetry/semantic-conventions'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Sql } from '../db/client.js'
import { instrumentSql } from '../db/instrumented-sql.js'
import { createQueryObserver } from '../observability/database.js'
import { contextualLogger, runInLogScope } from '../observability/log-context.js'
import { createMetrics, type AppMetrics } from '../observability/metrics.js'
import { continueTrace, startTracing, traceLogFields } from '../observability/tracing.js'

declare module 'fastify' {
  interface FastifyInstance {
    observability: Observability
  }
  interface FastifyRequest {
    /**
     * The request's place in a trace, null when it has none: its span's
     * context, or with tracing off the trace of the caller's traceparent
     * with a span id of the request's own. Its log lines carry it, and the
     * jobs it enqueues continue it.
     */
    traceContext: SpanContext | null
  }
}

export interface Observability {
  /** Undefined when tracing is off (no OTEL_EXPORTER_OTLP_ENDPOINT): then nothing is wrapped in spans. */
  tracer: Tracer | undefined
  metrics: AppMetrics
  /** For code that knows no request: writes through the current request's (or job's) logger, so its lines carry their ids. */
  log: FastifyBaseLogger
  /** The client with every query measured: a span, a histogram sample, a log line at trace level. */
  instrumentSql: (sql: Sql, database?: string) => Sql
}

export interface ObservabilityPluginOptions {
  /** Tests: every span goes to this exporter (an InMemorySpanExporter), whether or not an OTLP endpoint is set. */
  traceExporter?: SpanExporter | undefined
}

/** The request span's name is the route template ("GET /tasks/:id"), never the URL; its url.path has no query string. */
function describeRequestSpan (span: Span, request: FastifyRequest): void {
  const route = request.routeOptions.url
  span.updateName(route === undefined ? request.method : `${request.method} ${route}`)
  span.setAttributes({ [ATTR_URL_PATH]: request.url.split('?')[0] ?? '/', 'taskforge.request_id': request.id })
}

/** OpenTelemetry's own troubles (an export that failed, a collector that is away) as warnings in our log, not silence. */
function reportTelemetryProblems (log: FastifyBaseLogger): void {
  const warn = (message: string, ...details: unknown[]) => {
    log.warn({ details: details.map((detail) => detail instanceof Error ? detail.message : String(detail)) }, `opentelemetry: ${message}`)
  }
  const ignore = () => undefined
  diag.setLogger(
    { error: warn, warn, info: ignore, debug: ignore, verbose: ignore },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true }
  )
}

/**
 * The trace a request continues when tracing is off: the caller's, if its
 * traceparent header is valid W3C Trace Context. Only the ids are kept (no
 * tracer, no span): they go into the log lines and on with the jobs. A
 * request without the header costs this one look at the headers.
 */
function callersTrace (request: FastifyRequest): SpanContext | undefined {
  const traceparent = request.headers.traceparent
  return typeof traceparent === 'string' ? continueTrace(traceparent) : undefined
}

/**
 * The trace ids on every line the request's logger writes from now on. In
 * place, as plugins/auth.ts binds the user id: a child of the request's
 * brand-new logger costs some 20 µs (pino makes the parent a prototype);
 * a custom logger without setBindings gets a child all the same.
 */
function bindTraceIds (request: FastifyRequest, reply: FastifyReply, fields: Record<string, string>): void {
  const log = request.log as FastifyBaseLogger & { setBindings?: (bindings: Record<string, unknown>) => void }
  if (typeof log.setBindings === 'function') {
    log.setBindings(fields)
    return
  }
  request.log = log.child(fields)
  reply.log = request.log
}

/**
 * Logs, traces and metrics around every request: the request's log lines
 * carry its trace ids (with tracing off too, when the caller sent a
 * traceparent), and code that knows no request logs through it too;
 * a span per request (@fastify/otel) when tracing is on; HTTP metrics by
 * route template (routes/metrics.ts serves them).
 */
export default fp<ObservabilityPluginOptions>(async (app, options) => {
  const tracingConfig = app.config.observability.tracing
  const tracing = startTracing({ ...tracingConfig, exporter: options.traceExporter })
  const metrics = createMetrics()
  const tracer = tracing?.tracer
  app.decorate('observability', {
    tracer,
    metrics,
    log: contextualLogger(app.log),
    instrumentSql: (sql: Sql, database?: string) => instrumentSql(sql, createQueryObserver({ tracer, metrics, log: app.log, database }))
  })

  if (tracing !== undefined) {
    // One span per request. None per hook (it would triple the spans and say
    // little) nor for the handler: the hooks below carry the request's
    // context into the handler, so service spans are the request span's children.
    const instrumentation = new FastifyOtelInstrumentation({
      instrumentHooks: false,
      instrumentHandler: false,
      requestHook: describeRequestSpan
    })
    instrumentation.setTracerProvider(tracing.provider)
    await app.register(instrumentation.plugin())
    // @fastify/otel marks the request span failed for any error thrown, a 404
    // included; an answer below 500 is the server doing its job. (OTel lets
    // the application, not an instrumentation, set OK, and OK is final.)
    app.addHook('onSend', (request, reply, payload, done) => {
      const { span } = request.opentelemetry()
      if (span !== null && reply.statusCode < 500) span.setStatus({ code: SpanStatusCode.OK })
      done(null, payload)
    })
    app.addHook('onClose', async () => {
      await tracing.shutdown().catch((error: unknown) => { app.log.warn({ err: error }, 'tracing: the last spans were lost') })
    })
    if (tracingConfig.endpoint !== undefined) {
      reportTelemetryProblems(app.log.child({ component: 'otel' }))
      app.log.info(`tracing: spans exported over OTLP/HTTP to ${tracingConfig.endpoint}`)
    }
  }

  /**
   * The request's trace context (when traced) and log scope, for everything
   * from the route's own work on: entered once the body is read (reading it
   * leaves the request's async context), which is before any service runs.
   * Nothing earlier logs through the scope, so one entry is enough: each
   * costs an AsyncLocalStorage run, which Node 20 pays for in promise hooks.
   */
  const enterRequestScope = (request: FastifyRequest, done: () => void): void => {
    if (tracing === undefined) {
      runInLogScope(request, done)
      return
    }
    const traceContext = request.opentelemetry().context ?? context.active()
    context.with(traceContext, () => { runInLogScope(request, done) })
  }

  app.decorateRequest('traceContext', null)
  // The first of every request's hooks after @fastify/otel's, which starts its span.
  app.addHook('onRequest', (request, reply, done) => {
    const traceContext = tracing === undefined ? callersTrace(request) : request.opentelemetry().span?.spanContext()
    const traceFields = traceLogFields(traceContext)
    if (traceContext !== undefined && traceFields !== undefined) {
      request.traceContext = traceContext
      bindTraceIds(request, reply, traceFields)
    }
    request.log.info({ req: request }, 'incoming request')
    // Traced: the span's context from the first hook on, so that what the early hooks do is part of the trace.
    if (tracing === undefined) done()
    else enterRequestScope(request, done)
  })
  app.addHook('preValidation', (request, _reply, done) => {
    enterRequestScope(request, done)
  })
  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000)
    done()
  })
}, { name: 'observability', dependencies: ['config'] })
