import { Type } from '@sinclair/typebox'
import { Text } from '../../schemas.js'
import { TokenSchema, USER_EXAMPLE, type RegistrationSchema, type UserSchema } from '../../services/auth/schemas.js'
import { reference } from '../shared-schemas.js'

export const AuthResultSchema = Type.Object({
  user: reference<typeof UserSchema>('User'),
  accessToken: Type.String({ description: 'A JWT to send as `Authorization: Bearer <token>`' }),
  refreshToken: Type.String({ description: 'Opaque; exchange it at POST /auth/refresh (once) for a new pair' }),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Lifetime of the access token in seconds' })
}, {
  $id: 'AuthResult',
  title: 'AuthResult',
  description: 'A signed-in session: the user, a short-lived access token and the refresh token that renews it',
  examples: [{
    user: USER_EXAMPLE,
    accessToken: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0ZjJjN2Q2ZS0…',
    refreshToken: 'q8FJ0m3x…',
    tokenType: 'Bearer',
    expiresIn: 900
  }]
})
/** An AuthResult answer, described for the route that gives it. */
export const authResultAnswer = (description: string) => reference<typeof AuthResultSchema>('AuthResult', { description })

// Login takes any password string (a new one is Text, services/auth/schemas.ts): it is only ever hashed.
export const CredentialsSchema = Type.Object({
  email: Text({ minLength: 1, maxLength: 254 }),
  password: Type.String({ minLength: 1, maxLength: 128 })
}, {
  $id: 'Credentials',
  title: 'Credentials',
  additionalProperties: false,
  examples: [{ email: 'ada@example.io', password: 'correct horse battery staple' }]
})
export const CredentialsRef = reference<typeof CredentialsSchema>('Credentials')

export const RefreshRequestSchema = Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 512 }) }, {
  $id: 'RefreshRequest',
  title: 'RefreshRequest',
  additionalProperties: false,
  examples: [{ refreshToken: 'q8FJ0m3x…' }]
})
export const RefreshRequestRef = reference<typeof RefreshRequestSchema>('RefreshRequest')

export const RegistrationRef = reference<typeof RegistrationSchema>('Registration')

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
