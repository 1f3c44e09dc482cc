import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api'
import {
  ATTR_DB_COLLECTION_NAME, ATTR_DB_NAMESPACE, ATTR_DB_OPERATION_NAME, ATTR_DB_QUERY_SUMMARY, ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_STATUS_CODE, ATTR_DB_SYSTEM_NAME, ATTR_ERROR_TYPE, DB_SYSTEM_NAME_VALUE_POSTGRESQL
} from '@opentelemetry/semantic-conventions'
import type { FastifyBaseLogger } from 'fastify'
import type { QueryObserver } from '../db/instrumented-sql.js'
import { currentLog } from './log-context.js'
import type { AppMetrics } from './metrics.js'

export interface QueryObserverOptions {
  tracer: Tracer | undefined
  metrics: AppMetrics
  log: FastifyBaseLogger
  /** The database's name, for db.namespace. */
  database?: string | undefined
}

/** The SQLSTATE of a PostgreSQL error, or the code of a driver error (CONNECTION_CLOSED, ...). */
function errorCode (error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  return typeof code === 'string' ? code : undefined
}

/**
 * Each query: a client span (a child of the active span, named like
 * "SELECT users", the statement in db.query.text, no parameters), a sample of
 * the duration histogram, and at LOG_LEVEL=trace a log line with its timing.
 * A failed query's span carries its error code but not its message, which
 * for some errors quotes a value.
 */
export function createQueryObserver ({ tracer, metrics, log, database }: QueryObserverOptions): QueryObserver {
  const logQueries = log.level === 'trace'
  return {
    start (statement) {
      const startedAt = performance.now()
      metrics.queryStarted()
      const span = tracer?.startSpan(statement.summary, {
        kind: SpanKind.CLIENT,
        attributes: {
          [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
          [ATTR_DB_OPERATION_NAME]: statement.operation,
          [ATTR_DB_QUERY_SUMMARY]: statement.summary,
          ...(statement.table === undefined ? {} : { [ATTR_DB_COLLECTION_NAME]: statement.table }),
          ...(statement.text === undefined ? {} : { [ATTR_DB_QUERY_TEXT]: statement.text }),
          ...(database === undefined ? {} : { [ATTR_DB_NAMESPACE]: database })
        }
      })
      return (error) => {
        const seconds = (performance.now() - startedAt) / 1000
        const failed = error !== undefined
        metrics.queryFinished(statement.operation, statement.table, failed, seconds)
        if (span !== undefined) {
          if (failed) {
            const code = errorCode(error) ?? 'unknown'
            span.setAttributes({ [ATTR_ERROR_TYPE]: code, [ATTR_DB_RESPONSE_STATUS_CODE]: code })
            span.setStatus({ code: SpanStatusCode.ERROR })
          }
          span.end()
        }
        if (logQueries) {
          (currentLog() ?? log).trace({ sql: statement.summary, durationMs: Math.round(seconds * 10_000) / 10, ...(failed ? { errorCode: errorCode(error) } : {}) }, 'sql query')
        }
      }
    }
  }
}
