import type { FastifyJWTOptions, JWT } from '@fastify/jwt'
import { TokenError } from 'fast-jwt'
import { UnauthorizedError } from '../../errors.js'
import type { Clock } from '../clock.js'

// One algorithm, pinned on both sides: a token with alg "none", RS256 or any
// other header is refused before its signature is even looked at.
const ALGORITHM = 'HS256' as const
const ISSUER = 'taskforge'
// Who the token is for: this API. A token our key signed for another audience (a future service) is not ours to accept.
const AUDIENCE = 'taskforge-api'
const ACCESS = 'access'
const VERIFIED_TOKENS_CACHED = 10_000
// How far in the future an iat may lie: room for the clocks of two instances to disagree, and no more.
const ISSUED_AT_LEEWAY_SECONDS = 60

/** What an access token says (fast-jwt adds exp, iss and aud as it signs). */
export interface AccessTokenClaims {
  sub: string
  typ: typeof ACCESS
  iat: number
}

/**
 * @fastify/jwt's options for access tokens (plugins/auth.ts registers it with
 * them): HS256 only, iss and aud set and required, a lifetime of ttlSeconds.
 */
export function accessTokenJwtOptions (secret: string, ttlSeconds: number): FastifyJWTOptions {
  return {
    secret,
    // Numbers are seconds to @fastify/jwt.
    sign: { algorithm: ALGORITHM, iss: ISSUER, aud: AUDIENCE, expiresIn: ttlSeconds },
    verify: {
      algorithms: [ALGORITHM],
      // allowedIss and allowedAud judge the claims only when they are present: requiredClaims makes them present.
      allowedIss: ISSUER,
      allowedAud: AUDIENCE,
      requiredClaims: ['sub', 'typ', 'iat', 'exp', 'iss', 'aud'],
      // Refuses a token issued longer ago than we let any live; it also bounds how long a verdict stays cached.
      maxAge: ttlSeconds,
      // A client sends the same token with every request for its lifetime: fast-jwt remembers each verdict
      // (never past the token's exp, nor iat + maxAge) and skips the HMAC and the decoding next time. Its own
      // cache key (a SHA-256 of the token) costs about 2 µs a hit against 0.1 µs for the token itself, but any
      // custom key makes fast-jwt warn of a security risk at every start. Bounded: an LRU of VERIFIED_TOKENS_CACHED.
      cache: VERIFIED_TOKENS_CACHED
    }
  }
}

export interface AccessTokenOptions {
  /** app.jwt: @fastify/jwt registered with accessTokenJwtOptions. */
  jwt: Pick<JWT, 'sign' | 'verify'>
  ttlSeconds: number
  clock: Clock
}

export interface IssuedAccessToken {
  token: string
  /** Lifetime in seconds, as AuthResult.expiresIn. */
  expiresIn: number
}

export type AccessTokens = ReturnType<typeof createAccessTokens>

/** Short-lived JWTs that name a user (`sub`) and say what they are for (`typ: access`), signed and checked by @fastify/jwt. */
export function createAccessTokens ({ jwt, ttlSeconds, clock }: AccessTokenOptions) {
  // fast-jwt reads an injected time once per verifier: with a clock of their own, tests get a verifier per call (and no cache).
  const verifyOptions = clock === Date.now ? undefined : () => ({ clockTimestamp: clock(), cache: false })
  // Tokens verified before, by the token itself, each until its exp: a client sends one token with every request of
  // its lifetime. fast-jwt remembers verdicts too, but behind @fastify/jwt's option merging and a SHA-256 of the token
  // as its key (some 3 µs of every authenticated request); this answers in a Map lookup. Oldest out first past the
  // bound. With the system clock only, as fast-jwt's cache.
  const verified = verifyOptions === undefined ? new Map<string, { userId: string; expiresAtMs: number }>() : undefined

  return {
    issue (userId: string): IssuedAccessToken {
      return { token: jwt.sign({ sub: userId, typ: ACCESS, iat: Math.floor(clock() / 1000) }), expiresIn: ttlSeconds }
    },

    /** The user id of a valid access token; UnauthorizedError for anything else. */
    verify (token: string): { userId: string } {
      const known = verified?.get(token)
      if (known !== undefined && known.expiresAtMs > Date.now()) return { userId: known.userId }
      let claims: Record<string, unknown>
      try {
        claims = jwt.verify<Record<string, unknown>>(token, verifyOptions?.())
      } catch (error) {
        // By code, not class: @fastify/jwt may bring a fast-jwt of its own.
        const expired = error instanceof Error && 'code' in error && error.code === TokenError.codes.expired
        throw new UnauthorizedError(expired ? 'The access token has expired' : 'The access token is invalid')
      }
      if (claims.typ !== ACCESS || typeof claims.sub !== 'string' || !withinLifetime(claims, ttlSeconds, clock())) {
        throw new UnauthorizedError('The access token is invalid')
      }
      if (verified !== undefined) {
        if (verified.size >= VERIFIED_TOKENS_CACHED) verified.delete(verified.keys().next().value ?? '')
        // The verifier has checked that exp is a number; withinLifetime, that it comes before iat + the lifetime.
        verified.set(token, { userId: claims.sub, expiresAtMs: (claims.exp as number) * 1000 })
      }
      return { userId: claims.sub }
    }
  }
}

/**
 * No token outlives one we would issue now: it claims no longer a life than the configured one
 * (maxAge alone lets iat = now with exp ten years ahead through) and was not issued in the future.
 * The verifier has checked that iat and exp are numbers.
 */
function withinLifetime (claims: Record<string, unknown>, ttlSeconds: number, nowMs: number): boolean {
  const issuedAt = claims.iat as number
  const expiresAt = claims.exp as number
  return expiresAt - issuedAt <= ttlSeconds && issuedAt <= nowMs / 1000 + ISSUED_AT_LEEWAY_SECONDS
}
