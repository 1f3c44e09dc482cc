import { STATUS_CODES } from 'node:http'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'

export const PROBLEM_MEDIA_TYPE = 'application/problem+json'
export const PROBLEM_CONTENT_TYPE = `${PROBLEM_MEDIA_TYPE}; charset=utf-8`
const PROBLEM_BASE = 'https://taskforge.dev/problems/'

/** RFC 9457 problem details, as API.md describes them; also the response schema of every 4xx/5xx. */
export const ProblemSchema = Type.Object({
  type: Type.String({ format: 'uri' }),
  title: Type.String(),
  status: Type.Integer({ minimum: 400, maximum: 599 }),
  detail: Type.Optional(Type.String()),
  instance: Type.Optional(Type.String()),
  requestId: Type.Optional(Type.String()),
  errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() })))
}, { $id: 'Problem', title: 'Problem', additionalProperties: true })
export type Problem = Static<typeof ProblemSchema>

export interface ProblemInit {
  status: number
  /** The last segment of the type URI, e.g. "validation-error"; derived from the status when absent. */
  slug?: string
  title?: string
  detail?: string
  errors?: Problem['errors']
  /** Extension members (RFC 9457 §3.2), e.g. the checks of a failed readiness probe. */
  extensions?: Record<string, unknown>
}

export function problemType (slug: string): string {
  return PROBLEM_BASE + slug
}

function slugOf (status: number): string {
  return (STATUS_CODES[status] ?? 'error').toLowerCase().replace(/[^a-z0-9]+/g, '-')
}

function problemBody (init: ProblemInit, requestId: string, instance: string | undefined): Problem & Record<string, unknown> {
  return {
    type: problemType(init.slug ?? slugOf(init.status)),
    title: init.title ?? STATUS_CODES[init.status] ?? 'Error',
    status: init.status,
    ...(init.detail === undefined ? {} : { detail: init.detail }),
    ...(instance === undefined ? {} : { instance }),
    requestId,
    ...(init.errors === undefined ? {} : { errors: init.errors }),
    ...init.extensions
  }
}

export function buildProblem (request: FastifyRequest, init: ProblemInit): Problem & Record<string, unknown> {
  return problemBody(init, request.id, request.url.split('?')[0])
}

/** Sends a problem+json answer; the one way a 4xx/5xx body leaves the app through a reply (rawProblemResponse is for a bare socket). */
export function sendProblem (request: FastifyRequest, reply: FastifyReply, init: ProblemInit): FastifyReply {
  return reply
    .code(init.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(buildProblem(request, init)))
}

/**
 * A problem as a whole HTTP/1.1 response, for answers written straight on a
 * socket (plugins/errors.ts, clientErrorHandler): there is no request, so no
 * instance, and no reply to carry the headers every answer gets.
 */
export function rawProblemResponse (init: ProblemInit, requestId: string, headers: Record<string, string>): string {
  const body = JSON.stringify(problemBody(init, requestId, undefined))
  const head: Record<string, string> = {
    ...headers,
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': String(Buffer.byteLength(body)),
    date: new Date().toUTCString(),
    'x-request-id': requestId,
    connection: 'close'
  }
  const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}\r\n`).join('')
  return `HTTP/1.1 ${init.status} ${STATUS_CODES[init.status] ?? 'Error'}\r\n${lines}\r\n${body}`
}
