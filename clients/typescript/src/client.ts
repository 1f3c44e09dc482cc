import createClient, { type Client } from 'openapi-fetch'
import type { paths } from './generated/openapi.js'
import { Session, type SessionHook, type SessionTokens } from './session.js'
import { rejectingProblems, retryingSafeRequests, type Fetch, type RetryOptions } from './transport.js'
import type {
  AuthResult, Credentials, DeliveryFilters, DeliveryListQuery, DeliveryPage, NewPersonalAccessToken, NewTask, NewWebhook,
  PersonalAccessToken, PersonalAccessTokenInput, RegisterInput, Task, TaskChanges, TaskFilters, TaskListQuery, TaskPage,
  TaskReplacement, User, Webhook, WebhookChanges, WebhookDelivery, WebhookInput
} from './types.js'

export interface TaskforgeClientOptions {
  /** Where the API is, e.g. "https://tasks.example.com" (in a browser also a path of this origin, "/api"). Required. */
  baseUrl: string | URL
  /** Act with a personal access token ("tfp_…"): sent as the bearer, never refreshed. */
  personalAccessToken?: string
  /** Resume a login kept from before (see onSession); without accessToken the first request refreshes first. */
  session?: { refreshToken: string; accessToken?: string }
  /**
   * Called with a login's new tokens after sign-in, register and every
   * refresh, and with null when the login ends: keep the refresh token here
   * (only the newest works). The call that caused it waits for the hook; if
   * the hook throws, that call rejects with its error.
   */
  onSession?: SessionHook
  /** The fetch to send with (default: globalThis.fetch), e.g. one with a proxy agent or with logging. */
  fetch?: Fetch
  /** Headers sent with every request, e.g. a User-Agent of your own. */
  headers?: Record<string, string>
  /** Retries of reads and of creates (which carry an Idempotency-Key); { attempts: 1 } turns them off. */
  retry?: RetryOptions
}

/** Options every call takes. */
export interface CallOptions {
  /** Aborts the call, its retries and waits included. */
  signal?: AbortSignal
}

export interface CreateOptions extends CallOptions {
  /**
   * Makes a repeat of this create (yours, or the client's own retry) return
   * the first task instead of making another, for 24 hours. Default: a new
   * random key for each call of create(); pass your own to retry across
   * calls, or across restarts, safely.
   */
  idempotencyKey?: string
}

export interface WriteOptions extends CallOptions {
  /**
   * Write only if the task is still at this version, else reject with a 412
   * ApiProblem and change nothing. true: the version of the task passed in
   * (which must then be a task, not only an id).
   */
  ifMatch?: boolean | number
}

/** A task to write to: its id, or the task itself (whose version ifMatch: true uses). */
export type TaskTarget = string | Pick<Task, 'id' | 'version'>

/** A fresh Idempotency-Key: a random UUID. */
export function newIdempotencyKey (): string {
  // randomUUID exists only in secure contexts in browsers (https, localhost); getRandomValues everywhere.
  if (typeof globalThis.crypto.randomUUID === 'function') return globalThis.crypto.randomUUID()
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')
}

/**
 * A client of the taskforge API. Every call resolves with the API's typed
 * answer or rejects with an ApiProblem (see problem.ts).
 */
export class TaskforgeClient {
  /**
   * The generated client (openapi-fetch) for any route, with this client's
   * session, refresh, retries and problems: an error answer rejects with an
   * ApiProblem, so `error` in its results is never set.
   */
  readonly api: Client<paths>
  readonly tasks: TaskCalls
  /** Personal access tokens: only a signed-in client (a login, not a token) may make, list or revoke them. */
  readonly tokens: TokenCalls
  /** Webhooks: a login, or a personal access token with the webhooks scope. */
  readonly webhooks: WebhookCalls
  readonly #session: Session
  readonly #public: Client<paths>

