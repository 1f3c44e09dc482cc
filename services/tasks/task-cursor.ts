import { createHmac, timingSafeEqual } from 'node:crypto'
import type { TaskPosition, TaskSort } from '../../db/tasks/tasks-repository.js'
import { isUuid } from '../../db/uuid.js'
import { BadRequestError } from '../../errors.js'
import { TASK_PRIORITIES, type TaskPriority } from './schemas.js'

const SIGNATURE_BYTES = 16

interface CursorPayload {
  /** The sort it was made for, e.g. "-createdAt". */
  s: string
  /** The last row's sort value: ISO time, priority, or null (no due date). */
  v: string | null
  /** The last row's id. */
  i: string
}

export type TaskCursors = ReturnType<typeof createTaskCursors>

/**
 * Opaque paging cursors: base64url JSON of where a page ended, signed with an
 * HMAC bound to the user and the sort. A cursor edited, made up, taken from
 * another user or replayed with another sort fails the check: 400, never an
 * odd page.
 */
export function createTaskCursors (secret: string) {
  const key = createHmac('sha256', secret).update('taskforge task cursors').digest()
  const sign = (userId: string, body: string) =>
    createHmac('sha256', key).update(userId).update('\0').update(body).digest().subarray(0, SIGNATURE_BYTES)

  return {
    encode (userId: string, sort: TaskSort, position: TaskPosition): string {
      const value = position.value instanceof Date ? position.value.toISOString() : position.value
      const payload: CursorPayload = { s: sortName(sort), v: value, i: position.id }
      const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
      return `${body}.${sign(userId, body).toString('base64url')}`
    },

    decode (userId: string, sort: TaskSort, cursor: string): TaskPosition {
      const [body = '', signature = '', ...rest] = cursor.split('.')
      const given = Buffer.from(signature, 'base64url')
      const expected = sign(userId, body)
      if (rest.length > 0 || given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalidCursor()
      const payload = parsePayload(body)
      if (payload?.s !== sortName(sort)) throw invalidCursor()
      const value = positionValue(sort, payload.v)
      if (value === undefined || !isUuid(payload.i)) throw invalidCursor()
      return { value, id: payload.i }
    }
  }
}

// Built only when thrown: an Error's stack trace is too dear to make for every valid cursor.
const invalidCursor = () => new BadRequestError('The cursor is not valid for this list: start again without it')

export function sortName (sort: TaskSort): string {
  return `${sort.direction === 'desc' ? '-' : ''}${sort.key}`
}

function parsePayload (body: string): CursorPayload | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
    if (typeof parsed !== 'object' || parsed === null) return undefined
    const { s, v, i } = parsed as Record<string, unknown>
    if (typeof s !== 'string' || typeof i !== 'string' || !(typeof v === 'string' || v === null)) return undefined
    return { s, v, i }
  } catch {
    return undefined
  }
}

/** The sort value in its typed form, or undefined when it cannot belong to this sort. */
function positionValue (sort: TaskSort, value: string | null): TaskPosition['value'] | undefined {
  if (sort.key === 'priority') return TASK_PRIORITIES.includes(value as TaskPriority) ? value as TaskPriority : undefined
  if (value === null) return sort.key === 'dueAt' ? null : undefined
  const time = new Date(value)
  return Number.isNaN(time.getTime()) ? undefined : time
}
