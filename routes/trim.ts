import type { preValidationHookHandler } from 'fastify'

/**
 * Trims the named top-level strings of a JSON body before the schema judges
 * them, so that "  Ada@x.io " is stored as "Ada@x.io" and a blank title
 * fails its minLength.
 */
export const trimBodyStrings = (fields: string[]): preValidationHookHandler => (request, _reply, done) => {
  const body = request.body
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const record = body as Record<string, unknown>
    for (const field of fields) {
      const value = record[field]
      if (typeof value === 'string') record[field] = value.trim()
    }
  }
  done()
}
