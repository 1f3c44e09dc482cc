import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox'
import type { ProblemSchema } from '../plugins/problem.js'

/** A problem+json answer in a route's response schema, described for the docs. */
export const problemResponse = (description: string): TUnsafe<Static<typeof ProblemSchema>> =>
  reference<typeof ProblemSchema>('Problem', { description })

/** A $ref to a schema registered with app.addSchema, typed as that schema. */
export const reference = <T extends TSchema>(id: string, options: { description?: string } = {}): TUnsafe<Static<T>> =>
  Type.Unsafe<Static<T>>(Type.Ref(id, options))

/** A 204 answer: no body. */
export const NoContent = Type.Null({ description: 'No content' })
