import { createSigner, createVerifier, TokenError, type VerifierOptions } from 'fast-jwt'
import { UnauthorizedError } from '../errors.js'
import type { Clock } from './clock.js'

// One algorithm, pinned on both sides: a token with alg "none", RS256 or any
// other header is refused before its signature is even looked at.
const ALGORITHM = 'HS256' as const
const ISSUER = 'taskforge'
const ACCESS = 'access'
const VERIFIED_TOKENS_CACHED = 10_000

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
  const sign = createSigner({ key: secret, algorithm: ALGORITHM, iss: ISSUER, expiresIn: ttlSeconds * 1000 })
  const verifierOptions = {
    key: secret,
    algorithms: [ALGORITHM],
    allowedIss: ISSUER,
    requiredClaims: ['sub', 'typ', 'iat', 'exp']
  } satisfies Partial<VerifierOptions> & { key: string }
  // A client sends the same token with every request for its lifetime: fast-jwt remembers each verdict
  // (never past the token's exp) and skips the HMAC and the decoding next time. The token itself is the
  // key, as hashing it would cost about what the cache saves. Bounded: an LRU of VERIFIED_TOKENS_CACHED.
  const cached = { cache: VERIFIED_TOKENS_CACHED, cacheKeyBuilder: (token: string) => token }
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
      if (claims.typ !== ACCESS || typeof claims.sub !== 'string') {
        throw new UnauthorizedError('The access token is invalid')
      }
      return { userId: claims.sub }
    }
  }
}
