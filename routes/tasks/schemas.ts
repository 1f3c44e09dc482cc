import { Type, type Static } from '@sinclair/typebox'
import { problems } from '../../plugins/problem.js'
import { StringEnum, Text } from '../../schemas.js'
import {
  TagSchema, TASK_EXAMPLE, TaskPrioritySchema, TaskStatusSchema, type TaskInputSchema, type TaskPatchSchema, type TaskSchema
} from '../../services/tasks/schemas.js'
import { problemResponse, reference, withHeaders } from '../shared-schemas.js'

export const TaskRef = reference<typeof TaskSchema>('Task')
export const TaskInputRef = reference<typeof TaskInputSchema>('TaskInput')
export const TaskPatchRef = reference<typeof TaskPatchSchema>('TaskPatch')

export const TaskParams = Type.Object({ id: Type.String({ description: 'The task id (a UUID); any other id answers 404' }) })

export const DEFAULT_PAGE_SIZE = 20

const SORTS = ['createdAt', '-createdAt', 'dueAt', '-dueAt', 'priority', '-priority', 'updatedAt', '-updatedAt'] as const

export const TaskListQuery = Type.Object({
  status: Type.Optional(Type.Array(TaskStatusSchema, { description: 'Repeatable: any of these statuses' })),
  priority: Type.Optional(Type.Array(TaskPrioritySchema, { description: 'Repeatable: any of these priorities' })),
  tag: Type.Optional(Type.Array(TagSchema, { maxItems: 20, description: 'Repeatable: tasks that carry every one of these tags' })),
  q: Type.Optional(Text({ minLength: 1, maxLength: 200, description: 'Case-insensitive text in the title or description' })),
  dueBefore: Type.Optional(Type.String({ format: 'date-time', description: 'Tasks due before this time (RFC 3339)' })),
  dueAfter: Type.Optional(Type.String({ format: 'date-time', description: 'Tasks due after this time (RFC 3339)' })),
  sort: Type.Optional(StringEnum(SORTS, { default: '-createdAt', description: 'Ties are broken by id; tasks without a due date come last' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: DEFAULT_PAGE_SIZE, description: 'Tasks per page, 1 to 100' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'nextCursor of the previous page' }))
}, { additionalProperties: false })
export type TaskListQuery = Static<typeof TaskListQuery>

export const TaskListSchema = Type.Object({
  items: Type.Array(TaskRef),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page; null on the last page' })
}, {
  $id: 'TaskList',
  title: 'TaskList',
  description: 'A page of tasks',
  examples: [{ items: [TASK_EXAMPLE], nextCursor: 'eyJzIjoiLWNyZWF0ZWRBdCIsInYiOiIyMDI2LTExLTI0VDE0OjAwOjAwLjAwMFoifQ.Hk3…' }]
})

export const CreateHeaders = Type.Object({
  'idempotency-key': Type.Optional(Text({
    minLength: 1, maxLength: 255, description: 'Retries with the same key and body within 24 hours get the first answer'
  }))
})

export const WriteHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: '"<version>" from the ETag: the write happens only if the task still has it' }))
})

/** A task answer: the task, with its version as ETag. */
export const TaskAnswer = withHeaders(reference<typeof TaskSchema>('Task', { description: 'The task; its version is the ETag' }), 'ETag')

/** What the reads and writes of one task share: its id, and the 404 of a task that is not yours. */
export const OneTask = {
  params: TaskParams,
  response: { 404: problemResponse('No such task of yours: another user\'s, a deleted one, or a malformed id', problems.notFound) }
}

/** What the writes to one task (PUT, PATCH, POST …/done, DELETE) share beside that: If-Match and its answers. */
export const ConditionalWrite = {
  params: TaskParams,
  headers: WriteHeaders,
  response: {
    ...OneTask.response,
    400: problemResponse('If-Match is neither "*" nor a list of quoted entity tags', problems.badRequest),
    412: problemResponse('If-Match names none of the task\'s current version: read it again', problems.preconditionFailed)
  }
}