  constructor (options: TaskforgeClientOptions) {
    const baseUrl = checkedBaseUrl((options as Partial<TaskforgeClientOptions> | undefined)?.baseUrl)
    if (options.personalAccessToken !== undefined && options.session !== undefined) {
      throw new TypeError('TaskforgeClient takes a personalAccessToken or a session, not both')
    }
    const fetch = options.fetch ?? ((request: Request) => globalThis.fetch(request))
    const send = retryingSafeRequests(rejectingProblems(fetch), options.retry)
    const clientOptions = { baseUrl, ...(options.headers === undefined ? {} : { headers: options.headers }) }
    // Sign-in, refresh and sign-out carry no bearer and are never refreshed: they are what refreshes.
    this.#public = createClient<paths>({ ...clientOptions, fetch: send })
    this.#session = new Session(async (refreshToken) => {
      const { data } = await this.#public.POST('/auth/refresh', { body: { refreshToken } })
      return present(data)
    }, options.onSession)
    if (options.personalAccessToken !== undefined) this.#session.usePersonalAccessToken(options.personalAccessToken)
    if (options.session !== undefined) this.#session.resume(options.session)
    this.api = createClient<paths>({ ...clientOptions, fetch: this.#session.authorizing(send) })
    this.tasks = new TaskCalls(this.api)
    this.tokens = new TokenCalls(this.api)
    this.webhooks = new WebhookCalls(this.api)
  }

  /** The login's current tokens, or null (signed out, or acting with a personal access token). */
  get session (): SessionTokens | null {
    return this.#session.tokens
  }

  /** Makes an account and signs in as it. */
  async register (input: RegisterInput, options: CallOptions = {}): Promise<AuthResult> {
    const { data } = await this.#public.POST('/auth/register', { body: input, ...options })
    const result = present(data)
    await this.#session.adopt(result)
    return result
  }

  /** Signs in with email and password. */
  async signIn (credentials: Credentials, options: CallOptions = {}): Promise<AuthResult> {
    const { data } = await this.#public.POST('/auth/login', { body: credentials, ...options })
    const result = present(data)
    await this.#session.adopt(result)
    return result
  }

  /** Ends the login on the server (its refresh tokens stop working) and forgets it; forgets a personal access token. */
  async signOut (options: CallOptions = {}): Promise<void> {
    const refreshToken = this.#session.refreshToken
    if (refreshToken !== undefined) await this.#public.POST('/auth/logout', { body: { refreshToken }, ...options })
    await this.#session.end()
  }

  /** The signed-in user. */
  async me (options: CallOptions = {}): Promise<User> {
    const { data } = await this.api.GET('/auth/me', { ...options })
    return present(data)
  }
}

/** GET, POST, PUT, PATCH and DELETE on /tasks. */
export class TaskCalls {
  constructor (private readonly api: Client<paths>) {}

  /** One page of tasks. */
  async list (query: TaskListQuery = {}, options: CallOptions = {}): Promise<TaskPage> {
    const { data } = await this.api.GET('/tasks', { params: { query }, ...options })
    return present(data)
  }

  /** Every page of the list with these filters, following nextCursor: each matching task once, also while tasks are added. */
  async * pages (filters: TaskFilters = {}, options: CallOptions = {}): AsyncGenerator<TaskPage, void, undefined> {
    let cursor: string | null = null
    do {
      const page: TaskPage = await this.list(cursor === null ? filters : { ...filters, cursor }, options)
      yield page
      cursor = page.nextCursor
    } while (cursor !== null)
  }

  /** Every task of the list with these filters, a page at a time (see pages()). */
  async * all (filters: TaskFilters = {}, options: CallOptions = {}): AsyncGenerator<Task, void, undefined> {
    for await (const page of this.pages(filters, options)) yield * page.items
  }

  /** Creates a task; with an Idempotency-Key always (see CreateOptions), so a retry never makes a second one. */
  async create (task: NewTask, { idempotencyKey = newIdempotencyKey(), ...options }: CreateOptions = {}): Promise<Task> {
    const { data } = await this.api.POST('/tasks', { body: task, params: { header: { 'idempotency-key': idempotencyKey } }, ...options })
    return present(data)
  }

