/**
 * The parts of the OpenAPI document every route shares, added in one place so
 * that a route declares only what is its own (operationId, summary, inputs,
 * its success answer and its own problems) and a new route gets the rest by
 * default: its tag (the first path segment), bearer security unless it says
 * `security: []`, the problem answers that hooks and Fastify give on any route
 * (401, 400/413/415 for a body, 414 for a path parameter, 429, 500, 503), and
 * the headers each answer carries. Repeated parts are referenced from
 * components. plugins/docs.ts runs this on the document @fastify/swagger builds.
 */
import { STATUS_CODES } from 'node:http'
import { isDeepStrictEqual } from 'node:util'
import type { RouteOptions } from 'fastify'
import type { OpenAPIV3_1 as OpenApi } from 'openapi-types'
import { noStore } from '../routes/no-store.js'
import { PROBLEM_MEDIA_TYPE, problems, problemType, type ProblemType } from './problem.js'

type Document = OpenApi.Document
type Operation = OpenApi.OperationObject
type Response = OpenApi.ResponseObject
type Header = OpenApi.HeaderObject
type Reference = OpenApi.ReferenceObject
type Example = OpenApi.ExampleObject

/** Where the API is: relative, so a document fetched from /docs/json (and Swagger UI) points at the server it came from. */
export const SERVERS = [{ url: '/', description: 'The server this document is served from; clients set their own base URL' }]

export const BEARER_SECURITY = [{ bearerAuth: [] }]

const HEADER_PREFIX = '#/components/headers/'
const RESPONSE_PREFIX = '#/components/responses/'
const PROBLEM_SCHEMA = { $ref: '#/components/schemas/Problem' }
const EXAMPLE_REQUEST_ID = 'req-1f'

const integer = { type: 'integer', minimum: 0 } as const
const text = { type: 'string' } as const

/** The response headers the API sends: each described once, in components.headers, and referenced where it is sent. */
export const RESPONSE_HEADERS = {
  'X-Request-Id': {
    description: 'The id of this request in the logs: the request\'s own X-Request-Id when it is sane, else a new UUID',
    required: true,
    schema: text
  },
  'RateLimit-Limit': { description: 'Requests allowed in the current window (IETF draft RateLimit fields)', required: true, schema: integer },
  'RateLimit-Remaining': { description: 'Requests left in the current window', required: true, schema: integer },
  'RateLimit-Reset': { description: 'Seconds until the current window ends', required: true, schema: integer },
  'X-RateLimit-Limit': { description: 'The older name of RateLimit-Limit, same value', required: true, schema: integer },
  'X-RateLimit-Remaining': { description: 'The older name of RateLimit-Remaining, same value', required: true, schema: integer },
  'X-RateLimit-Reset': { description: 'The older name of RateLimit-Reset, same value', required: true, schema: integer },
  'Retry-After': { description: 'Seconds to wait before trying again', required: true, schema: { type: 'integer', minimum: 1 } },
  'WWW-Authenticate': {
    description: 'How to authenticate: `Bearer` (on a 403, `Bearer error="insufficient_scope", scope="<needed scope>"`)',
    required: true,
    schema: text
  },
  ETag: {
    description: 'The task\'s version as a strong entity tag, `"<version>"`: send it as If-Match to write only that version',
    required: true,
    schema: { type: 'string', pattern: '^"[1-9][0-9]*"$' }
  },
  Location: { description: 'The new resource\'s path: `/tasks/{id}`, `/webhooks/{id}`', required: true, schema: text },
  Link: { description: '`<…>; rel="next"`: the next page (this query with its cursor), when there is one', required: false, schema: text },
  'Idempotent-Replayed': {
    description: '`true` when this is the first answer to the same Idempotency-Key, replayed: no task was created',
    required: false,
    schema: { type: 'string', enum: ['true'] }
  },
  'Cache-Control': {
    description: '`no-store`: the answer carries tokens, which no cache may keep',
    required: true,
    schema: { type: 'string', enum: ['no-store'] }
  }
} as const satisfies Record<string, Header>
export type ResponseHeaderName = keyof typeof RESPONSE_HEADERS

const RATE_LIMIT_HEADERS: ResponseHeaderName[] = [
  'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'
]
/**
 * Answered before the rate limits count, so without RateLimit headers: by the router (a URL it cannot
 * decode, a path parameter too long) or by plugins/availability.ts's hooks, which run before them.
 */
const BEFORE_RATE_LIMITS = new Set<ProblemType>([problems.badUrl, problems.uriTooLong, problems.shuttingDown, problems.overloaded])
/** Answers that say when to come back (plugins/errors.ts adds Retry-After to every 5xx it maps, the rate limits to 429). */
const WITH_RETRY_AFTER = new Set<ProblemType>([
  problems.tooManyRequests, problems.serviceUnavailable, problems.timeout, problems.overloaded, problems.shuttingDown
])
/** Methods whose requests Fastify reads a body of, when one is sent: it can be too large, not JSON, or malformed JSON. */
const BODY_METHODS = new Set(['post', 'put', 'patch', 'delete'])
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const
const TYPES_BY_SLUG = new Map<string, ProblemType>(Object.values(problems).map((type) => [type.slug, type]))

