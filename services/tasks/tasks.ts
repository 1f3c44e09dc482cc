import { createHash } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { IdempotencyRepository } from '../../db/tasks/idempotency-repository.js'
import { TASK_SORT_KEYS, type TaskListQuery, type TaskSort, type TasksRepository, type TaskSortKey } from '../../db/tasks/tasks-repository.js'
import type { UnitOfWork } from '../../db/transaction.js'
import { BadRequestError, NotFoundError, UnprocessableError } from '../../errors.js'
import type { Clock } from '../clock.js'
import type { Task, TaskChanges, TaskFields, TaskInput, TaskPatch } from './schemas.js'
import type { TaskCursors } from './task-cursor.js'
import type { TaskEvents } from './task-events.js'

const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000
const DEFAULT_SORT: TaskSort = { key: 'createdAt', direction: 'desc' }

export interface TaskListRequest extends Omit<TaskListQuery, 'sort' | 'after'> {
  /** "createdAt", "-createdAt", ... */
  sort?: string
  cursor?: string
}

/** Versions the client holds (If-Match); undefined writes unconditionally. */
export type ExpectedVersions = number[] | undefined

export interface IdempotentCreate {
  key: string
  /** Anything that identifies the request body; hashed for comparison. */
  body: unknown
}

export type TasksService = ReturnType<typeof createTasksService>

export interface TasksServiceOptions {
  tasks: TasksRepository
  /**
   * Every write's transaction: the change and its events (webhooks' outbox) commit together; so do an
   * idempotent create's key claim, task and the answer kept for retries.
   */
  inTransaction: UnitOfWork<{ tasks: TasksRepository; idempotencyKeys: IdempotencyRepository; events: TaskEvents }>
  cursors: TaskCursors
  clock: Clock
  log: FastifyBaseLogger
}

/** Turns a client's task into stored fields: defaults for what is absent, whitespace trimmed from the title. */
export function toTaskFields (input: TaskInput): TaskFields {
  return {
    title: input.title.trim(),
    description: input.description ?? '',
    status: input.status ?? 'todo',
    priority: input.priority ?? 'medium',
    dueAt: input.dueAt === undefined || input.dueAt === null ? null : new Date(input.dueAt),
    tags: input.tags ?? []
  }
}

export function toTaskChanges (input: TaskPatch): TaskChanges {
  const changes: TaskChanges = {}
  if (input.title !== undefined) changes.title = input.title.trim()
  if (input.description !== undefined) changes.description = input.description
  if (input.status !== undefined) changes.status = input.status
  if (input.priority !== undefined) changes.priority = input.priority
  if (input.dueAt !== undefined) changes.dueAt = input.dueAt === null ? null : new Date(input.dueAt)
  if (input.tags !== undefined) changes.tags = input.tags
  return changes
}

export function parseSort (sort: string | undefined): TaskSort {
  if (sort === undefined) return DEFAULT_SORT
  const direction = sort.startsWith('-') ? 'desc' : 'asc'
  const key = sort.replace(/^-/, '')
  if (!(TASK_SORT_KEYS as readonly string[]).includes(key)) throw new BadRequestError(`Unknown sort: ${sort}`)
  return { key: key as TaskSortKey, direction }
}

/** A task stored as JSON (an idempotent replay's first answer) with its times as Dates again. */
export function reviveTask (json: unknown): Task {
  const stored = json as Record<keyof Task, unknown>
  const time = (value: unknown) => (typeof value === 'string' ? new Date(value) : null)
  return {
    ...(stored as unknown as Task),
    dueAt: time(stored.dueAt),
    createdAt: time(stored.createdAt) ?? new Date(Number.NaN),
    updatedAt: time(stored.updatedAt) ?? new Date(Number.NaN),
    completedAt: time(stored.completedAt)
  }
}

/** A stable hash of a JSON value: the same data in another key order hashes the same. */
export function hashRequestBody (body: unknown): Buffer {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical)
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, item]) => [key, canonical(item)]))
    }
    return value
  }
  return createHash('sha256').update(JSON.stringify(canonical(body))).digest()
}