  async get (id: string, options: CallOptions = {}): Promise<Task> {
    const { data } = await this.api.GET('/tasks/{id}', { params: { path: { id } }, ...options })
    return present(data)
  }

  /** PUT: replaces every writable field; those left out are reset to their defaults. */
  async replace (task: TaskTarget, replacement: TaskReplacement, { ifMatch, ...options }: WriteOptions = {}): Promise<Task> {
    const { data } = await this.api.PUT('/tasks/{id}', { body: replacement, params: writeParams(task, ifMatch), ...options })
    return present(data)
  }

  /** PATCH: changes the given fields only. */
  async update (task: TaskTarget, changes: TaskChanges, { ifMatch, ...options }: WriteOptions = {}): Promise<Task> {
    const { data } = await this.api.PATCH('/tasks/{id}', { body: changes, params: writeParams(task, ifMatch), ...options })
    return present(data)
  }

  /** Marks the task done. */
  async complete (task: TaskTarget, { ifMatch, ...options }: WriteOptions = {}): Promise<Task> {
    const { data } = await this.api.POST('/tasks/{id}/done', { params: writeParams(task, ifMatch), ...options })
    return present(data)
  }

  async delete (task: TaskTarget, { ifMatch, ...options }: WriteOptions = {}): Promise<void> {
    await this.api.DELETE('/tasks/{id}', { params: writeParams(task, ifMatch), ...options })
  }
}

/** POST, GET and DELETE on /auth/tokens. */
export class TokenCalls {
  constructor (private readonly api: Client<paths>) {}

  /** Makes a token; its secret (`token`) is in this answer only. */
  async create (input: PersonalAccessTokenInput, options: CallOptions = {}): Promise<NewPersonalAccessToken> {
    const { data } = await this.api.POST('/auth/tokens', { body: input, ...options })
    return present(data)
  }

  /** Your tokens that still work, newest first, without their secrets. */
  async list (options: CallOptions = {}): Promise<PersonalAccessToken[]> {
    const { data } = await this.api.GET('/auth/tokens', { ...options })
    return present(data).items
  }

  /** Revokes a token (its id, or the token as made or listed): it stops working at once. */
  async revoke (token: string | Pick<PersonalAccessToken, 'id'>, options: CallOptions = {}): Promise<void> {
    await this.api.DELETE('/auth/tokens/{id}', { params: { path: { id: typeof token === 'string' ? token : token.id } }, ...options })
  }
}

/** A webhook to act on: its id, or the webhook as made, listed or read. */
export type WebhookTarget = string | Pick<Webhook, 'id'>

/** POST, GET, PATCH and DELETE on /webhooks, its secret's rotation and its deliveries. */
export class WebhookCalls {
  constructor (private readonly api: Client<paths>) {}

  /**
   * Makes a webhook; its signing secret (`secret`) is in this answer only:
   * keep it where your receiver reads it. Not retried by the client (the
   * route takes no Idempotency-Key): a lost answer may have made one.
   */
  async create (input: WebhookInput, options: CallOptions = {}): Promise<NewWebhook> {
    const { data } = await this.api.POST('/webhooks', { body: input, ...options })
    return present(data)
  }

  /** Your webhooks, oldest first, without their secrets. */
  async list (options: CallOptions = {}): Promise<Webhook[]> {
    const { data } = await this.api.GET('/webhooks', { ...options })
    return present(data).items
  }

  async get (webhook: WebhookTarget, options: CallOptions = {}): Promise<Webhook> {
    const { data } = await this.api.GET('/webhooks/{id}', { params: { path: { id: webhookId(webhook) } }, ...options })
    return present(data)
  }

  /** PATCH: changes the given fields only; enabled: true after the server disabled it starts its failure count afresh. */
  async update (webhook: WebhookTarget, changes: WebhookChanges, options: CallOptions = {}): Promise<Webhook> {
    const { data } = await this.api.PATCH('/webhooks/{id}', { body: changes, params: { path: { id: webhookId(webhook) } }, ...options })
    return present(data)
  }

