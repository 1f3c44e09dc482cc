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
}, {
  $id: 'Problem',
  title: 'Problem',
  description: 'RFC 9457 problem details: `type`, `title` and `status` always, `errors` only for a validation error',
  additionalProperties: true,
  examples: [{
    type: 'https://taskforge.dev/problems/validation-error',
    title: 'Request validation failed',
    status: 400,
    detail: 'body/title must NOT have fewer than 1 characters',
    instance: '/tasks',
    requestId: 'req-1f',
    errors: [{ path: '/body/title', message: 'must NOT have fewer than 1 characters' }]
  }]
})
export type Problem = Static<typeof ProblemSchema>

/** A kind of problem: its status, the last segment of its type URI, its title, and when it happens (for the docs). */
export interface ProblemType {
  status: number
  slug: string
  title: string
  /** When the API answers it, in a phrase: the OpenAPI document lists it under each status a route answers. */
  when: string
}

/**
 * Every problem type the API answers with, in one place: the error handler,
 * the hooks that answer on their own (availability, readiness, not found) and
 * the OpenAPI document (plugins/openapi.ts) take theirs from here.
 */
export const problems = {
  validationError: { status: 400, slug: 'validation-error', title: 'Request validation failed', when: 'a parameter, header or the body does not fit its schema (`errors` says where)' },
  malformedJson: { status: 400, slug: 'malformed-json', title: 'Malformed JSON body', when: 'the body is not JSON' },
  badRequest: { status: 400, slug: 'bad-request', title: 'Bad request', when: 'the request is malformed in a way its schema cannot say' },
  badUrl: { status: 400, slug: 'bad-url', title: 'Malformed URL', when: 'the URL does not decode as UTF-8' },
  malformedRequest: { status: 400, slug: 'malformed-request', title: 'Malformed HTTP request', when: 'the request is not valid HTTP/1.1' },
  unauthorized: { status: 401, slug: 'unauthorized', title: 'Unauthorized', when: 'credentials are missing, invalid or expired' },
  insufficientScope: {
    status: 403, slug: 'insufficient-scope', title: 'Insufficient scope', when: 'a personal access token lacks the scope the route needs, or the route needs a session'
  },
  notFound: { status: 404, slug: 'not-found', title: 'Not found', when: 'there is no such resource of yours' },
  routeNotFound: { status: 404, slug: 'route-not-found', title: 'Route not found', when: 'no route has this method and path' },
  requestTimeout: { status: 408, slug: 'request-timeout', title: 'Request timeout', when: 'the request did not arrive in full in time' },
  conflict: { status: 409, slug: 'conflict', title: 'Conflict', when: 'the request conflicts with what exists' },
  preconditionFailed: { status: 412, slug: 'precondition-failed', title: 'Precondition failed', when: 'If-Match names none of the current version' },
  payloadTooLarge: { status: 413, slug: 'payload-too-large', title: 'Request body too large', when: 'the body is larger than the configured limit (1 MiB by default)' },
  uriTooLong: { status: 414, slug: 'uri-too-long', title: 'URI too long', when: 'a path parameter is longer than any id this API uses' },
  unsupportedMediaType: { status: 415, slug: 'unsupported-media-type', title: 'Unsupported media type', when: 'the body is not application/json' },
  unprocessableContent: { status: 422, slug: 'unprocessable-content', title: 'Unprocessable content', when: 'the request is well-formed but cannot be carried out' },
  tooManyRequests: { status: 429, slug: 'too-many-requests', title: 'Too many requests', when: 'a rate limit is spent: wait Retry-After seconds' },
  requestHeaderFieldsTooLarge: {
    status: 431, slug: 'request-header-fields-too-large', title: 'Request header fields too large', when: 'the request line and headers are too large'
  },
  internalError: { status: 500, slug: 'internal-error', title: 'Internal server error', when: 'something went wrong on our side; quote the requestId' },
  serviceUnavailable: { status: 503, slug: 'service-unavailable', title: 'Service unavailable', when: 'the database does not answer' },
  timeout: { status: 503, slug: 'timeout', title: 'Request timed out', when: 'the request was not answered in time (REQUEST_TIMEOUT_MS)' },
  overloaded: { status: 503, slug: 'overloaded', title: 'Service overloaded', when: 'the process is overloaded and sheds load' },
  shuttingDown: { status: 503, slug: 'shutting-down', title: 'Shutting down', when: 'this instance is shutting down; another one will answer' },
  notReady: { status: 503, slug: 'not-ready', title: 'Service not ready', when: 'readiness fails: the database does not answer, or the instance drains' }
} as const satisfies Record<string, ProblemType>

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
