import {
  context, defaultTextMapGetter, defaultTextMapSetter, propagation, ROOT_CONTEXT, SpanStatusCode, trace,
  type Context, type Span, type SpanContext, type Tracer
} from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { parseTraceParent, W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, NodeTracerProvider, RandomIdGenerator, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-node'
import { ATTR_ERROR_TYPE, ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions'
import { DomainError } from '../errors.js'
import { currentTraceContext } from './log-context.js'

export const TRACER_NAME = 'taskforge'
/** At shutdown, spans still buffered get this long to leave; a collector that is away must not hold the process. */
const FINAL_EXPORT_MS = 3000

export interface TracingOptions {
  serviceName: string
  /** OTEL_EXPORTER_OTLP_ENDPOINT: spans go to `${endpoint}/v1/traces` over OTLP/HTTP, in batches. */
  endpoint: string | undefined
  /** Tests: every span goes straight to this exporter (an InMemorySpanExporter). */
  exporter?: SpanExporter | undefined
}

export interface Tracing {
  provider: NodeTracerProvider
  tracer: Tracer
  /** Exports what is still buffered (for FINAL_EXPORT_MS at most) and stops; rejects if the spans could not leave. */
  shutdown: () => Promise<void>
}

const w3c = new W3CTraceContextPropagator()
let propagationInstalled = false

/**
 * The active context follows async work (AsyncLocalStorage), and incoming
 * `traceparent` headers continue the caller's trace. Both are process-wide
 * settings of @opentelemetry/api, made once and only when tracing is on.
 */
function installContextPropagation (): void {
  if (propagationInstalled) return
  propagationInstalled = true
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  propagation.setGlobalPropagator(w3c)
}

/**
 * A tracer provider when there is somewhere to send spans, else undefined:
 * then nothing is instrumented at all (no context manager, no spans, no
 * wrappers), which is what "tracing off costs next to nothing" means here.
 */
export function startTracing ({ serviceName, endpoint, exporter }: TracingOptions): Tracing | undefined {
  if (endpoint === undefined && exporter === undefined) return undefined
  installContextPropagation()
  const processor = exporter === undefined
    ? new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint?.replace(/\/+$/, '') ?? ''}/v1/traces` }))
    : new SimpleSpanProcessor(exporter)
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
    spanProcessors: [processor]
  })
  const shutdown = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`the last spans were not exported within ${FINAL_EXPORT_MS} ms`)) }, FINAL_EXPORT_MS)
      timer.unref()
    })
    try {
      await Promise.race([provider.shutdown(), late])
    } finally {
      clearTimeout(timer)
    }
  }
  return { provider, tracer: provider.getTracer(TRACER_NAME), shutdown }
}

/** trace_id and span_id of a span's context, for log lines; nothing when there is no valid one. */
export function traceLogFields (spanContext: SpanContext | undefined): { trace_id: string; span_id: string } | undefined {
  if (spanContext === undefined || !trace.isSpanContextValid(spanContext)) return undefined
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId }
}

const spanIds = new RandomIdGenerator()

/**
 * With tracing off, the place of a piece of work (a request, a job run) in
 * the trace a W3C traceparent names: the same trace id and flags, a span id
 * of its own, as a span would have, though none is made or recorded.
 * Undefined for a traceparent that is not valid, which is then ignored.
 */
export function continueTrace (traceparent: string): SpanContext | undefined {
  const parent = parseTraceParent(traceparent)
  if (parent === null) return undefined
  return { traceId: parent.traceId, spanId: spanIds.generateSpanId(), traceFlags: parent.traceFlags }
}

function traceparentOf (traceContext: Context): string | undefined {
  const carrier: Record<string, string> = {}
  w3c.inject(traceContext, carrier, defaultTextMapSetter)
  return carrier.traceparent
}

/**
 * The W3C traceparent of the active span, else of the request or job in
 * progress (tracing off, a caller's trace continued), e.g. to store with a
 * job; null when the work is part of no trace.
 */
export function activeTraceparent (): string | null {
  const traced = traceparentOf(context.active())
  if (traced !== undefined) return traced
  const untraced = currentTraceContext()
  return untraced === undefined ? null : traceparentOf(trace.setSpanContext(ROOT_CONTEXT, untraced)) ?? null
}

/** A context whose parent is the span a traceparent names; the root context without one. */
export function contextFromTraceparent (traceparent: string | null): Context {
  if (traceparent === null) return ROOT_CONTEXT
  return w3c.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter)
}

/**
 * Marks a span as failed by an exception. Domain errors (not found, bad
 * credentials, ...) are answers, not failures: they are recorded as an
 * error.type but leave the span's status alone. An unavailable database is a
 * failure, though the repository made it a domain error too.
 */
export function recordSpanFailure (span: Span, error: unknown): void {
  if (error instanceof DomainError && error.kind !== 'unavailable') {
    span.setAttribute(ATTR_ERROR_TYPE, error.kind)
    return
  }
  const failure = error instanceof Error ? error : new Error(String(error))
  span.recordException(failure)
  span.setAttribute(ATTR_ERROR_TYPE, failure.name)
  span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message })
}

function isPromiseLike (value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

/** fn inside an active span named `name`: a child of the caller's span, and the parent of whatever fn does. */
export function traced<A extends unknown[], R> (tracer: Tracer, name: string, fn: (...args: A) => R): (...args: A) => R {
  return (...args: A): R => tracer.startActiveSpan(name, (span) => {
    try {
      const result = fn(...args)
      if (!isPromiseLike(result)) {
        span.end()
        return result
      }
      return Promise.resolve(result).then((value) => {
        span.end()
        return value
      }, (error: unknown) => {
        recordSpanFailure(span, error)
        span.end()
        throw error
      }) as R
    } catch (error) {
      recordSpanFailure(span, error)
      span.end()
      throw error
    }
  })
}

/**
 * The service with a span around each of its methods (`users.register`, ...);
 * the service itself when tracing is off.
 */
export function tracedService<S extends object> (tracer: Tracer | undefined, name: string, service: S): S {
  if (tracer === undefined) return service
  const wrapped: Record<string, unknown> = { ...(service as Record<string, unknown>) }
  for (const [method, value] of Object.entries(service)) {
    if (typeof value === 'function') wrapped[method] = traced(tracer, `${name}.${method}`, value as (...args: unknown[]) => unknown)
  }
  return wrapped as S
}
