import type { FastifyInstance } from 'fastify'
import { bearer } from './auth.js'

export type Scope = 'tasks:read' | 'tasks:write' | 'webhooks'

export interface TokenBody {
  id: string
  name: string
  scopes: Scope[]
  createdAt: string
  expiresAt: string | null
  lastUsedAt: string | null
}

export interface NewTokenBody extends TokenBody {
  token: string
}

let counter = 0

/** Makes a personal access token through HTTP with a session's access token. */
export async function createToken (
  app: FastifyInstance, accessToken: string, body: { name?: string; scopes: Scope[]; expiresAt?: string }
): Promise<NewTokenBody> {
  counter += 1
  const response = await app.inject({
    method: 'POST', url: '/auth/tokens', headers: bearer(accessToken), payload: { name: `token ${counter}`, ...body }
  })
  if (response.statusCode !== 201) throw new Error(`token creation failed: ${response.statusCode} ${response.body}`)
  return response.json<NewTokenBody>()
}

/** A token of the right form that no server ever issued. */
export function unknownToken (): string {
  return `tfp_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')}`
}
