import type { FastifyInstance } from 'fastify'

export interface AuthResult {
  user: { id: string; email: string; name: string | null; createdAt: string }
  accessToken: string
  refreshToken: string
  tokenType: 'Bearer'
  expiresIn: number
}

let counter = 0

/** Registers a fresh user through HTTP and returns the AuthResult. */
export async function registerUser (
  app: FastifyInstance, overrides: { email?: string; password?: string; name?: string } = {}
): Promise<AuthResult & { password: string }> {
  counter += 1
  const password = overrides.password ?? 'correct horse battery staple'
  const response = await app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { email: overrides.email ?? `user${counter}-${Date.now()}@example.io`, password, ...(overrides.name === undefined ? {} : { name: overrides.name }) }
  })
  if (response.statusCode !== 201) throw new Error(`registration failed: ${response.statusCode} ${response.body}`)
  return { ...response.json<AuthResult>(), password }
}

export function bearer (token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

/** Logs an existing user in again through HTTP, e.g. after a test moved the clock past their token. */
export async function loginUser (app: FastifyInstance, email: string, password: string): Promise<AuthResult> {
  const response = await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return response.json<AuthResult>()
}

/**
 * The token with the first character of its signature changed. Not the last: it carries two padding bits that
 * base64url decoding ignores, so "changing" it can leave the signature as it was (about 1 time in 1,000 for "…xx").
 */
export function tamperSignature (token: string): string {
  const dot = token.lastIndexOf('.') + 1
  return `${token.slice(0, dot)}${token[dot] === 'A' ? 'B' : 'A'}${token.slice(dot + 1)}`
}
