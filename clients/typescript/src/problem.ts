/** One failed check of a validation problem: where (a JSON pointer, e.g. "/body/title") and what. */
export interface ProblemFieldError {
  path: string
  message: string
}

/** The body of an RFC 9457 problem as taskforge sends it (API.md, "Errors"). */
export interface ProblemDetails {
  type: string
  title: string
  status: number
  detail?: string
  instance?: string
  requestId?: string
  errors?: ProblemFieldError[]
  [extension: string]: unknown
}

/**
 * A 4xx or 5xx answer from the API. Every call of the client rejects with one
 * of these for an HTTP error, never with a bare Response; a request that got
 * no answer at all (the network failed, or it was aborted) rejects with
 * fetch's own error instead.
 */
export class ApiProblem extends Error {
  override readonly name = 'ApiProblem'
  /** A URI naming the kind of problem, e.g. https://taskforge.dev/problems/validation-error. */
  readonly type: string
  /** The HTTP status. */
  readonly status: number
  /** A short summary, the same for every problem of this type. */
  readonly title: string
  /** What went wrong this time, when the server says. */
  readonly detail: string | undefined
  /** The request path the problem belongs to. */
  readonly instance: string | undefined
  /** Validation problems only: each failed check. */
  readonly errors: ProblemFieldError[] | undefined
  /** The server's id for the request (its log lines carry it): quote it when reporting a problem. */
  readonly requestId: string | undefined
  /** The answer's headers, e.g. Retry-After on a 429, WWW-Authenticate on a 401. */
  readonly headers: Headers
  /** The problem's body as sent, extension members included. */
  readonly body: ProblemDetails

  constructor (body: ProblemDetails, headers: Headers = new Headers(), options?: ErrorOptions) {
    super(`${body.status} ${body.title}${body.detail === undefined ? '' : `: ${body.detail}`}`, options)
    this.type = body.type
    this.status = body.status
    this.title = body.title
    this.detail = body.detail
    this.instance = body.instance
    this.errors = body.errors
    this.requestId = body.requestId ?? headers.get('x-request-id') ?? undefined
    this.headers = headers
    this.body = body
  }

  /**
   * The problem an error answer carries. An answer that is not a problem (a
   * proxy's HTML error page, say) becomes one of type about:blank, titled by
   * its status, with the start of its text as detail.
   */
  static async fromResponse (response: Response): Promise<ApiProblem> {
    const text = await response.text()
    return new ApiProblem(parseProblem(response, text), response.headers)
  }
}

function parseProblem (response: Response, text: string): ProblemDetails {
  try {
    const parsed: unknown = JSON.parse(text)
    if (isProblemDetails(parsed)) return parsed
  } catch {
    // Not JSON: described below.
  }
  const detail = text.trim().slice(0, 200)
  return {
    type: 'about:blank',
    title: response.statusText === '' ? `HTTP ${response.status}` : response.statusText,
    status: response.status,
    ...(detail === '' ? {} : { detail })
  }
}

function isProblemDetails (value: unknown): value is ProblemDetails {
  if (typeof value !== 'object' || value === null) return false
  const { type, title, status } = value as Record<string, unknown>
  return typeof type === 'string' && typeof title === 'string' && typeof status === 'number'
}
