/**
 * The auth concern's schemas, and the types derived from them: what a user is
 * and what a client sends to register; what a personal access token is and
 * what a client sends to make one. Routes validate and serialize with
 * these, the service and the repository are typed by them.
 */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, StringEnum, Text } from '../../schemas.js'
import { TOKEN_SCOPES } from './scopes.js'

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

export const ScopeSchema = StringEnum(TOKEN_SCOPES, {
  description: 'tasks:read (GET on /tasks), tasks:write (the other task routes; implies tasks:read), webhooks (the /webhooks routes)'
})

/** A personal access token as its owner sees it: never the secret (shown once, in NewToken) nor its hash. */
export const TokenSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  scopes: Type.Array(ScopeSchema),
  createdAt: DateTime(),
  expiresAt: Type.Union([DateTime(), Type.Null()], { description: 'null: lives until revoked' }),
  lastUsedAt: Type.Union([DateTime({ description: 'Kept to within a minute' }), Type.Null()], { description: 'null: never used' })
}, {
  $id: 'Token',
  title: 'Token',
  examples: [{
    id: '6f1c7b8e-2a4d-4a8e-9a51-0c3e5b7d9f21',
    name: 'CI: nightly export',
    scopes: ['tasks:read'],
    createdAt: '2026-11-24T14:00:00.000Z',
    expiresAt: '2027-05-24T00:00:00.000Z',
    lastUsedAt: null
  }]
})
export type Token = Static<typeof TokenSchema>

/** The most a token may be asked to live: until this far ahead of its creation (API.md: at most a year). */
export const TOKEN_MAX_LIFETIME_YEARS = 1

/** What a client sends to make a personal access token. */
export const TokenInputSchema = Type.Object({
  // Trimmed before this check, so a blank name fails minLength.
  name: Text({ minLength: 1, maxLength: 100, description: '1 to 100 characters, not blank: what the token is for' }),
  scopes: Type.Array(ScopeSchema, {
    minItems: 1,
    uniqueItems: true,
    description: 'A non-empty set of scopes: what the token may do'
  }),
  expiresAt: Type.Optional(Type.String({
    format: 'date-time',
    description: 'RFC 3339, in the future and at most a year ahead; leave it out for a token that lives until revoked'
  }))
}, {
  additionalProperties: false,
  examples: [{ name: 'CI: nightly export', scopes: ['tasks:read'], expiresAt: '2027-05-24T00:00:00.000Z' }]
})
export type TokenInput = Static<typeof TokenInputSchema>
