/**
 * The tasks concern's schemas, and the types derived from them: what a task
 * is and what a client may write into one. Routes validate and serialize with
 * these, the service and the repository are typed by them.
 */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, StringEnum, Text } from '../../schemas.js'

export const TASK_STATUSES = ['todo', 'in_progress', 'done'] as const
export const TASK_PRIORITIES = ['low', 'medium', 'high'] as const

export const TaskStatusSchema = StringEnum(TASK_STATUSES)
export type TaskStatus = Static<typeof TaskStatusSchema>
export const TaskPrioritySchema = StringEnum(TASK_PRIORITIES)
export type TaskPriority = Static<typeof TaskPrioritySchema>
export const TagSchema = Text({ minLength: 1, maxLength: 50 })

/** What a task looks like in the OpenAPI document's examples (API.md's). */
export const TASK_EXAMPLE = {
  id: '0b7e4a52-3c1d-4f6e-8a9b-5d2c1e0f7a63',
  title: 'Write report',
  description: '',
  status: 'todo',
  priority: 'medium',
  dueAt: null,
  tags: ['work'],
  createdAt: '2026-11-24T14:00:00.000Z',
  updatedAt: '2026-11-24T14:00:00.000Z',
  completedAt: null,
  version: 1
}

/** A task as its owner sees it. */
export const TaskSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  title: Type.String(),
  description: Type.String(),
  status: TaskStatusSchema,
  priority: TaskPrioritySchema,
  dueAt: Type.Union([DateTime(), Type.Null()]),
  tags: Type.Array(Type.String()),
  createdAt: DateTime(),
  updatedAt: DateTime(),
  completedAt: Type.Union([DateTime({ description: 'Set when the status becomes done, cleared when it leaves done' }), Type.Null()]),
  version: Type.Integer({ minimum: 1, description: 'Starts at 1, grows by one on every change; the ETag is "<version>"' })
}, { $id: 'Task', title: 'Task', examples: [TASK_EXAMPLE] })

/** A task as stored: what its owner sees, and whose it is (never serialized: TaskSchema has no userId). */
export type Task = Static<typeof TaskSchema> & { userId: string }

/** The fields a client writes, as stored; everything else is the database's to keep. */
export type TaskFields = Pick<Task, 'title' | 'description' | 'status' | 'priority' | 'dueAt' | 'tags'>
export type TaskChanges = Partial<TaskFields>

const writable = {
  // Trimmed before this check, so a blank title fails minLength.
  title: Text({ minLength: 1, maxLength: 200, description: '1 to 200 characters, not blank' }),
  description: Text({ maxLength: 10_000, description: 'At most 10,000 characters; default ""' }),
  status: TaskStatusSchema,
  priority: TaskPrioritySchema,
  dueAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'RFC 3339, or null' }),
  tags: Type.Array(TagSchema, { maxItems: 20, uniqueItems: true, description: 'At most 20 distinct tags of 1 to 50 characters; default []' })
}

/** What a client sends to create or replace a task: title required, everything else optional (absent means the default). */
export const TaskInputSchema = Type.Object({
  title: writable.title,
  description: Type.Optional(writable.description),
  status: Type.Optional(writable.status),
  priority: Type.Optional(writable.priority),
  dueAt: Type.Optional(writable.dueAt),
  tags: Type.Optional(writable.tags)
}, {
  $id: 'TaskInput',
  title: 'TaskInput',
  additionalProperties: false,
  examples: [{ title: 'Write report', priority: 'high', dueAt: '2026-11-30T17:00:00.000Z', tags: ['work'] }]
})
export type TaskInput = Static<typeof TaskInputSchema>

/** What a client sends to change some fields of a task: at least one of them. */
export const TaskPatchSchema = Type.Partial(Type.Object(writable), {
  $id: 'TaskPatch',
  title: 'TaskPatch',
  additionalProperties: false,
  minProperties: 1,
  examples: [{ status: 'in_progress' }]
})
export type TaskPatch = Static<typeof TaskPatchSchema>
