import { Type } from '@sinclair/typebox'
import { Text } from '../../schemas.js'
import { TokenSchema, type UserSchema } from '../../services/auth/schemas.js'
import { problemResponse, reference } from '../shared-schemas.js'

export const AuthResultSchema = Type.Object({
  user: reference<typeof UserSchema>('User'),
  accessToken: Type.String({ description: 'A JWT to send as `Authorization: Bearer <token>`' }),
  refreshToken: Type.String({ description: 'Opaque; exchange it at POST /auth/refresh (once) for a new pair' }),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Lifetime of the access token in seconds' })
}, { $id: 'AuthResult', title: 'AuthResult' })

const RefreshToken = Type.String({ minLength: 1, maxLength: 512 })

// Login takes any password string (a new one is Text, services/auth/schemas.ts): it is only ever hashed.
export const LoginBody = Type.Object({
  email: Text({ minLength: 1, maxLength: 254 }),
  password: Type.String({ minLength: 1, maxLength: 128 })
}, { additionalProperties: false })
export const RefreshBody = Type.Object({ refreshToken: RefreshToken }, { additionalProperties: false })

const TokenRef = reference<typeof TokenSchema>('Token')

/** A new personal access token: a Token and, this once, its secret (one flat object, which every serializer and client reads alike). */
export const NewTokenSchema = Type.Composite([
  TokenSchema,
  Type.Object({
    token: Type.String({
      pattern: '^tfp_[A-Za-z0-9_-]{43}$',
      description: 'The secret, shown this once and never again: send it as `Authorization: Bearer tfp_…`. Only a hash of it is stored.'
    })
  })
], {
  $id: 'NewToken',
  title: 'NewToken',
  examples: [{
    id: '6f1c7b8e-2a4d-4a8e-9a51-0c3e5b7d9f21',
    name: 'CI: nightly export',
    scopes: ['tasks:read'],
    createdAt: '2026-11-24T14:00:00.000Z',
    expiresAt: '2027-05-24T00:00:00.000Z',
    lastUsedAt: null,
    token: 'tfp_3q2-7wEXAMPLEonlyN0tAr3alT0kenXXXXXXXXXXXXX'
  }]
})

export const TokenList = Type.Object({
  items: Type.Array(TokenRef, { description: 'The live tokens (neither revoked nor expired), newest first' })
})

export const TokenParams = Type.Object({ id: Type.String({ description: 'The token id (a UUID)' }) })

export const problems = {
  400: problemResponse('The request is invalid'),
  401: problemResponse('Missing, invalid or expired credentials'),
  403: problemResponse('The credential does not cover this route (insufficient_scope): a personal access token here'),
  404: problemResponse('No such token among yours'),
  409: problemResponse('The email is already registered'),
  429: problemResponse('Too many requests')
}
