/**
 * Typed errors thrown by services and repositories. They name a kind of
 * failure and know nothing of HTTP: plugins/errors.ts maps kinds to statuses.
 */
export type DomainErrorKind =
  | 'bad-request'
  | 'unauthorized'
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
