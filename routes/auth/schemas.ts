import { Type, type Static } from '@sinclair/typebox'
import { DateTime, problemResponse, reference, Text } from '../shared-schemas.js'

export const UserSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String({ format: 'email' }),
  name: Type.Union([Type.String(), Type.Null()]),
  createdAt: DateTime()
}, { $id: 'User', title: 'User' })

export const AuthResultSchema = Type.Object({
  user: reference<typeof UserSchema>('User'),
  accessToken: Type.String({ description: 'A JWT to send as `Authorization: Bearer <token>`' }),
  refreshToken: Type.String({ description: 'Opaque; exchange it at POST /auth/refresh (once) for a new pair' }),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Lifetime of the access token in seconds' })
}, { $id: 'AuthResult', title: 'AuthResult' })

// Code points, not UTF-16 units: Ajv counts string length the way API.md does.
const Email = Text({ format: 'email', maxLength: 254, description: 'Trimmed; unique regardless of letter case' })
// A new password is text like any other, so that every client types and encodes it the same way; login takes any
// string (below), as a password is only ever hashed, and an account made before this rule must still get in.
const Password = Text({ minLength: 8, maxLength: 128, description: '8 to 128 characters' })
// Trimmed before this check, so a blank name fails minLength.
const Name = Text({ minLength: 1, maxLength: 100, description: '1 to 100 characters, not blank' })
const RefreshToken = Type.String({ minLength: 1, maxLength: 512 })

export const RegisterBody = Type.Object({ email: Email, password: Password, name: Type.Optional(Name) }, { additionalProperties: false })
export const LoginBody = Type.Object({ email: Text({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false })
export const RefreshBody = Type.Object({ refreshToken: RefreshToken }, { additionalProperties: false })

export type RegisterBody = Static<typeof RegisterBody>

export const problems = {
  400: problemResponse('The request is invalid'),
  401: problemResponse('Missing, invalid or expired credentials'),
  409: problemResponse('The email is already registered'),
  429: problemResponse('Too many requests')
}