  /** Deletes the webhook: nothing more is sent to it. */
  async delete (webhook: WebhookTarget, options: CallOptions = {}): Promise<void> {
    await this.api.DELETE('/webhooks/{id}', { params: { path: { id: webhookId(webhook) } }, ...options })
  }

  /**
   * Gives the webhook a new secret, in this answer only. For 24 hours the old
   * one signs beside it, so a receiver can move over without refusing a
   * delivery (verifyWebhook takes both).
   */
  async rotateSecret (webhook: WebhookTarget, options: CallOptions = {}): Promise<NewWebhook> {
    const { data } = await this.api.POST('/webhooks/{id}/rotate-secret', { params: { path: { id: webhookId(webhook) } }, ...options })
    return present(data)
  }

  /** One page of the webhook's deliveries, newest first. */
  async listDeliveries (webhook: WebhookTarget, query: DeliveryListQuery = {}, options: CallOptions = {}): Promise<DeliveryPage> {
    const { data } = await this.api.GET('/webhooks/{id}/deliveries', { params: { path: { id: webhookId(webhook) }, query }, ...options })
    return present(data)
  }

  /** Every page of the webhook's deliveries, newest first, following nextCursor. */
  async * deliveryPages (
    webhook: WebhookTarget, filters: DeliveryFilters = {}, options: CallOptions = {}
  ): AsyncGenerator<DeliveryPage, void, undefined> {
    let cursor: string | null = null
    do {
      const page: DeliveryPage = await this.listDeliveries(webhook, cursor === null ? filters : { ...filters, cursor }, options)
      yield page
      cursor = page.nextCursor
    } while (cursor !== null)
  }

  /** Every delivery of the webhook, newest first, a page at a time (see deliveryPages()). */
  async * deliveries (
    webhook: WebhookTarget, filters: DeliveryFilters = {}, options: CallOptions = {}
  ): AsyncGenerator<WebhookDelivery, void, undefined> {
    for await (const page of this.deliveryPages(webhook, filters, options)) yield * page.items
  }
}

function webhookId (webhook: WebhookTarget): string {
  return typeof webhook === 'string' ? webhook : webhook.id
}

function writeParams (task: TaskTarget, ifMatch: boolean | number | undefined): { path: { id: string }; header?: { 'if-match': string } } {
  const id = typeof task === 'string' ? task : task.id
  if (ifMatch === undefined || ifMatch === false) return { path: { id } }
  if (ifMatch === true && typeof task === 'string') {
    throw new TypeError('ifMatch: true takes the version from the task: pass the task, not only its id (or pass ifMatch: version)')
  }
  const version = ifMatch === true ? (task as Pick<Task, 'version'>).version : ifMatch
  return { path: { id }, header: { 'if-match': `"${version}"` } }
}

/** The body of a 2xx answer that has one: openapi-fetch types it as possibly missing. */
function present<T> (data: T | undefined): T {
  if (data === undefined) throw new Error('the API answered without the body this route always has')
  return data
}

function checkedBaseUrl (baseUrl: string | URL | undefined): string {
  const example = 'e.g. new TaskforgeClient({ baseUrl: "https://tasks.example.com" })'
  if (baseUrl === undefined || String(baseUrl).trim() === '') {
    throw new TypeError(`TaskforgeClient needs baseUrl, the address of the taskforge API: ${example}`)
  }
  // A browser page may name a path of its own origin ("/api"); elsewhere the URL must be absolute.
  const page = (globalThis as { location?: { href: string } }).location?.href
  let url: URL
  try {
    url = new URL(String(baseUrl), page)
  } catch {
    throw new TypeError(`TaskforgeClient: baseUrl ${JSON.stringify(String(baseUrl))} is not an absolute URL: ${example}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`TaskforgeClient: baseUrl must be an http or https URL, not ${url.protocol}: ${example}`)
  }
  return url.href
}
