import type { FastifyInstance } from 'fastify'
import { bearer } from './auth.js'

export interface TaskBody {
  id: string
  title: string
  description: string
  status: 'todo' | 'in_progress' | 'done'
  priority: 'low' | 'medium' | 'high'
  dueAt: string | null
  tags: string[]
  createdAt: string
  updatedAt: string
  completedAt: string | null
  version: number
}

/** A client for one user's tasks over HTTP. */
export function tasksClient (app: FastifyInstance, accessToken: string) {
  const headers = bearer(accessToken)
  return {
    create: (payload: Record<string, unknown>, extra: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: '/tasks', headers: { ...headers, ...extra }, payload }),
    async createTask (payload: Record<string, unknown> = {}): Promise<TaskBody> {
      const response = await app.inject({ method: 'POST', url: '/tasks', headers, payload: { title: 'A task', ...payload } })
      if (response.statusCode !== 201) throw new Error(`create failed: ${response.statusCode} ${response.body}`)
      return response.json<TaskBody>()
    },
    get: (id: string) => app.inject({ method: 'GET', url: `/tasks/${id}`, headers }),
    list: (query = '') => app.inject({ method: 'GET', url: `/tasks${query}`, headers }),
    put: (id: string, payload: unknown, extra: Record<string, string> = {}) =>
      app.inject({ method: 'PUT', url: `/tasks/${id}`, headers: { ...headers, ...extra }, payload: payload as Record<string, unknown> }),
    patch: (id: string, payload: unknown, extra: Record<string, string> = {}) =>
      app.inject({ method: 'PATCH', url: `/tasks/${id}`, headers: { ...headers, ...extra }, payload: payload as Record<string, unknown> }),
    done: (id: string, extra: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: `/tasks/${id}/done`, headers: { ...headers, ...extra } }),
    delete: (id: string, extra: Record<string, string> = {}) =>
      app.inject({ method: 'DELETE', url: `/tasks/${id}`, headers: { ...headers, ...extra } })
  }
}
