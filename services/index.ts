import type { Tracer } from '@opentelemetry/api'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { Sql } from '../db/client.js'
import { tracedService } from '../observability/tracing.js'
import type { jobCatalog } from './jobs/catalog.js'
import type { JobQueue } from '../plugins/jobs/queue.js'
import { createAccessTokens } from './auth/access-tokens.js'
import type { Clock } from './clock.js'
import { createPasswordHasher } from './auth/passwords.js'
import { createRefreshTokens } from './auth/refresh-tokens.js'
import { createTaskCursors } from './tasks/task-cursor.js'
import { createTasksService } from './tasks/tasks.js'
import { createUsersService } from './auth/users.js'

export interface ServiceDependencies {
  sql: Sql
  config: Config
  log: FastifyBaseLogger
  clock: Clock
  jobs: JobQueue<typeof jobCatalog>
  /** Each service call becomes a span (users.register, tasks.create, ...); unset, nothing is wrapped. */
  tracer?: Tracer | undefined
}

export type Services = ReturnType<typeof createServices>

/** Wires the services to each other and to the database; the one place that knows them all. */
export function createServices ({ sql, config, log, clock, jobs, tracer }: ServiceDependencies) {
  const passwords = createPasswordHasher(config.auth.argon2)
  return {
    users: tracedService(tracer, 'users', createUsersService({
      sql,
      passwords,
      log,
      // The welcome email is queued in the transaction that creates the user: both or neither.
      onRegistered: async (tx, user) => {
        await jobs.enqueue('welcome-email', { userId: user.id, email: user.email, name: user.name }, { sql: tx })
      }
    })),
    // Signing and checking a JWT takes microseconds, less than a span of its own would: not traced.
    accessTokens: createAccessTokens({ secret: config.auth.jwtSecret, ttlSeconds: config.auth.accessTokenTtlSeconds, clock }),
    refreshTokens: tracedService(tracer, 'refreshTokens', createRefreshTokens({ sql, ttlSeconds: config.auth.refreshTokenTtlSeconds, maxAgeSeconds: config.auth.refreshTokenMaxAgeSeconds, clock, log })),
    tasks: tracedService(tracer, 'tasks', createTasksService({ sql, cursors: createTaskCursors(config.auth.jwtSecret), clock, log }))
  }
}