/** The task rules; every method acts for one user and sees only that user's tasks. */
export function createTasksService ({ tasks, inTransaction, cursors, clock, log }: TasksServiceOptions) {
  async function createOnce (
    userId: string, fields: TaskFields, idempotency: IdempotentCreate
  ): Promise<{ task: Task; replayed: boolean }> {
    const requestHash = hashRequestBody(idempotency.body)
    const now = new Date(clock())
    return inTransaction(async ({ tasks, idempotencyKeys: keys, events }) => {
      // Expired keys go first, so that an old key is free to claim again and no table grows forever.
      await keys.purgeExpired(userId, now)
      const stored = await keys.claim(userId, idempotency.key, requestHash, new Date(now.getTime() + IDEMPOTENCY_WINDOW_MS))
      if (stored !== null) {
        if (!stored.requestHash.equals(requestHash)) {
          throw new UnprocessableError('This Idempotency-Key was used with another request body: use a new key for a new task')
        }
        return { task: reviveTask(stored.responseBody), replayed: true }
      }
      const task = await tasks.create(userId, fields)
      await events.record({ kind: 'created', task })
      await keys.saveResponse(userId, idempotency.key, 201, { ...task })
      return { task, replayed: false }
    })
  }

  return {
    async list (userId: string, request: TaskListRequest): Promise<{ items: Task[]; nextCursor: string | null }> {
      const sort = parseSort(request.sort)
      const { cursor, sort: _sort, ...filters } = request
      const after = cursor === undefined ? undefined : cursors.decode(userId, sort, cursor)
      const page = await tasks.listByUser(userId, { ...filters, sort, ...(after === undefined ? {} : { after }) })
      log.debug({ userId, count: page.items.length }, 'tasks listed')
      return { items: page.items, nextCursor: page.last === null ? null : cursors.encode(userId, sort, page.last) }
    },

    async get (userId: string, id: string): Promise<Task> {
      const task = await tasks.findForUser(userId, id)
      if (task === null) throw new NotFoundError('Task not found')
      log.debug({ userId, taskId: id }, 'task read')
      return task
    },

    /** With an Idempotency-Key, a retry of the same request gets the first answer instead of a second task. */
    async create (userId: string, input: TaskInput, idempotency?: IdempotentCreate): Promise<{ task: Task; replayed: boolean }> {
      const fields = toTaskFields(input)
      const result = idempotency === undefined
        ? { task: await inTransaction(async ({ tasks, events }) => recorded(events, await tasks.create(userId, fields), 'created')), replayed: false }
        : await createOnce(userId, fields, idempotency)
      if (!result.replayed) log.info({ userId, taskId: result.task.id }, 'task created')
      return result
    },

    /** PUT: every writable field is set; the ones not given go back to their defaults. */
    async replace (userId: string, id: string, input: TaskInput, expected: ExpectedVersions): Promise<Task> {
      return update(userId, id, toTaskFields(input), expected)
    },

    async patch (userId: string, id: string, input: TaskPatch, expected: ExpectedVersions): Promise<Task> {
      return update(userId, id, toTaskChanges(input), expected)
    },

    async complete (userId: string, id: string, expected: ExpectedVersions): Promise<Task> {
      return update(userId, id, { status: 'done' }, expected)
    },

    async remove (userId: string, id: string, expected: ExpectedVersions): Promise<void> {
      const task = await inTransaction(async ({ tasks, events }) => recorded(events, await tasks.delete(userId, id, expected), 'deleted'))
      log.info({ userId, taskId: task.id }, 'task deleted')
    }
  }

  /** A write and its events, in one transaction: a write refused (404, 412) or rolled back leaves no event. */
  async function update (userId: string, id: string, changes: TaskChanges, expected: ExpectedVersions): Promise<Task> {
    const { task, completed } = await inTransaction(async ({ tasks, events }) => {
      const task = await tasks.update(userId, id, changes, expected)
      // completed_at is set to the statement's now() only on the write that completes the task.
      const completed = task.completedAt?.getTime() === task.updatedAt.getTime()
      await events.record({ kind: 'updated', task, completed })
      return { task, completed }
    })
    if (completed) log.info({ userId: task.userId, taskId: task.id }, 'task completed')
    else log.debug({ userId: task.userId, taskId: task.id }, 'task updated')
    return task
  }

  async function recorded (events: TaskEvents, task: Task, kind: 'created' | 'deleted'): Promise<Task> {
    await events.record({ kind, task })
    return task
  }
}
