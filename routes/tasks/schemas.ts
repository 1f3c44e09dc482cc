import { Type, type Static } from '@sinclair/typebox'
import { StringEnum, Text } from '../../schemas.js'
import { TagSchema, TaskPrioritySchema, TaskSchema, TaskStatusSchema } from '../../services/tasks/schemas.js'
import { problemResponse, reference } from '../shared-schemas.js'

export const TaskRef = reference<typeof TaskSchema>('Task')

export const TaskParams = Type.Object({ id: Type.String({ description: 'The task id (a UUID)' }) })

export const DEFAULT_PAGE_SIZE = 20

const SORTS = ['createdAt', '-createdAt', 'dueAt', '-dueAt', 'priority', '-priority', 'updatedAt', '-updatedAt'] as const

export const TaskListQuery = Type.Object({
  status: Type.Optional(Type.Array(TaskStatusSchema, { description: 'Repeatable: any of these statuses' })),
  priority: Type.Optional(Type.Array(TaskPrioritySchema, { description: 'Repeatable: any of these priorities' })),
  tag: Type.Optional(Type.Array(TagSchema, { maxItems: 20, description: 'Repeatable: tasks that carry every one of these tags' })),
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
