/**
 * The auth concern's schemas, and the types derived from them: what a user is
 * and what a client sends to register. Routes validate and serialize with
 * these, the service and the repository are typed by them.
 */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, Text } from '../../schemas.js'

/** What a user looks like in the OpenAPI document's examples. */
export const USER_EXAMPLE = { id: '4f2c7d6e-8b1a-4c3e-9d5f-2a7b6c8e1f30', email: 'ada@example.io', name: 'Ada', createdAt: '2026-11-24T14:00:00.000Z' }

/** An account as its owner (and the API) sees it: never its password hash. */
export const UserSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String({ format: 'email' }),
  name: Type.Union([Type.String(), Type.Null()]),
  createdAt: DateTime()
}, { $id: 'User', title: 'User', examples: [USER_EXAMPLE] })
export type User = Static<typeof UserSchema>

// Code points, not UTF-16 units: Ajv counts string length the way API.md does.
const Email = Text({ format: 'email', maxLength: 254, description: 'Trimmed; unique regardless of letter case' })
// A new password is text like any other, so that every client types and encodes it the same way; login takes any
// string, as a password is only ever hashed, and an account made before this rule must still get in.
const Password = Text({ minLength: 8, maxLength: 128, description: '8 to 128 characters' })
// Trimmed before this check, so a blank name fails minLength.
const Name = Text({ minLength: 1, maxLength: 100, description: '1 to 100 characters, not blank' })

/** What a client sends to open an account. */
export const RegistrationSchema = Type.Object({
  email: Email,
  password: Password,
  name: Type.Optional(Name)
}, {
  $id: 'Registration',
  title: 'Registration',
  additionalProperties: false,
  examples: [{ email: 'ada@example.io', password: 'correct horse battery staple', name: 'Ada' }]
})

/** A registration as the users service takes it: the client's email and password, and the user's name (null for none). */
export type Registration = Pick<Static<typeof RegistrationSchema>, 'email' | 'password'> & Pick<User, 'name'>
