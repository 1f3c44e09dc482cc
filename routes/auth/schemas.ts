import { Type } from '@sinclair/typebox'
import { Text } from '../../schemas.js'
import { USER_EXAMPLE, type RegistrationSchema, type UserSchema } from '../../services/auth/schemas.js'
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
