import fc from 'fast-check'

/** The JSON Schema subset our OpenAPI document uses. */
export interface JsonSchema {
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  anyOf?: JsonSchema[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
  maxItems?: number
  format?: string
  $ref?: string
}

export interface Operation {
  method: string
  path: string
  parameters: { in: string; name: string; schema: JsonSchema }[]
  body: JsonSchema | undefined
}

interface OpenApiDocument {
  paths: Record<string, Record<string, {
    parameters?: { in: string; name: string; schema: JsonSchema }[]
    requestBody?: { content: Record<string, { schema: JsonSchema }> }
  }>>
  components?: { schemas?: Record<string, JsonSchema> }
}

/** Every operation of the document, with $refs to components resolved. */
export function operationsOf (document: OpenApiDocument): Operation[] {
  const resolve = (schema: JsonSchema): JsonSchema => {
    if (schema.$ref !== undefined) return resolve(document.components?.schemas?.[schema.$ref.split('/').pop() ?? ''] ?? {})
    return schema
  }
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      parameters: (operation.parameters ?? []).map((parameter) => ({ ...parameter, schema: resolve(parameter.schema) })),
      body: operation.requestBody?.content['application/json']?.schema === undefined ? undefined : resolve(operation.requestBody.content['application/json'].schema)
    })))
}

/** Characters PostgreSQL cannot store as sent: NUL (text refuses it) and unpaired surrogates (UTF-8 has no encoding for them). */
const unstorableCharacter = fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff')

/** Strings that have broken parsers, logs and databases before. */
export const nastyString = fc.oneof(
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', 'null', 'undefined', '[]', '{}', '"', '\\', '%', '_', '%00', '\'; drop table tasks; --', '<script>alert(1)</script>',
    '\u202e', '\ud800', 'x\udc00', '😀', 'ﷺ', '\r\n', 'a'.repeat(10_001), '__proto__', 'constructor', '1e309', '-0', 'NaN', 'true'),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 300 })
)

/** Any JSON value, including deep and odd ones. */
export const anyJson = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  nastyString,
  fc.constantFrom(null, true, 0, -1, 1.5, 2 ** 53, 1e308, [], {}),
  fc.constant(JSON.parse('{"__proto__": {"polluted": true}}') as unknown),
  fc.constant({ constructor: { prototype: { polluted: true } } })
)

/** A value the schema accepts, mostly; where it would take work to be exact, close enough to reach the code behind validation. */
export function validish (schema: JsonSchema): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum)
  if (schema.anyOf !== undefined) return fc.oneof(...schema.anyOf.map(validish))
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case 'null': return fc.constant(null)
    case 'boolean': return fc.boolean()
    case 'integer': return fc.integer({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1000 })
    case 'number': return fc.double({ noNaN: true })
    case 'array': return fc.array(validish(schema.items ?? {}), { maxLength: Math.min(schema.maxItems ?? 5, 5) })
    case 'object': {
      const properties = schema.properties ?? {}
      const required = new Set(schema.required ?? [])
      return fc.record(
        Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, validish(property)])),
        { requiredKeys: Object.keys(properties).filter((name) => required.has(name)) }
      )
    }
    case 'string': {
      if (schema.format === 'date-time') return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((date) => date.toISOString())
      if (schema.format === 'email') return fc.emailAddress()
      if (schema.format === 'uuid') return fc.uuid()
      const text = fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 60) })
      // Now and then one character the database cannot store, in a string otherwise valid, so that it gets past
      // every other check: a 500 from PostgreSQL shows up as a failure rather than hiding behind a 400.
      return fc.oneof(
        { weight: 9, arbitrary: text },
        { weight: 1, arbitrary: fc.tuple(text, unstorableCharacter, fc.nat()).map(([valid, bad, at]) => withCharacter(valid, bad, at)) }
      )
    }
    default: return anyJson
  }
}

/**
 * The (ASCII: fc.string's default) text with one character replaced by `character`,
 * or just that character if empty: its length stays within bounds.
 */
function withCharacter (text: string, character: string, at: number): string {
  if (text.length === 0) return character
  const index = at % text.length
  return text.slice(0, index) + character + text.slice(index + 1)
}

/** A body: near-valid, with one part broken or extra, or something else entirely. */
export function fuzzBody (schema: JsonSchema | undefined): fc.Arbitrary<unknown> {
  if (schema === undefined) return fc.oneof(fc.constant(undefined), anyJson)
  const properties = Object.keys(schema.properties ?? {})
  const broken = validish(schema).chain((valid) => {
    if (typeof valid !== 'object' || valid === null || properties.length === 0) return fc.constant(valid)
    return fc.record({
      key: fc.constantFrom(...properties, '__proto__', 'constructor', 'userId', 'id', 'version', 'createdAt', 'extra'),
      value: anyJson,
      drop: fc.boolean()
    }).map(({ key, value, drop }) => {
      const copy: Record<string, unknown> = { ...(valid as Record<string, unknown>) }
      if (drop) Reflect.deleteProperty(copy, key)
      else Object.defineProperty(copy, key, { value, enumerable: true, configurable: true, writable: true })
      return copy
    })
  })
  return fc.oneof({ weight: 3, arbitrary: validish(schema) }, { weight: 4, arbitrary: broken }, { weight: 1, arbitrary: anyJson })
}

/** Nested objects deeper than any sane client sends. */
export const deepJson = fc.integer({ min: 100, max: 5000 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`)

/** Text that is not the JSON it claims to be. */
export const badJson = fc.oneof(
  fc.constantFrom('{', '{"title":', '{"title": "x",}', "{'title': 'x'}", 'NaN', '\u0000', '{"a":1}{"a":2}', '\ufeff{"title":"x"}'),
  fc.string({ maxLength: 50 }),
  deepJson
)

/** encodeURIComponent that survives lone surrogates (they become U+FFFD, as a browser would send them). */
export function encodeQueryText (text: string): string {
  try {
    return encodeURIComponent(text)
  } catch {
    return encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '\ufffd'))
  }
}
