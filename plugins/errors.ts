import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { toDomainError } from '../db/errors.js'
import { DomainError, InsufficientScopeError, InvalidFieldError, type DomainErrorKind } from '../errors.js'
import { STORABLE_TEXT_MESSAGE, STORABLE_TEXT_PATTERN } from '../schemas.js'
import { problems, rawProblemResponse, sendProblem, type ProblemInit, type ProblemType } from './problem.js'
import { API_SECURITY_HEADERS } from './security.js'

const DOMAIN_PROBLEMS: Record<DomainErrorKind, ProblemType> = {
  'bad-request': problems.badRequest,
  unauthorized: problems.unauthorized,
  'insufficient-scope': problems.insufficientScope,
  'not-found': problems.notFound,
  conflict: problems.conflict,
  'precondition-failed': problems.preconditionFailed,
  unprocessable: problems.unprocessableContent,
  'rate-limited': problems.tooManyRequests,
  unavailable: problems.serviceUnavailable
}

// Fastify's own client errors, by code, with a type a client can switch on.
const FASTIFY_PROBLEMS: Record<string, ProblemType> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: problems.unsupportedMediaType,
  FST_ERR_CTP_BODY_TOO_LARGE: problems.payloadTooLarge,
  FST_ERR_CTP_INVALID_JSON_BODY: problems.malformedJson,
  FST_ERR_CTP_EMPTY_JSON_BODY: problems.malformedJson,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: problems.badRequest
}

type ValidationIssue = NonNullable<FastifyError['validation']>[number]

function issuePath (context: string, issue: ValidationIssue): string {
  const params = issue.params
  const child = typeof params.missingProperty === 'string'
    ? `/${params.missingProperty}`
    : typeof params.additionalProperty === 'string' ? `/${params.additionalProperty}` : ''
  return `/${context}${issue.instancePath}${child}`
}

/** Ajv's message, except where it would quote a pattern at the client instead of saying what is wrong. */
function issueMessage (issue: ValidationIssue): string {
  if (issue.keyword === 'pattern' && issue.params.pattern === STORABLE_TEXT_PATTERN) return STORABLE_TEXT_MESSAGE
  return issue.message ?? 'is invalid'
}

function validationProblem (error: FastifyError): ProblemInit {
  const context = error.validationContext ?? 'body'
  const issues = error.validation ?? []
  return {
    ...problems.validationError,
    // Fastify's own wording ("body/title must …"), with our messages.
    detail: issues.length === 0 ? error.message : issues.map((issue) => `${context}${issue.instancePath} ${issueMessage(issue)}`).join(', '),
    errors: issues.map((issue) => ({
      path: issuePath(context, issue),
      message: issueMessage(issue)
    }))
  }
}

function isFastifyClientError (error: unknown): error is FastifyError {
  return error instanceof Error && 'statusCode' in error && typeof error.statusCode === 'number' &&
    error.statusCode >= 400 && error.statusCode < 500
}

/** The problem a client sees for an error; undefined means "internal": a 500 that reveals nothing. */
function describeError (error: unknown): ProblemInit | undefined {
  // A rule of one body field that a service checks: the same problem as the schema's own checks.
  if (error instanceof InvalidFieldError) {
    return {
      ...problems.validationError,
      detail: `body/${error.field} ${error.rule}`,
      errors: [{ path: `/body/${error.field}`, message: error.rule }]
    }
  }
  if (error instanceof DomainError) {
    return { ...DOMAIN_PROBLEMS[error.kind], detail: error.message }
  }
  if (error instanceof Error && (error as FastifyError).code === 'FST_ERR_HANDLER_TIMEOUT') {
    return { ...problems.timeout, detail: 'The request was not answered in time; retry in a few seconds' }
  }
  if (isFastifyClientError(error)) {
    if (error.validation !== undefined) return validationProblem(error)
    const status = error.statusCode ?? 400
    const known = FASTIFY_PROBLEMS[error.code] ??
      (error instanceof SyntaxError ? FASTIFY_PROBLEMS.FST_ERR_CTP_INVALID_JSON_BODY : undefined)
    return { ...known, status, detail: error.message }
  }
  return undefined
}

