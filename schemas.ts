/**
 * The building blocks of every TypeBox schema, in any layer: the domain's
 * (services/<concern>/schemas.ts), the routes' and the config's. Types are
 * derived from schemas with Static<>, never written twice.
 */
import { Type, type StringOptions, type TString, type TUnsafe } from '@sinclair/typebox'

/**
 * An RFC 3339 string on the wire, a Date in handlers: fast-json-stringify
 * writes Dates as ISO strings, so responses return repository objects as they are.
 */
export const DateTime = (options: { description?: string } = {}): TUnsafe<Date> =>
  Type.Unsafe<Date>({ type: 'string', format: 'date-time', ...options })

/** One of a fixed set of strings, described as `{ type: string, enum }`, which docs and clients read as a value list. */
export const StringEnum = <T extends string> (values: readonly T[], options: { description?: string; default?: T } = {}): TUnsafe<T> =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...options })

/**
 * Text the database keeps exactly as sent: no NUL (PostgreSQL's text cannot
 * hold U+0000, so the statement would fail) and no unpaired surrogate (UTF-8
 * cannot encode one: it would be stored as U+FFFD). Written to mean the same
 * with the Unicode flag (Ajv uses it) and without (a client's validator may not).
 */
export const STORABLE_TEXT_PATTERN = '^(?:[^\\u0000\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff])*$'

/** What a client is told when STORABLE_TEXT_PATTERN refuses a string. */
export const STORABLE_TEXT_MESSAGE = 'must not contain NUL (U+0000) or an unpaired surrogate'

/** A string the API stores or searches: every such input uses this, so none can reach PostgreSQL with a NUL. */
export const Text = (options: StringOptions = {}): TString => Type.String({ ...options, pattern: STORABLE_TEXT_PATTERN })
