import { AsyncLocalStorage } from 'node:async_hooks'
import type { SpanContext } from '@opentelemetry/api'
import type { FastifyBaseLogger } from 'fastify'

/** Whatever carries the logger of the work in progress: a Fastify request (its `log` grows bindings as it goes), a job run. */
export interface LogScope {
  readonly log: FastifyBaseLogger
  /**
   * Where the work sits in a trace (its span's context, or with tracing off
   * the caller's trace with a span id of its own), if it is part of one: the
   * jobs it enqueues continue it even when no span is active to say so.
   */
  readonly traceContext?: SpanContext | null
}

const scopes = new AsyncLocalStorage<LogScope>()

/** Runs fn, and everything it calls or awaits, with scope's logger as the current one. */
export function runInLogScope<T> (scope: LogScope, fn: () => T): T {
  return scopes.run(scope, fn)
}

/** The logger of the request or job in progress, if any. */
export function currentLog (): FastifyBaseLogger | undefined {
  return scopes.getStore()?.log
}

/** The trace context of the request or job in progress, if it belongs to a trace. */
export function currentTraceContext (): SpanContext | undefined {
  return scopes.getStore()?.traceContext ?? undefined
}

/**
 * A logger for code that knows nothing of requests (services, the mailer,
 * the database instrumentation): each call writes through the current
 * scope's logger, so the line carries its request id, user id and trace
 * ids, and through `base` outside any scope.
 */
export function contextualLogger (base: FastifyBaseLogger): FastifyBaseLogger {
  return new Proxy(base, {
    get (target, property) {
      const current = scopes.getStore()?.log ?? target
      const value: unknown = Reflect.get(current, property)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(current) : value
    }
  })
}
