/**
 * Typed errors thrown by services and repositories. They name a kind of
 * failure and know nothing of HTTP: plugins/errors.ts maps kinds to statuses.
 */
export type DomainErrorKind =
  | 'bad-request'
  | 'unauthorized'
  | 'insufficient-scope'
  | 'not-found'
  | 'conflict'
  | 'precondition-failed'
  | 'unprocessable'
  | 'rate-limited'
  | 'unavailable'

export class DomainError extends Error {
  constructor (readonly kind: DomainErrorKind, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

export class BadRequestError extends DomainError {
  constructor (message: string, options?: ErrorOptions) { super('bad-request', message, options) }
}

export class UnauthorizedError extends DomainError {
  constructor (message = 'Authentication is required') { super('unauthorized', message) }
}

/**
 * The credential is valid but does not cover this: a personal access token
 * without the scope a route needs. `scope` is that scope; undefined when no
 * scope would do (a route that wants a session).
 */
export class InsufficientScopeError extends DomainError {
  constructor (message: string, readonly scope?: string) { super('insufficient-scope', message) }
}

/**
 * One field of the input breaks a rule its schema cannot say (a time that
 * must be in the future, say): a 400 that names the field, like a schema's.
 * `field` is the field's path in the body, e.g. "expiresAt".
 */
export class InvalidFieldError extends BadRequestError {
  constructor (readonly field: string, readonly rule: string) { super(`${field} ${rule}`) }
}

export class NotFoundError extends DomainError {
  constructor (message = 'The resource does not exist') { super('not-found', message) }
}

export class ConflictError extends DomainError {
  constructor (message: string, options?: ErrorOptions) { super('conflict', message, options) }
}

export class PreconditionFailedError extends DomainError {
  constructor (message = 'The resource has changed since you last read it') { super('precondition-failed', message) }
}

export class UnprocessableError extends DomainError {
  constructor (message: string, options?: ErrorOptions) { super('unprocessable', message, options) }
}

export class TooManyRequestsError extends DomainError {
  constructor (message: string) { super('rate-limited', message) }
}

/** The database (or another dependency) cannot serve the request right now; retrying later may work. */
export class UnavailableError extends DomainError {
  constructor (message: string, options?: ErrorOptions) { super('unavailable', message, options) }
}
