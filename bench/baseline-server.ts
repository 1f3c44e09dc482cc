/**
 * The bare baseline: the smallest Fastify server that runs taskforge's own
 * SQL for the list and get scenarios (the same repository functions, the
 * same postgres.js client options and pool size), with no authentication,
 * validation, schemas, hooks or logging. Every request acts for one user,
 * BENCH_USER_ID. Fastify serializes the rows with JSON.stringify.
 *
 * GET /health/live                      {status: "ok"}
 * GET /tasks?status=&priority=&afterCreatedAt=&afterId=   a page of 20, newest first
 * GET /tasks/:id                        one task
 */
import Fastify from 'fastify'
import pino from 'pino'
import { createSql } from '../db/client.js'
import { createTasksRepository } from '../db/tasks/tasks-repository.js'
import type { TaskPriority, TaskStatus } from '../services/tasks/schemas.js'

function required (name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is required`)
  return value
}

const userId = required('BENCH_USER_ID')
const sql = createSql(required('DATABASE_URL'), {
  poolMax: Number(process.env.DB_POOL_MAX ?? '10'),
  statementTimeoutMs: 10_000,
  log: pino({ level: 'silent' })
})
const tasks = createTasksRepository(sql)
const app = Fastify({ logger: false })

interface ListQuery { status?: string; priority?: string; afterCreatedAt?: string; afterId?: string }

app.get('/health/live', () => ({ status: 'ok' }))

app.get('/tasks', async (request) => {
  const query = request.query as ListQuery
  const page = await tasks.listByUser(userId, {
    statuses: query.status === undefined ? undefined : [query.status as TaskStatus],
    priorities: query.priority === undefined ? undefined : [query.priority as TaskPriority],
    sort: { key: 'createdAt', direction: 'desc' },
    limit: 20,
    after: query.afterCreatedAt === undefined || query.afterId === undefined
      ? undefined
      : { value: new Date(query.afterCreatedAt), id: query.afterId }
  })
  return { items: page.items, nextCursor: page.last?.id ?? null }
})

app.get('/tasks/:id', async (request, reply) => {
  const task = await tasks.findForUser(userId, (request.params as { id: string }).id)
  return task ?? reply.code(404).send({ status: 404 })
})

const close = (): void => {
  app.close().then(() => sql.end({ timeout: 5 })).then(() => process.exit(0), () => process.exit(1))
}
process.once('SIGTERM', close)
process.once('SIGINT', close)

await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? '3001') })
