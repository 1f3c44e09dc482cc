import fp from 'fastify-plugin'
import { createIdempotencyRepository } from '../db/tasks/idempotency-repository.js'
import { createTasksRepository } from '../db/tasks/tasks-repository.js'
import { unitOfWork } from '../db/transaction.js'
import { tracedService } from '../observability/tracing.js'
import { systemClock, type Clock } from '../services/clock.js'
import { createTaskCursors } from '../services/tasks/task-cursor.js'
import { createTasksService, type TasksService } from '../services/tasks/tasks.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The task rules: every method acts for one user and sees only that user's tasks. */
    tasks: TasksService
  }
}

export interface TasksPluginOptions {
  /** The time idempotency keys expire by; tests move it. */
  clock?: Clock
}

/**
 * Per-user tasks: decorates app.tasks, the task service on its repositories;
 * every write records its events in the webhooks' outbox, in its transaction.
 * Its paging cursors are signed with a key derived from JWT_SECRET.
 */
export default fp<TasksPluginOptions>(async (app, { clock = systemClock }) => {
  const { tracer, log } = app.observability
  app.decorate('tasks', tracedService(tracer, 'tasks', createTasksService({
    tasks: createTasksRepository(app.sql),
    inTransaction: unitOfWork(app.sql, (tx) => ({
      tasks: createTasksRepository(tx),
      idempotencyKeys: createIdempotencyRepository(tx),
      events: app.webhookOutbox.within(tx)
    })),
    cursors: createTaskCursors(app.config.auth.jwtSecret),
    clock,
    log
  })))
}, { name: 'tasks', dependencies: ['config', 'observability', 'db', 'webhooks'] })
