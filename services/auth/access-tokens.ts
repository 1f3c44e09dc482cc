import { createSigner, createVerifier, TokenError, type VerifierOptions } from 'fast-jwt'
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

export interface AccessTokenOptions {
  secret: string
  ttlSeconds: number
  clock: Clock
}

export interface IssuedAccessToken {
  token: string
  /** Lifetime in seconds, as AuthResult.expiresIn. */
  expiresIn: number
}

export type AccessTokens = ReturnType<typeof createAccessTokens>

/** Short-lived JWTs that name a user (`sub`) and say what they are for (`typ: access`). */
export function createAccessTokens ({ secret, ttlSeconds, clock }: AccessTokenOptions) {
  const sign = createSigner({ key: secret, algorithm: ALGORITHM, iss: ISSUER, aud: AUDIENCE, expiresIn: ttlSeconds * 1000 })
  const verifierOptions = {
    key: secret,
    algorithms: [ALGORITHM],
    // allowedIss and allowedAud judge the claims only when they are present: requiredClaims makes them present.
    allowedIss: ISSUER,
    allowedAud: AUDIENCE,
    requiredClaims: ['sub', 'typ', 'iat', 'exp', 'iss', 'aud'],
    // Refuses a token issued longer ago than we let any live; it also bounds how long a verdict stays cached.
    maxAge: ttlSeconds * 1000
  } satisfies Partial<VerifierOptions> & { key: string }
  // A client sends the same token with every request for its lifetime: fast-jwt remembers each verdict
  // (never past the token's exp, nor iat + maxAge) and skips the HMAC and the decoding next time. Its own
  // cache key (a SHA-256 of the token) costs about 2 µs a hit against 0.1 µs for the token itself, but any
  // custom key makes fast-jwt warn of a security risk at every start. Bounded: an LRU of VERIFIED_TOKENS_CACHED.
  const cached = { cache: VERIFIED_TOKENS_CACHED }
  // fast-jwt reads an injected time once per verifier; a verifier per call keeps an injected clock honest.
  const systemVerifier = clock === Date.now ? createVerifier({ ...verifierOptions, ...cached }) : undefined
  const verifierNow = () => systemVerifier ?? createVerifier({ ...verifierOptions, clockTimestamp: clock() })

  return {
    issue (userId: string): IssuedAccessToken {
      const claims: Record<string, unknown> = { sub: userId, typ: ACCESS, iat: Math.floor(clock() / 1000) }
      return { token: sign(claims), expiresIn: ttlSeconds }
    },

    /** The user id of a valid access token; UnauthorizedError for anything else. */
    verify (token: string): { userId: string } {
      let claims: Record<string, unknown>
      try {
        claims = verifierNow()(token) as Record<string, unknown>
      } catch (error) {
        const expired = error instanceof TokenError && error.code === TokenError.codes.expired
        throw new UnauthorizedError(expired ? 'The access token has expired' : 'The access token is invalid')
      }
      if (claims.typ !== ACCESS || typeof claims.sub !== 'string' || !withinLifetime(claims, ttlSeconds, clock())) {
        throw new UnauthorizedError('The access token is invalid')
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
