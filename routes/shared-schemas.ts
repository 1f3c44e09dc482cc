import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox'
import { RESPONSE_HEADERS, problemExamples, type ResponseHeaderName } from '../plugins/openapi.js'
import { PROBLEM_MEDIA_TYPE, type ProblemSchema, type ProblemType } from '../plugins/problem.js'

/** A $ref to a schema registered with app.addSchema, typed as that schema. */
export const reference = <T extends TSchema>(id: string, options: { description?: string } = {}): TUnsafe<Static<T>> =>
  Type.Unsafe<Static<T>>(Type.Ref(id, options))

/**
 * A problem+json answer a route gives for reasons of its own: what it means
 * on this route, and its problem types (plugins/problem.ts), shown as
 * examples. The problems every route shares are added by plugins/openapi.ts.
 */
export const problemResponse = (description: string, ...types: ProblemType[]): TUnsafe<Static<typeof ProblemSchema>> =>
  Type.Unsafe<Static<typeof ProblemSchema>>({
    description,
    content: {
      [PROBLEM_MEDIA_TYPE]: { schema: Type.Ref('Problem'), ...(types.length === 0 ? {} : { examples: problemExamples(types) }) }
    }
  })

/** A success answer and the headers of its own that it sends (described in plugins/openapi.ts's RESPONSE_HEADERS). */
export const withHeaders = <T extends TSchema>(schema: T, ...names: ResponseHeaderName[]): T => ({
  ...schema,
  headers: Object.fromEntries(names.map((name) => [name, RESPONSE_HEADERS[name].schema]))
})

/** A 204 answer: no body. */
export const NoContent = Type.Null({ description: 'No content' })
