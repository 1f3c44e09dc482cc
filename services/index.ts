import type { Tracer } from '@opentelemetry/api'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { Sql } from '../db/client.js'
import { tracedService } from '../observability/tracing.js'
import type { Clock } from './clock.js'
import { createTaskCursors } from './tasks/task-cursor.js'
import { createTasksService } from './tasks/tasks.js'

export interface ServiceDependencies {
  sql: Sql
  config: Config
  log: FastifyBaseLogger
  clock: Clock
  /** Each service call becomes a span (users.register, tasks.create, ...); unset, nothing is wrapped. */
  tracer?: Tracer | undefined
}

export type Services = ReturnType<typeof createServices>

/** Wires the services to each other and to the database; the one place that knows them all. */
export function createServices ({ sql, config, log, clock, tracer }: ServiceDependencies) {
  return {
    tasks: tracedService(tracer, 'tasks', createTasksService({ sql, cursors: createTaskCursors(config.auth.jwtSecret), clock, log }))
  }
}
