import type { DeliveriesRepository } from '../../db/webhooks/deliveries-repository.js'
import type { JobEnqueuer } from '../../plugins/jobs/queue.js'
import type { AppJobCatalog } from '../jobs/catalog.js'
import { TaskSchema, type Task } from '../tasks/schemas.js'
import type { TaskChange, TaskEvents } from '../tasks/task-events.js'
import type { TaskEventType } from './schemas.js'

/** A task's public fields in the order of the API's Task (no userId), times as RFC 3339 strings. */
export function publicTask (task: Task): Record<string, unknown> {
  const record = task as unknown as Record<string, unknown>
  return Object.fromEntries(Object.keys(TaskSchema.properties).map((key) => {
    const value = record[key]
    return [key, value instanceof Date ? value.toISOString() : value]
  }))
}

/** The event types of a change: task.completed comes besides task.created or task.updated when the task became done. */
export function eventTypes (change: TaskChange): TaskEventType[] {
  switch (change.kind) {
    case 'created': return change.task.status === 'done' ? ['task.created', 'task.completed'] : ['task.created']
    case 'updated': return change.completed ? ['task.updated', 'task.completed'] : ['task.updated']
    case 'deleted': return ['task.deleted']
  }
}

/**
 * The webhooks' outbox, in the transaction of a task change: it stores the
 * change once for the webhooks that want it, a delivery per webhook and event
 * type, and a delivery job for each, all committing with the change.
 */
export function createWebhookOutbox (
  { deliveries, jobs }: { deliveries: DeliveriesRepository; jobs: JobEnqueuer<AppJobCatalog> }
): TaskEvents {
  return {
    async record (change) {
      const task = change.kind === 'deleted' ? { id: change.task.id } : publicTask(change.task)
      const ids = await deliveries.recordEvent(change.task.userId, change.task.id, eventTypes(change), { task })
      for (const deliveryId of ids) await jobs.enqueue('webhook-delivery', { deliveryId, attempt: 0 })
    }
  }
}
