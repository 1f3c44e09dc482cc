import { AjvCompiler, type BuildCompilerFromPool } from '@fastify/ajv-compiler'

const fastifyDefault = AjvCompiler()

const shared = {
  // Unknown properties are a 400 (API.md), never silently dropped (Fastify's default drops them).
  removeAdditional: false,
  useDefaults: true,
  // One error is enough to answer, and stops work early on hostile input.
  allErrors: false
} as const

/**
 * Fastify's validator factory (server option schemaController.compilersFactory),
 * which every encapsulation context uses. JSON bodies arrive typed, so
 * "12345678" and 12345678 stay different things; query strings, params and
 * headers are text, so numbers are coerced and a repeatable parameter
 * (?status=a&status=b, or just ?status=a) becomes an array.
 */
export const buildValidator: BuildCompilerFromPool = (externalSchemas, options) => {
  const compilerFor = (coerceTypes: false | 'array') => fastifyDefault(externalSchemas, {
    plugins: options?.plugins,
    onCreate: options?.onCreate,
    customOptions: { ...shared, coerceTypes }
  })
  const forBodies = compilerFor(false)
  const forText = compilerFor('array')
  return (route) => route.httpPart === 'body' ? forBodies(route) : forText(route)
}