/** Marks, for the document pass, an operation whose route sends Cache-Control: no-store on every answer (routes/no-store.ts). */
const NO_STORE_MARK = 'x-taskforge-no-store'

/** @fastify/swagger's per-route transform: notes what only the route knows (its hooks) for completeDocument. */
export function markRouteFacts ({ schema, url, route }: { schema: object; url: string; route: RouteOptions }) {
  const sendsNoStore = [route.onSend].flat().includes(noStore)
  return { url, schema: sendsNoStore ? { ...schema, [NO_STORE_MARK]: true } : schema }
}

/** One example per problem type, keyed by its slug: what the body looks like, and when it is sent. */
export function problemExamples (types: readonly ProblemType[]): Record<string, Example> {
  return Object.fromEntries(types.map((type) => [type.slug, {
    summary: type.title,
    description: `When ${type.when}.`,
    value: { type: problemType(type.slug), title: type.title, status: type.status, requestId: EXAMPLE_REQUEST_ID }
  }]))
}

/** The problems any route of this shape may answer, whatever it does: from the hooks and from Fastify itself. */
function sharedProblems (method: string, operation: Operation): ProblemType[] {
  const parameters = (operation.parameters ?? []) as OpenApi.ParameterObject[]
  const validated = operation.requestBody !== undefined || parameters.some((parameter) => parameter.in === 'query')
  return [
    ...(validated ? [problems.validationError] : []),
    ...(BODY_METHODS.has(method) ? [problems.malformedJson] : []),
    ...(parameters.some((parameter) => parameter.in === 'path') ? [problems.badUrl, problems.uriTooLong] : []),
    ...((operation.security ?? []).length > 0 ? [problems.unauthorized] : []),
    ...(refusesSomeTokens(operation) ? [problems.insufficientScope] : []),
    ...(BODY_METHODS.has(method) ? [problems.payloadTooLarge, problems.unsupportedMediaType] : []),
    problems.tooManyRequests,
    problems.internalError,
    problems.serviceUnavailable,
    problems.timeout,
    problems.overloaded,
    problems.shuttingDown
  ]
}

const isReference = (value: object): value is Reference => '$ref' in value

/**
 * Whether some personal access token gets 403 here: the route is secured and does not take every token
 * (plugins/auth.ts writes a route's security from its scope: a personal access token with no scope listed takes any).
 */
function refusesSomeTokens (operation: Operation): boolean {
  const security = operation.security ?? []
  return security.length > 0 && !security.some((requirement) => requirement.personalAccessToken?.length === 0)
}

function problemMedia (response: Response): OpenApi.MediaTypeObject | undefined {
  return response.content?.[PROBLEM_MEDIA_TYPE]
}

/** The problem types a response documents: the keys of its examples. */
function typesOf (response: Response): ProblemType[] {
  return Object.keys(problemMedia(response)?.examples ?? {}).flatMap((slug) => TYPES_BY_SLUG.get(slug) ?? [])
}

/** A problem answer made of these types alone: what it is and when, and an example of each. */
function problemResponse (status: number, types: readonly ProblemType[]): Response {
  return {
    description: `${STATUS_CODES[status] ?? 'Error'}: ${types.map((type) => type.when).join('; ')}`,
    content: { [PROBLEM_MEDIA_TYPE]: { schema: PROBLEM_SCHEMA, examples: problemExamples(types) } }
  }
}

/** Adds the shared problems of one status: a response of their own, or more examples (and words) in the route's. */
function addProblems (operation: Operation, status: number, types: ProblemType[]): void {
  const declared = operation.responses?.[status] as Response | undefined
  if (declared === undefined) {
    operation.responses = { ...operation.responses, [status]: problemResponse(status, types) }
    return
  }
  const known = new Set(typesOf(declared))
  const added = types.filter((type) => !known.has(type))
  if (added.length === 0) return
  const media: OpenApi.MediaTypeObject = problemMedia(declared) ?? { schema: PROBLEM_SCHEMA }
  media.examples = { ...media.examples, ...problemExamples(added) }
  declared.content = { [PROBLEM_MEDIA_TYPE]: media }
  declared.description = `${declared.description}; or: ${added.map((type) => type.when).join('; ')}`
}

function groupByStatus (types: ProblemType[]): Map<number, ProblemType[]> {
  const groups = new Map<number, ProblemType[]>()
  for (const type of types) groups.set(type.status, [...groups.get(type.status) ?? [], type])
  return groups
}

/** Error answers are sent as application/problem+json; a route schema that could not say so is put right. */
function describeProblemsAsProblemJson (operation: Operation): void {
  for (const [status, response] of Object.entries(operation.responses ?? {})) {
    if (isReference(response)) continue
    const json = response.content?.['application/json']
    if (Number(status) >= 400 && json !== undefined) response.content = { [PROBLEM_MEDIA_TYPE]: json }
  }
}

const headerReference = (name: ResponseHeaderName): Reference => ({ $ref: `${HEADER_PREFIX}${name}` })
const optionalHeader = (name: ResponseHeaderName): Header => ({ ...RESPONSE_HEADERS[name], required: false })

