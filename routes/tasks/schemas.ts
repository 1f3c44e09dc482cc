import { Type, type Static } from '@sinclair/typebox'
import { TASK_PRIORITIES, TASK_STATUSES } from '../../db/tasks/tasks-repository.js'
import { DateTime, problemResponse, reference, StringEnum, Text } from '../shared-schemas.js'

const Status = StringEnum(TASK_STATUSES)
const Priority = StringEnum(TASK_PRIORITIES)
const Tag = Text({ minLength: 1, maxLength: 50 })

export const TaskSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  title: Type.String(),
  description: Type.String(),
  status: Status,
  priority: Priority,
  dueAt: Type.Union([DateTime(), Type.Null()]),
  tags: Type.Array(Type.String()),
  createdAt: DateTime(),
  updatedAt: DateTime(),
  completedAt: Type.Union([DateTime({ description: 'Set when the status becomes done, cleared when it leaves done' }), Type.Null()]),
  version: Type.Integer({ minimum: 1, description: 'Starts at 1, grows by one on every change; the ETag is "<version>"' })
}, { $id: 'Task', title: 'Task' })

export const TaskRef = reference<typeof TaskSchema>('Task')

const writable = {
  // Trimmed before this check, so a blank title fails minLength.
  title: Text({ minLength: 1, maxLength: 200, description: '1 to 200 characters, not blank' }),
  description: Text({ maxLength: 10_000, description: 'At most 10,000 characters; default ""' }),
  status: Status,
  priority: Priority,
  dueAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'RFC 3339, or null' }),
  tags: Type.Array(Tag, { maxItems: 20, uniqueItems: true, description: 'At most 20 distinct tags of 1 to 50 characters; default []' })
}

/** POST and PUT: title required, everything else optional (absent means the default). */
export const TaskInputBody = Type.Object({
  title: writable.title,
  description: Type.Optional(writable.description),
  status: Type.Optional(writable.status),
  priority: Type.Optional(writable.priority),
  dueAt: Type.Optional(writable.dueAt),
  tags: Type.Optional(writable.tags)
}, { additionalProperties: false })

export const TaskPatchBody = Type.Partial(Type.Object(writable), { additionalProperties: false, minProperties: 1 })

export const TaskParams = Type.Object({ id: Type.String({ description: 'The task id (a UUID)' }) })

export const DEFAULT_PAGE_SIZE = 20

const SORTS = ['createdAt', '-createdAt', 'dueAt', '-dueAt', 'priority', '-priority', 'updatedAt', '-updatedAt'] as const

export const TaskListQuery = Type.Object({
  status: Type.Optional(Type.Array(Status, { description: 'Repeatable: any of these statuses' })),
  priority: Type.Optional(Type.Array(Priority, { description: 'Repeatable: any of these priorities' })),
  tag: Type.Optional(Type.Array(Tag, { maxItems: 20, description: 'Repeatable: tasks that carry every one of these tags' })),
  q: Type.Optional(Text({ minLength: 1, maxLength: 200, description: 'Case-insensitive text in the title or description' })),
  dueBefore: Type.Optional(Type.String({ format: 'date-time' })),
  dueAfter: Type.Optional(Type.String({ format: 'date-time' })),
  sort: Type.Optional(StringEnum(SORTS, { default: '-createdAt', description: 'Ties are broken by id; tasks without a due date come last' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: DEFAULT_PAGE_SIZE })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'nextCursor of the previous page' }))
}, { additionalProperties: false })
export type TaskListQuery = Static<typeof TaskListQuery>

export const TaskPage = Type.Object({
  items: Type.Array(TaskRef),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page; null on the last page' })
})

export const CreateHeaders = Type.Object({
  'idempotency-key': Type.Optional(Text({ minLength: 1, maxLength: 255, description: 'Retries with the same key and body within 24 hours get the first answer' }))
})

export const WriteHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: '"<version>" from the ETag: the write happens only if the task still has it' }))
})

export const problems = {
  400: problemResponse('The request is invalid'),
  401: problemResponse('Missing, invalid or expired access token'),
  404: problemResponse('No such task of yours'),
  412: problemResponse('If-Match does not match the task\'s current version'),
  422: problemResponse('The Idempotency-Key was used with another body'),
  429: problemResponse('Too many requests')
}
