/**
 * Who the client is: a login (an access token and the refresh token that buys
 * the next pair), a personal access token, or nobody. It puts the bearer on
 * every request and, for a login, refreshes when the server answers 401.
 */
import { ApiProblem } from './problem.js'
import type { Fetch } from './transport.js'
import type { AuthResult } from './types.js'

/** A login's tokens, as the onSession hook gets them to keep. */
export interface SessionTokens {
  accessToken: string
  /** Spent by each refresh: keep only the newest. Presenting a spent one again ends the login (API.md). */
  refreshToken: string
}

/** Called with the new tokens after sign-in and after every refresh, and with null when the login ends. */
export type SessionHook = (tokens: SessionTokens | null) => void | Promise<void>

type Credentials =
  | { kind: 'none' }
  | { kind: 'login'; accessToken: string | undefined; refreshToken: string }
  | { kind: 'personal'; token: string }

export class Session {
  #credentials: Credentials = { kind: 'none' }
  /** The refresh in flight, shared by every request that needs it: a refresh token can be spent only once. */
  #refreshing: Promise<void> | undefined

  constructor (
    private readonly refresh: (refreshToken: string) => Promise<AuthResult>,
    private readonly onSession: SessionHook | undefined
  ) {}

  /** The login's tokens, or null for a personal access token or nobody. */
  get tokens (): SessionTokens | null {
    const credentials = this.#credentials
    if (credentials.kind !== 'login' || credentials.accessToken === undefined) return null
    return { accessToken: credentials.accessToken, refreshToken: credentials.refreshToken }
  }

  /** A login restored from storage; without an access token, the first request refreshes first. */
  resume (tokens: { refreshToken: string; accessToken?: string | undefined }): void {
    this.#credentials = { kind: 'login', accessToken: tokens.accessToken, refreshToken: tokens.refreshToken }
  }

  usePersonalAccessToken (token: string): void {
    this.#credentials = { kind: 'personal', token }
  }

  /** Takes the pair of a sign-in or a refresh and hands it to the hook. */
  async adopt (result: AuthResult): Promise<void> {
    this.#credentials = { kind: 'login', accessToken: result.accessToken, refreshToken: result.refreshToken }
    await this.onSession?.({ accessToken: result.accessToken, refreshToken: result.refreshToken })
  }

  /** Forgets every credential; a login's end is told to the hook. */
  async end (): Promise<void> {
    const wasLogin = this.#credentials.kind === 'login'
    this.#credentials = { kind: 'none' }
    if (wasLogin) await this.onSession?.(null)
  }

  /** The refresh token of the login, if the client has one. */
  get refreshToken (): string | undefined {
    return this.#credentials.kind === 'login' ? this.#credentials.refreshToken : undefined
  }

  /**
   * The session layer: sends with the current bearer; when a login's access
   * token is refused (401), refreshes once, however many requests were
   * refused together, and sends again with the new one. A personal access
   * token is never refreshed: its 401 is the answer.
   */
  authorizing (send: Fetch): Fetch {
    return async (request) => {
      if (this.#credentials.kind === 'login' && this.#credentials.accessToken === undefined) await this.#refreshOnce(undefined)
      const bearer = this.#bearer()
      try {
        return await send(withBearer(request.clone(), bearer))
      } catch (error) {
        if (!(error instanceof ApiProblem && error.status === 401 && this.#credentials.kind === 'login')) throw error
        await this.#refreshOnce(bearer)
        const refreshed = this.#bearer()
        // The login ended meanwhile (another request's refresh was refused): this 401 is the answer.
        if (refreshed === undefined) throw error
        return send(withBearer(request, refreshed))
      }
    }
  }

  #bearer (): string | undefined {
    const credentials = this.#credentials
    if (credentials.kind === 'personal') return credentials.token
    return credentials.kind === 'login' ? credentials.accessToken : undefined
  }

  /**
   * Makes sure the access token is newer than refused: joins the refresh in
   * flight, or does nothing when one has finished since the refused token was
   * sent, or else starts one.
   */
  async #refreshOnce (refused: string | undefined): Promise<void> {
    if (this.#refreshing === undefined) {
      const credentials = this.#credentials
      if (credentials.kind !== 'login') return
      if (credentials.accessToken !== refused) return
      this.#refreshing = this.#refreshWith(credentials.refreshToken).finally(() => { this.#refreshing = undefined })
    }
    await this.#refreshing
  }

  async #refreshWith (refreshToken: string): Promise<void> {
    let result: AuthResult
    try {
      result = await this.refresh(refreshToken)
    } catch (error) {
      // 401: spent, revoked or expired; 400: not a refresh token at all. Either way the login is over.
      // Another failure (no answer, a 503) says nothing about the token: keep it for the next try.
      const loginOver = error instanceof ApiProblem && (error.status === 401 || error.status === 400)
      if (loginOver && this.refreshToken === refreshToken) await this.end()
      throw error
    }
    await this.adopt(result)
  }
}

function withBearer (request: Request, token: string | undefined): Request {
  if (token !== undefined) request.headers.set('authorization', `Bearer ${token}`)
  return request
}