/** The headers an answer of this status and these problem types carries, beside those its route declares. */
function sharedHeaders (status: number, types: ProblemType[], noStoreRoute: boolean): Record<string, Header | Reference> {
  const headers: Record<string, Header | Reference> = { 'X-Request-Id': headerReference('X-Request-Id') }
  const beforeRateLimits = types.some((type) => BEFORE_RATE_LIMITS.has(type))
  for (const name of RATE_LIMIT_HEADERS) headers[name] = beforeRateLimits ? optionalHeader(name) : headerReference(name)
  const retryAfter = types.filter((type) => WITH_RETRY_AFTER.has(type))
  if (status === 429 || (retryAfter.length > 0 && retryAfter.length === types.length)) headers['Retry-After'] = headerReference('Retry-After')
  else if (retryAfter.length > 0 || status === 503) headers['Retry-After'] = optionalHeader('Retry-After')
  if (status === 401) headers['WWW-Authenticate'] = headerReference('WWW-Authenticate')
  // API.md: a token outside its scopes gets 403 with `WWW-Authenticate: Bearer error="insufficient_scope", …`.
  if (status === 403) headers['WWW-Authenticate'] = optionalHeader('WWW-Authenticate')
  if (noStoreRoute) headers['Cache-Control'] = headerReference('Cache-Control')
  return headers
}

/** A route's own headers (routes/shared-schemas.ts withHeaders) by reference, then the shared ones. */
function addHeaders (operation: Operation, noStoreRoute: boolean): void {
  for (const [status, response] of Object.entries(operation.responses ?? {})) {
    if (isReference(response)) continue
    const own = Object.fromEntries(Object.keys(response.headers ?? {}).map((name) => {
      if (!(name in RESPONSE_HEADERS)) throw new Error(`response header ${name} is not described in RESPONSE_HEADERS (plugins/openapi.ts)`)
      return [name, headerReference(name as ResponseHeaderName)]
    }))
    response.headers = { ...own, ...sharedHeaders(Number(status), typesOf(response), noStoreRoute) }
  }
}

function completeOperation (path: string, method: string, operation: Operation & { [NO_STORE_MARK]?: boolean }): void {
  const noStoreRoute = operation[NO_STORE_MARK] === true
  Reflect.deleteProperty(operation, NO_STORE_MARK)
  operation.tags ??= [path.split('/')[1] ?? '']
  operation.security ??= BEARER_SECURITY
  describeProblemsAsProblemJson(operation)
  for (const [status, types] of groupByStatus(sharedProblems(method, operation))) addProblems(operation, status, types)
  operation.responses = Object.fromEntries(Object.entries(operation.responses ?? {}).sort(([a], [b]) => a.localeCompare(b)))
  addHeaders(operation, noStoreRoute)
}

/** The shared problem answers that are the same on every route that gives them: in components.responses. */
const COMPONENT_PROBLEMS = groupByStatus([
  problems.unauthorized, problems.insufficientScope, problems.payloadTooLarge, problems.uriTooLong,
  problems.unsupportedMediaType, problems.tooManyRequests, problems.internalError, problems.serviceUnavailable, problems.timeout,
  problems.overloaded, problems.shuttingDown
])

/** A name for a shared answer in components.responses: its status's reason phrase in PascalCase. */
function responseName (status: number): string {
  return (STATUS_CODES[status] ?? String(status)).split(/[^A-Za-z]+/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1).toLowerCase()).join('')
}

/**
 * Moves what repeats into components: the headers, and each shared problem
 * answer where an operation gives it exactly as the component says (a
 * route's own words, or its Cache-Control, keep its copy in place).
 */
function shareComponents (document: Document, operations: Operation[]): void {
  const responses: Record<string, Response> = {}
  for (const [status, types] of COMPONENT_PROBLEMS) {
    const shared: Response = { ...problemResponse(status, types), headers: sharedHeaders(status, types, false) }
    const name = responseName(status)
    for (const operation of operations) {
      if (!isDeepStrictEqual(operation.responses?.[status], shared)) continue
      operation.responses = { ...operation.responses, [status]: { $ref: `${RESPONSE_PREFIX}${name}` } }
      responses[name] = shared
    }
  }
  const used = JSON.stringify(document.paths) + JSON.stringify(responses)
  const headers = Object.fromEntries(Object.entries(RESPONSE_HEADERS).filter(([name]) => used.includes(`"${HEADER_PREFIX}${name}"`)))
  document.components = { ...document.components, responses, headers }
}

/** Adds the shared parts to every operation of the document @fastify/swagger built, and moves repeated ones into components. */
export function completeDocument<T extends { paths?: object; components?: object }> (built: T): T {
  // @fastify/swagger types the document loosely (any OpenAPI version); this app's is 3.1.
  const document = built as unknown as Document
  const operations: Operation[] = []
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item?.[method]
      if (operation === undefined) continue
      completeOperation(path, method, operation)
      operations.push(operation)
    }
  }
  shareComponents(document, operations)
  return built
}
