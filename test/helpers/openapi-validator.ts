/**
 * Checks answers against openapi.json as a validating proxy would: the
 * operation exists, the status is one it documents, the body fits that
 * response's schema for its media type, every required header is there and
 * every header the API sends is documented and fits its schema. Headers of
 * HTTP itself, CORS and the security headers every answer carries are not
 * the API's to document.
 */
import type { OutgoingHttpHeaders } from 'node:http'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import formats from 'ajv-formats'
import type { OpenAPIV3_1 as OpenApi } from 'openapi-types'
import { API_SECURITY_HEADERS } from '../../plugins/security.js'

/** Headers of HTTP and of CORS: part of every server's answers, not of this API's contract. */
const TRANSPORT_HEADERS = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive', 'transfer-encoding', 'vary'])
const isUndocumentable = (name: string): boolean =>
  TRANSPORT_HEADERS.has(name) || name.startsWith('access-control-') || name in API_SECURITY_HEADERS

export interface Answer {
  method: string
  /** The request URL, query included. */
  url: string
  status: number
  headers: OutgoingHttpHeaders
  body: string
}

export interface FoundOperation {
  /** "GET /tasks/{id}" */
  key: string
  operation: OpenApi.OperationObject
}

const COMPONENTS_ID = 'openapi-components'
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const

/** The document with its schema references pointing at COMPONENTS_ID, where Ajv finds them. */
function pointRefsAtComponents<T> (value: T): T {
  return JSON.parse(JSON.stringify(value).replaceAll('"#/components/schemas/', `"${COMPONENTS_ID}#/$defs/`)) as T
}

function mediaTypeOf (contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase()
}

export function createResponseValidator (source: OpenApi.Document) {
  const document = pointRefsAtComponents(source)
  const ajvOptions = { strict: true, allErrors: true } as const
  const bodies = new Ajv2020(ajvOptions)
  // Header values are text: "42" is an integer header's 42.
  const headerValues = new Ajv2020({ ...ajvOptions, coerceTypes: true })
  for (const ajv of [bodies, headerValues]) {
    // A CommonJS module: its default export is the module object, whose default is the plugin.
    formats.default(ajv)
    ajv.addSchema({ $id: COMPONENTS_ID, $defs: document.components?.schemas ?? {} })
  }
  // Compiled once per schema (a body's) or header object.
  const compiled = new Map<object, ValidateFunction>()
  const validatorFor = (ajv: Ajv2020, key: object, schema: object = key): ValidateFunction => {
    let validate = compiled.get(key)
    if (validate === undefined) {
      validate = ajv.compile(schema)
      compiled.set(key, validate)
    }
    return validate
  }

  const templates = Object.keys(document.paths ?? {}).map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`)
  }))

  const resolve = <T extends object>(value: T | OpenApi.ReferenceObject): T => {
    if (!('$ref' in value)) return value
    const [, section, name] = /^#\/components\/(\w+)\/(.+)$/.exec(value.$ref) ?? []
    const components = document.components as Record<string, Record<string, T> | undefined> | undefined
    const target = section === undefined || name === undefined ? undefined : components?.[section]?.[name]
    if (target === undefined) throw new Error(`unresolved reference ${value.$ref}`)
    return target
  }

  function findOperation (method: string, url: string): FoundOperation | undefined {
    const path = url.split('?')[0] ?? ''
    const match = templates.find(({ pattern }) => pattern.test(path))
    const operation = match === undefined ? undefined : document.paths?.[match.template]?.[method.toLowerCase() as typeof METHODS[number]]
    return match === undefined || operation === undefined ? undefined : { key: `${method.toUpperCase()} ${match.template}`, operation }
  }

  function checkBody (answer: Answer, response: OpenApi.ResponseObject): string[] {
    const contentType = answer.headers['content-type']
    const mediaType = mediaTypeOf(typeof contentType === 'string' ? contentType : undefined)
    if (answer.body === '') return response.content === undefined || answer.status === 204 ? [] : ['the body is empty; the document gives it content']
    if (mediaType === undefined) return ['a body without Content-Type']
    const media = response.content?.[mediaType]
    if (media?.schema === undefined) return [`a ${mediaType} body; the document has ${Object.keys(response.content ?? {}).join(', ') || 'no content'}`]
    let value: unknown = answer.body
    if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
      try {
        value = JSON.parse(answer.body)
      } catch {
        return [`the ${mediaType} body is not JSON`]
      }
    }
    const validate = validatorFor(bodies, media.schema)
    return validate(value) ? [] : (validate.errors ?? []).map((error) => `body${error.instancePath} ${error.message ?? 'is invalid'}`)
  }

  function checkHeaders (answer: Answer, response: OpenApi.ResponseObject): string[] {
    const problems: string[] = []
    const documented = new Map(Object.entries(response.headers ?? {}).map(([name, header]) => [name.toLowerCase(), resolve(header)]))
    for (const [name, header] of documented) {
      const value = answer.headers[name]
      if (value === undefined) {
        if (header.required === true) problems.push(`header ${name} is missing; the document says it is always sent`)
        continue
      }
      const text = Array.isArray(value) ? value.join(', ') : String(value)
      const validate = validatorFor(headerValues, header, { type: 'object', properties: { value: header.schema ?? {} } })
      if (!validate({ value: text })) problems.push(`header ${name}: ${JSON.stringify(text)} ${validate.errors?.[0]?.message ?? 'is invalid'}`)
    }
    for (const name of Object.keys(answer.headers)) {
      if (!documented.has(name.toLowerCase()) && !isUndocumentable(name.toLowerCase())) problems.push(`header ${name} is not documented`)
    }
    return problems
  }

  return {
    findOperation,
    /** Every operation of the document, as "METHOD /path". */
    operations: (): string[] => Object.entries(document.paths ?? {}).flatMap(([template, item]) =>
      METHODS.filter((method) => item?.[method] !== undefined).map((method) => `${method.toUpperCase()} ${template}`)),
    /** What does not fit the document in this answer; empty when it all does. */
    check (answer: Answer): string[] {
      const found = findOperation(answer.method, answer.url)
      if (found === undefined) return [`${answer.method} ${answer.url} is no operation of the document`]
      const documented = found.operation.responses?.[String(answer.status)]
      if (documented === undefined) return [`${found.key} answered ${answer.status}, which the document does not list`]
      const response = resolve(documented)
      return [...checkBody(answer, response), ...checkHeaders(answer, response)]
    }
  }
}

export type ResponseValidator = ReturnType<typeof createResponseValidator>
