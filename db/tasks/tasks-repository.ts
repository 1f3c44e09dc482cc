import { NotFoundError, PreconditionFailedError } from '../../errors.js'
import type { Task, TaskChanges, TaskFields, TaskPriority, TaskStatus } from '../../services/tasks/schemas.js'
import type { Queryable } from '../client.js'
import { withDomainErrors } from '../errors.js'
import { firstRow } from '../rows.js'
import { isUuid } from '../uuid.js'

export const TASK_SORT_KEYS = ['createdAt', 'updatedAt', 'dueAt', 'priority'] as const
export type TaskSortKey = typeof TASK_SORT_KEYS[number]
export interface TaskSort { key: TaskSortKey; direction: 'asc' | 'desc' }

/** Where the previous page ended: the last row's sort value and id. */
export interface TaskPosition { value: Date | TaskPriority | null; id: string }

export interface TaskListQuery {
  statuses?: TaskStatus[]
  priorities?: TaskPriority[]
  /** A task matches when it carries every one of these tags. */
  tags?: string[]
  /** Case-insensitive substring of title or description, taken literally. */
  search?: string
  dueBefore?: Date
  dueAfter?: Date
  sort: TaskSort
  limit: number
  after?: TaskPosition
}

export interface TaskPage { items: Task[]; last: TaskPosition | null }

// The only column names a sort can reach; never built from client text.
const SORT_COLUMNS: Record<TaskSortKey, string> = {
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  dueAt: 'due_at',
  priority: 'priority'
}

export type TasksRepository = ReturnType<typeof createTasksRepository>

function keysetCondition (sql: Queryable, sort: TaskSort, after: TaskPosition) {
  const column = sql(SORT_COLUMNS[sort.key])
  const beyond = sort.direction === 'asc' ? sql`>` : sql`<`
  if (sort.key !== 'dueAt') return sql`(${column}, id) ${beyond} (${after.value}, ${after.id})`
  // Tasks without a due date come last in both directions.
  return after.value === null
    ? sql`(due_at is null and id ${beyond} ${after.id})`
    : sql`((due_at, id) ${beyond} (${after.value}, ${after.id}) or due_at is null)`
}

function orderBy (sql: Queryable, sort: TaskSort) {
  const direction = sort.direction === 'asc' ? sql`asc` : sql`desc`
  const nulls = sort.key === 'dueAt' ? sql`nulls last` : sql``
  return sql`order by ${sql(SORT_COLUMNS[sort.key])} ${direction} ${nulls}, id ${direction}`
}

/** A page of a user's tasks as a statement not yet sent: listByUser runs it, tests EXPLAIN it. */
export function taskListStatement (sql: Queryable, userId: string, query: TaskListQuery) {
  const conditions = [sql`user_id = ${userId}`]
  if (query.statuses?.length) conditions.push(sql`status = any(${query.statuses}::task_status[])`)
  if (query.priorities?.length) conditions.push(sql`priority = any(${query.priorities}::task_priority[])`)
  if (query.tags?.length) conditions.push(sql`tags @> ${query.tags}::text[]`)
  if (query.search !== undefined && query.search !== '') {
    const pattern = `%${query.search.replace(/[\\%_]/g, '\\$&')}%`
    conditions.push(sql`(title ilike ${pattern} or description ilike ${pattern})`)
  }
  if (query.dueBefore !== undefined) conditions.push(sql`due_at < ${query.dueBefore}`)
  if (query.dueAfter !== undefined) conditions.push(sql`due_at > ${query.dueAfter}`)
  if (query.after !== undefined) conditions.push(keysetCondition(sql, query.sort, query.after))
  const where = conditions.reduce((all, condition) => sql`${all} and ${condition}`)

  // One extra row says whether another page follows.
  return sql<Task[]>`select * from tasks where ${where} ${orderBy(sql, query.sort)} limit ${query.limit + 1}`
}

export function createTasksRepository (sql: Queryable) {
  /** `and version = any($n)` when the caller holds versions (If-Match), nothing otherwise. */
  const versionGuard = (expectedVersions: number[] | undefined) =>
    expectedVersions === undefined ? sql`` : sql`and version = any(${expectedVersions}::int[])`

  /** Tells "no such task of yours" from "your copy is stale" after a guarded write touched no row. */
  async function explainMissedWrite (userId: string, id: string): Promise<never> {
    const [row] = await sql`select 1 from tasks where id = ${id} and user_id = ${userId}`
    throw row === undefined ? new NotFoundError('Task not found') : new PreconditionFailedError()
  }

  return withDomainErrors({
    async create (userId: string, fields: TaskFields): Promise<Task> {
      const rows = await sql<Task[]>`
        insert into tasks (user_id, title, description, status, priority, due_at, tags, completed_at)
        values (${userId}, ${fields.title}, ${fields.description}, ${fields.status}, ${fields.priority},
                ${fields.dueAt}, ${fields.tags}, case when ${fields.status}::task_status = 'done' then now() end)
        returning *`
      return firstRow(rows)
    },

    /** null for a task that is missing, another user's, or named by a malformed id: callers cannot tell them apart. */
    async findForUser (userId: string, id: string): Promise<Task | null> {
      if (!isUuid(id)) return null
      const [row] = await sql<Task[]>`select * from tasks where id = ${id} and user_id = ${userId}`
      return row ?? null
    },

    async listByUser (userId: string, query: TaskListQuery): Promise<TaskPage> {
      const rows = await taskListStatement(sql, userId, query)
      const items = rows.slice(0, query.limit)
      const lastItem = items.at(-1)
      const last = rows.length > query.limit && lastItem !== undefined
        ? { value: lastItem[query.sort.key], id: lastItem.id }
        : null
      return { items, last }
    },

    /**
     * Applies the changes as one compare-and-set: with expectedVersions the row
     * changes only if it still has one of them. completedAt follows status.
     */
    async update (userId: string, id: string, changes: TaskChanges, expectedVersions?: number[]): Promise<Task> {
      if (!isUuid(id)) throw new NotFoundError('Task not found')
      const columns = (Object.keys(changes) as (keyof TaskChanges)[]).filter((key) => changes[key] !== undefined)
      if (columns.length === 0) throw new TypeError('tasksRepository.update needs at least one change')
      const nextStatus = changes.status ?? null
      // The column helper must sit right after `set` in this statement for postgres.js to build assignments.
      const rows = await sql<Task[]>`
        update tasks set ${sql(changes, columns)},
          completed_at = case
            when coalesce(${nextStatus}::task_status, status) = 'done' then coalesce(completed_at, now())
          end,
          version = version + 1,
          updated_at = now()
        where id = ${id} and user_id = ${userId} ${versionGuard(expectedVersions)}
        returning *`
      return rows[0] ?? explainMissedWrite(userId, id)
    },

    async delete (userId: string, id: string, expectedVersions?: number[]): Promise<Task> {
      if (!isUuid(id)) throw new NotFoundError('Task not found')
      const rows = await sql<Task[]>`
        delete from tasks where id = ${id} and user_id = ${userId} ${versionGuard(expectedVersions)} returning *`
      return rows[0] ?? explainMissedWrite(userId, id)
    }
  })
}