function handleError (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const mapped = toDomainError(error)
  const problem = describeError(mapped)
  if (problem === undefined) {
    request.log.error({ err: error }, 'request failed')
    return sendProblem(request, reply, {
      ...problems.internalError,
      detail: `Something went wrong on our side. Quote request id ${request.id} when you report it.`
    })
  }
  if (problem.status >= 500) {
    request.log.error({ err: error }, 'request failed: dependency unavailable')
    if (!reply.hasHeader('Retry-After')) reply.header('Retry-After', '5')
  } else {
    request.log.info({ err: { type: (mapped as Error).name, message: (mapped as Error).message } }, 'request rejected')
  }
  if (problem.status === 401) reply.header('WWW-Authenticate', 'Bearer')
  if (mapped instanceof InsufficientScopeError) reply.header('WWW-Authenticate', insufficientScopeChallenge(mapped))
  return sendProblem(request, reply, problem)
}

/** RFC 6750 §3.1's challenge for a token that lacks a scope; the scope attribute only when one would do. */
function insufficientScopeChallenge (error: InsufficientScopeError): string {
  return error.scope === undefined
    ? 'Bearer error="insufficient_scope", error_description="This route needs a session\'s access token"'
    : `Bearer error="insufficient_scope", scope="${error.scope}"`
}

/**
 * Errors the router raises before any hook runs (Fastify's `frameworkErrors`
 * server option): a URL that does not decode, or a path parameter longer than
 * maxParamLength. They would otherwise leave as Fastify's own JSON.
 */
export function frameworkErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  // No onRequest hook runs for these: the headers every answer carries are set here.
  reply.header('X-Request-Id', request.id).headers(API_SECURITY_HEADERS)
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    sendProblem(request, reply, { ...problems.uriTooLong, detail: 'A path parameter is longer than any id this API uses' })
  } else if (error.code === 'FST_ERR_BAD_URL') {
    sendProblem(request, reply, { ...problems.badUrl, detail: 'The URL does not decode as UTF-8' })
  } else {
    handleError(error, request, reply)
  }
}

// What Node's HTTP parser refuses before a request exists, by code (Node's own answers: 431, 413, 408); the rest is a 400.
const PARSER_PROBLEMS: Record<string, ProblemInit> = {
  HPE_HEADER_OVERFLOW: {
    ...problems.requestHeaderFieldsTooLarge,
    detail: 'The request line and headers are larger than this server accepts'
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    ...problems.payloadTooLarge,
    detail: 'The chunk extensions of the body are larger than this server accepts'
  },
  ERR_HTTP_REQUEST_TIMEOUT: { ...problems.requestTimeout, detail: 'The request did not arrive in full in time' }
}

function parserProblem (error: ConnectionError): ProblemInit {
  const known = PARSER_PROBLEMS[error.code]
  if (known !== undefined) return known
  // llhttp's reason is a fixed phrase ("Invalid method encountered"), never text of the request.
  const reason = 'reason' in error && typeof error.reason === 'string' ? `: ${error.reason}` : ''
  return { ...problems.malformedRequest, detail: `The request is not valid HTTP/1.1${reason}` }
}

/**
 * Fastify's clientErrorHandler server option. What Node's HTTP parser refuses
 * (headers too large, a malformed request line, a bad Content-Length, …)
 * never becomes a request: no hook and no error handler sees it, and Fastify's
 * default answers plain JSON. The answer is a problem written on the socket,
 * with the headers every answer carries, and the connection is closed.
 */
export function clientErrorHandler (this: FastifyInstance, error: ConnectionError, socket: Socket): void {
  // A reset or closed connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const requestId = randomUUID()
  const problem = parserProblem(error)
  // The code and llhttp's message only: the raw bytes may hold credentials.
  this.log.info({ requestId, err: { code: error.code, message: error.message } }, 'request rejected by the HTTP parser')
  // As Node does: write only if no response already in progress on this connection has begun, else these bytes
  // would land in the middle of it. Node keeps that response as socket._httpMessage and has no public name for it.
  const inProgress = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
  if (socket.writable && inProgress?.headersSent !== true) {
    socket.write(rawProblemResponse(problem, requestId, API_SECURITY_HEADERS))
  }
  socket.destroy()
}

/** Every error and unknown route, ours or Fastify's, leaves as RFC 9457 problem+json. */
export default fp(async (app) => {
  app.setErrorHandler(handleError)
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, {
    ...problems.routeNotFound,
    detail: `There is no ${request.method} ${request.url.split('?')[0] ?? ''}`
  }))
}, { name: 'errors' })
