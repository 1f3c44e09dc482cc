import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { TaskInputSchema, TaskPatchSchema, TaskSchema, type Task } from '../../services/tasks/schemas.js'
import { NoContent } from '../shared-schemas.js'
import { trimBodyStrings } from '../trim.js'
import { etagOf, expectedVersions } from './preconditions.js'
import {
  CreateHeaders, DEFAULT_PAGE_SIZE, problems, TaskListQuery, TaskPage, TaskParams, TaskRef, WriteHeaders
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

const taskRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { tasks } = app
  app.addSchema(TaskSchema)

  app.get('/tasks', {
    config: read,
    schema: {
      tags: ['tasks'],
      summary: 'List your tasks, a page at a time',
      querystring: TaskListQuery,
      response: { 200: TaskPage, 400: problems[400], 401: problems[401], 429: problems[429] }
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
      tags: ['tasks'],
      summary: 'Create a task',
      description: 'With an Idempotency-Key, a retry of the same request within 24 hours returns the first answer and creates nothing.',
      headers: CreateHeaders,
      body: TaskInputSchema,
      response: { 201: TaskRef, 400: problems[400], 401: problems[401], 422: problems[422], 429: problems[429] }
    },
    preValidation: trimBodyStrings(['title'])
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
      tags: ['tasks'],
      summary: 'Read a task',
      params: TaskParams,
      response: { 200: TaskRef, 401: problems[401], 404: problems[404], 429: problems[429] }
    }
  }, async (request, reply) => sendTask(reply, await tasks.get(request.user.id, request.params.id)))

  app.put('/tasks/:id', {
    config: write,
    schema: {
      tags: ['tasks'],
      summary: 'Replace a task',
      description: 'Every writable field is set; optional fields left out go back to their defaults.',
      params: TaskParams,
      headers: WriteHeaders,
      body: TaskInputSchema,
      response: { 200: TaskRef, 400: problems[400], 401: problems[401], 404: problems[404], 412: problems[412], 429: problems[429] }
    },
    preValidation: trimBodyStrings(['title'])
  }, async (request, reply) => {
    const task = await tasks.replace(request.user.id, request.params.id, request.body, expectedVersions(request.headers['if-match']))
    return sendTask(reply, task)
  })

  app.patch('/tasks/:id', {
    config: write,
    schema: {
      tags: ['tasks'],
      summary: 'Change some fields of a task',
      params: TaskParams,
      headers: WriteHeaders,
      body: TaskPatchSchema,
      response: { 200: TaskRef, 400: problems[400], 401: problems[401], 404: problems[404], 412: problems[412], 429: problems[429] }
    },
    preValidation: trimBodyStrings(['title'])
  }, async (request, reply) => {
    const task = await tasks.patch(request.user.id, request.params.id, request.body, expectedVersions(request.headers['if-match']))
    return sendTask(reply, task)
  })

  app.post('/tasks/:id/done', {
    config: write,
    schema: {
      tags: ['tasks'],
      summary: 'Mark a task done',
      params: TaskParams,
      headers: WriteHeaders,
      response: { 200: TaskRef, 401: problems[401], 404: problems[404], 412: problems[412], 429: problems[429] }
    }
  }, async (request, reply) => {
    const task = await tasks.complete(request.user.id, request.params.id, expectedVersions(request.headers['if-match']))
    return sendTask(reply, task)
  })

  app.delete('/tasks/:id', {
    config: write,
    schema: {
      tags: ['tasks'],
      summary: 'Delete a task',
      params: TaskParams,
      headers: WriteHeaders,
      response: { 204: NoContent, 401: problems[401], 404: problems[404], 412: problems[412], 429: problems[429] }
    }
  }, async (request, reply) => {
    await tasks.remove(request.user.id, request.params.id, expectedVersions(request.headers['if-match']))
    return reply.code(204).send(null)
  })
}

export default taskRoutes
