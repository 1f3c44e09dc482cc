import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { problems } from '../../plugins/problem.js'
import { TaskInputSchema, TaskPatchSchema, TaskSchema, type Task } from '../../services/tasks/schemas.js'
import { NoContent, problemResponse, reference, withHeaders } from '../shared-schemas.js'
import { trimBodyStrings } from '../trim.js'
import { etagOf, expectedVersions } from './preconditions.js'
import {
  ConditionalWrite, CreateHeaders, DEFAULT_PAGE_SIZE, OneTask, TaskAnswer, TaskInputRef, TaskListQuery, TaskListSchema, TaskPatchRef
} from './schemas.js'

// What a personal access token needs here (a session's access token may do all): API.md's rule for Tasks.
const read = { scope: 'tasks:read' } as const
const write = { scope: 'tasks:write' } as const

/** Link: <…>; rel="next" for the page after this one: the same query with the new cursor. */
function nextLink (request: FastifyRequest, cursor: string): string {
  const url = new URL(request.url, 'http://localhost')
  url.searchParams.set('cursor', cursor)
  return `<${url.pathname}${url.search}>; rel="next"`
}

function sendTask (reply: FastifyReply, task: Task, status = 200): FastifyReply {
  return reply.code(status).header('ETag', etagOf(task)).send(task)
}

// A title is trimmed before the schema judges it, so that a blank one fails minLength.
const trimTitle = trimBodyStrings(['title'])

/** Every route here needs a bearer token (the onRequest hook below); the document says so by default. */
const taskRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { tasks } = app
  for (const schema of [TaskSchema, TaskInputSchema, TaskPatchSchema, TaskListSchema]) app.addSchema(schema)

  app.get('/tasks', {
    config: read,
    schema: {
      operationId: 'listTasks',
      summary: 'List your tasks, a page at a time',
      description: 'Filters combine; paging with nextCursor visits every matching task once, also while tasks are added. ' +
        'The Link header points at the next page when there is one.',
      querystring: TaskListQuery,
      response: {
        200: withHeaders(reference<typeof TaskListSchema>('TaskList', { description: 'A page of your tasks, in the order asked' }), 'Link'),
        400: problemResponse('The cursor is not valid for this list (start again without it)', problems.badRequest)
      }
    }
  }, async (request, reply) => {
    // limit has its default from the schema already; TypeScript cannot see that.
    const { status, priority, tag, q, dueBefore, dueAfter, limit = DEFAULT_PAGE_SIZE, ...paging } = request.query
    const page = await tasks.list(request.user.id, {
      ...paging,
      limit,
      statuses: status,
      priorities: priority,
      tags: tag,
      search: q,
      dueBefore: dueBefore === undefined ? undefined : new Date(dueBefore),
      dueAfter: dueAfter === undefined ? undefined : new Date(dueAfter)
    })
    if (page.nextCursor !== null) reply.header('Link', nextLink(request, page.nextCursor))
    return page
  })

  app.post('/tasks', {
    config: write,
    schema: {
      operationId: 'createTask',
      summary: 'Create a task',
      description: 'With an Idempotency-Key, a retry of the same request within 24 hours returns the first answer and creates nothing.',
      headers: CreateHeaders,
      body: TaskInputRef,
      response: {
        201: withHeaders(reference<typeof TaskSchema>('Task', { description: 'The new task (or, replayed, the one the key made first)' }), 'ETag', 'Location', 'Idempotent-Replayed'),
        422: problemResponse('The Idempotency-Key was used with another body', problems.unprocessableContent)
      }
    },
    preValidation: trimTitle
  }, async (request, reply) => {
    const key = request.headers['idempotency-key']
    const { task, replayed } = await tasks.create(
      request.user.id, request.body, key === undefined ? undefined : { key, body: request.body }
    )
    if (replayed) reply.header('Idempotent-Replayed', 'true')
    return sendTask(reply.header('Location', `/tasks/${task.id}`), task, 201)
  })

  app.get('/tasks/:id', {
    config: read,
    schema: {
      operationId: 'getTask',
      summary: 'Read a task',
      description: 'The ETag is the task\'s version: send it back as If-Match to change only what you read.',
      ...OneTask,
      response: { ...OneTask.response, 200: TaskAnswer }
    }
  }, async (request, reply) => sendTask(reply, await tasks.get(request.user.id, request.params.id)))

  // PUT and PATCH differ in their body and in what they do with it.
  const change = { ...ConditionalWrite, response: { ...ConditionalWrite.response, 200: TaskAnswer } }
  app.put('/tasks/:id', {
    config: write,
    schema: {
      operationId: 'replaceTask',
      summary: 'Replace a task',
      description: 'Every writable field is set; optional fields left out go back to their defaults.',
      ...change,
      body: TaskInputRef
    },
    preValidation: trimTitle
  }, async (request, reply) => {
    const task = await tasks.replace(request.user.id, request.params.id, request.body, expectedVersions(request.headers['if-match']))
    return sendTask(reply, task)
  })

  app.patch('/tasks/:id', {
    config: write,
    schema: {
      operationId: 'updateTask',
      summary: 'Change some fields of a task',
      description: 'Only the fields sent change; at least one must be.',
      ...change,
      body: TaskPatchRef
    },
    preValidation: trimTitle
  }, async (request, reply) => {
    const task = await tasks.patch(request.user.id, request.params.id, request.body, expectedVersions(request.headers['if-match']))
    return sendTask(reply, task)
  })

  app.post('/tasks/:id/done', {
    config: write,
    schema: {
      operationId: 'completeTask',
      summary: 'Mark a task done',
      description: 'Sets the status to done; completedAt is set when the task becomes done.',
      ...change
    }
  }, async (request, reply) => {
    const task = await tasks.complete(request.user.id, request.params.id, expectedVersions(request.headers['if-match']))
    return sendTask(reply, task)
  })

  app.delete('/tasks/:id', {
    config: write,
    schema: {
      operationId: 'deleteTask',
      summary: 'Delete a task',
      description: 'A deleted task answers 404 from then on.',
      ...ConditionalWrite,
      response: { ...ConditionalWrite.response, 204: { ...NoContent, description: 'Deleted' } }
    }
  }, async (request, reply) => {
    await tasks.remove(request.user.id, request.params.id, expectedVersions(request.headers['if-match']))
    return reply.code(204).send(null)
  })
}

export default taskRoutes
