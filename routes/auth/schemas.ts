import { Type } from '@sinclair/typebox'
import { Text } from '../../schemas.js'
import type { UserSchema } from '../../services/auth/schemas.js'
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

export const problems = {
  400: problemResponse('The request is invalid'),
  401: problemResponse('Missing, invalid or expired credentials'),
  409: problemResponse('The email is already registered'),
  429: problemResponse('Too many requests')
}
