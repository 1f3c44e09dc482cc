import type { Task } from './schemas.js'

/** A committed change to a task, as those who follow changes hear of it (webhooks today). */
export type TaskChange =
  | { kind: 'created'; task: Task }
  /** completed: this change made the task done. */
  | { kind: 'updated'; task: Task; completed: boolean }
  | { kind: 'deleted'; task: Task }

/** Where a change's events go, bound to the change's transaction: they commit with it or not at all. */
export interface TaskEvents {
  record: (change: TaskChange) => Promise<void>
}
