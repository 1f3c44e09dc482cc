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
}, { $id: 'Task', title: 'Task' })

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
}, { additionalProperties: false })
export type TaskInput = Static<typeof TaskInputSchema>

/** What a client sends to change some fields of a task: at least one of them. */
export const TaskPatchSchema = Type.Partial(Type.Object(writable), { additionalProperties: false, minProperties: 1 })
export type TaskPatch = Static<typeof TaskPatchSchema>
