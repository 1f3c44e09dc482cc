import { createHash, randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type {
  PersonalAccessTokenRecord, PersonalAccessTokensRepository, TokenCredential
} from '../../db/auth/personal-access-tokens-repository.js'
import { InvalidFieldError, NotFoundError } from '../../errors.js'
import type { Clock } from '../clock.js'
import type { TokenInput } from './schemas.js'
import { canonicalScopes, grantedRouteScopes, type RouteScope } from './scopes.js'

export interface PersonalAccessTokensOptions {
  tokens: PersonalAccessTokensRepository
  clock: Clock
  log: FastifyBaseLogger
  /** How long a lookup is believed without asking the database again (0: every request asks). */
  cacheTtlMs: number
}

/** What a request's token comes to: the token and what it may do, or why it is refused. */
export type TokenVerdict =
  | { tokenId: string; userId: string; granted: ReadonlySet<RouteScope> }
  | { refused: string }

export type NewPersonalAccessToken = PersonalAccessTokenRecord & { token: string }

export type PersonalAccessTokens = ReturnType<typeof createPersonalAccessTokens>

const PREFIX = 'tfp_'
// 256 bits: base64url without padding makes 43 characters.
const SECRET_BYTES = 32
const TOKEN_FORMAT = /^tfp_[A-Za-z0-9_-]{43}$/
/** lastUsedAt is kept to within this (API.md: a minute): at most one write per token per interval. */
export const USE_RECORD_INTERVAL_MS = 60_000
/** Token lookups kept, the oldest dropped first: a flood of made-up tokens only pushes real ones out, at the cost of a query each. */
const CACHE_MAX_ENTRIES = 10_000

const INVALID = 'The personal access token is invalid'

/** A token as the cache keeps it: what judging a request needs, its scopes already expanded. */
interface Credential {
  id: string
  userId: string
  granted: ReadonlySet<RouteScope>
  expiresAt: number | null
  revoked: boolean
}

/** A personal access token's secret has our prefix: the rest of authentication goes by it. */
export function isPersonalAccessToken (token: string): boolean {
  return token.startsWith(PREFIX)
}

function hashToken (token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

function toCredential (row: TokenCredential): Credential {
  return {
    id: row.id,
    userId: row.userId,
    granted: grantedRouteScopes(row.scopes),
    expiresAt: row.expiresAt === null ? null : row.expiresAt.getTime(),
    revoked: row.revokedAt !== null
  }
}

function judge (credential: Credential | null, now: number): TokenVerdict {
  if (credential === null) return { refused: INVALID }
  if (credential.revoked) return { refused: 'The personal access token has been revoked' }
  if (credential.expiresAt !== null && credential.expiresAt <= now) return { refused: 'The personal access token has expired' }
  return { tokenId: credential.id, userId: credential.userId, granted: credential.granted }
}

/** The latest expiry a token made at `now` may ask for: the same moment a calendar year on (UTC). */
function latestExpiry (now: number): number {
  const limit = new Date(now)
  limit.setUTCFullYear(limit.getUTCFullYear() + 1)
  return limit.getTime()
}

/**
 * Personal access tokens: `tfp_` + 256 random bits, shown once at creation
 * and stored only as a SHA-256, looked up by it.
 *
 * Lookups are cached in this process for cacheTtlMs (at most a few seconds)
 * so that a script's requests do not each cost a query. Whatever revokes or
 * changes a token calls forget(id) here at once, and every other instance
 * hears of it from the database's notification (plugins/auth.ts listens);
 * the short lifetime of an entry bounds how stale an instance can be if a
 * notification is lost. A lookup that was under way when a token was
 * forgotten is used for its own request but never cached.
 *
 * lastUsedAt is written at most once a minute per token by each instance,
 * and not at all when another instance wrote it within the minute.
 */
export function createPersonalAccessTokens ({ tokens, clock, log, cacheTtlMs }: PersonalAccessTokensOptions) {
  const cache = new Map<string, { credential: Credential | null; cachedAt: number }>()
  const keyOfToken = new Map<string, string>()
  const lookups = new Map<string, Promise<Credential | null>>()
  // Grows whenever a token is forgotten: a lookup that started before cannot be trusted to be current.
  let generation = 0
  const lastRecorded = new Map<string, number>()

  const remember = (key: string, credential: Credential | null, now: number): void => {
    cache.delete(key)
    if (cache.size >= CACHE_MAX_ENTRIES) {
      const oldest = cache.keys().next().value
      if (oldest !== undefined) drop(oldest)
    }
    cache.set(key, { credential, cachedAt: now })
    if (credential !== null) keyOfToken.set(credential.id, key)
  }

  const drop = (key: string): void => {
    const entry = cache.get(key)
    cache.delete(key)
    if (entry?.credential != null) keyOfToken.delete(entry.credential.id)
  }

  const lookUp = (key: string, hash: Buffer): Promise<Credential | null> => {
    const started = generation
    const lookup = tokens.findByHash(hash).then((row) => {
      const credential = row === null ? null : toCredential(row)
      if (cacheTtlMs > 0 && generation === started) remember(key, credential, clock())
      return credential
    }).finally(() => {
      if (lookups.get(key) === lookup) lookups.delete(key)
    })
    lookups.set(key, lookup)
    return lookup
  }

  /** Drops what this process knows of a token (it was revoked or changed, here or on another instance). */
  const forget = (id: string): void => {
    generation++
    lookups.clear()
    const key = keyOfToken.get(id)
    if (key !== undefined) drop(key)
  }

  /** Drops every cached lookup: after notifications may have been missed (the listening connection came back). */
  const forgetAll = (): void => {
    generation++
    lookups.clear()
    cache.clear()
    keyOfToken.clear()
  }

  return {
    async create (userId: string, input: TokenInput): Promise<NewPersonalAccessToken> {
      const now = clock()
      let expiresAt: Date | null = null
      if (input.expiresAt !== undefined) {
        expiresAt = new Date(input.expiresAt)
        if (expiresAt.getTime() <= now) throw new InvalidFieldError('expiresAt', 'must be in the future')
        if (expiresAt.getTime() > latestExpiry(now)) throw new InvalidFieldError('expiresAt', 'must be at most a year ahead')
      }
      const token = PREFIX + randomBytes(SECRET_BYTES).toString('base64url')
      const record = await tokens.create({
        userId,
        name: input.name,
        scopes: canonicalScopes(input.scopes),
        tokenHash: hashToken(token),
        createdAt: new Date(now),
        expiresAt
      })
      log.info({ userId, tokenId: record.id, scopes: record.scopes, expiresAt }, 'personal access token created')
      return { ...record, token }
    },

    /** The user's tokens that still work, newest first. */
    list (userId: string): Promise<PersonalAccessTokenRecord[]> {
      return tokens.listLive(userId, new Date(clock()))
    },

    /** Revokes one of the user's live tokens, here at once (other instances hear it from the database); NotFoundError for anything else. */
    async revoke (userId: string, id: string): Promise<void> {
      if (!await tokens.revoke(userId, id, new Date(clock()))) throw new NotFoundError('There is no such token')
      forget(id)
      log.info({ userId, tokenId: id }, 'personal access token revoked')
    },

    /**
     * What a `tfp_…` secret is worth now. Synchronous when this process
     * knows the token from the last cacheTtlMs: the usual case for a script
     * making many requests, which then costs a hash and a map lookup.
     */
    verify (token: string): TokenVerdict | Promise<TokenVerdict> {
      if (!TOKEN_FORMAT.test(token)) return { refused: INVALID }
      const hash = hashToken(token)
      const key = hash.toString('base64url')
      const now = clock()
      const cached = cache.get(key)
      if (cached !== undefined) {
        const age = now - cached.cachedAt
        // A clock that went back makes an age below zero: not to be believed either.
        if (age >= 0 && age < cacheTtlMs) return judge(cached.credential, now)
        drop(key)
      }
      return (lookups.get(key) ?? lookUp(key, hash)).then((credential) => judge(credential, clock()))
    },

    forget,

    forgetAll,

    /**
     * Notes that the token was used just now, in the database at most once a
     * USE_RECORD_INTERVAL_MS per token: a write the request does not wait for.
     */
    recordUse (tokenId: string): void {
      const now = clock()
      const last = lastRecorded.get(tokenId)
      if (last !== undefined && now - last < USE_RECORD_INTERVAL_MS && now >= last) return
      lastRecorded.set(tokenId, now)
      if (lastRecorded.size > CACHE_MAX_ENTRIES) {
        for (const [id, at] of lastRecorded) if (now - at >= USE_RECORD_INTERVAL_MS) lastRecorded.delete(id)
      }
      tokens.recordUse(tokenId, new Date(now), new Date(now - USE_RECORD_INTERVAL_MS)).catch((error: unknown) => {
        // The next use tries again.
        lastRecorded.delete(tokenId)
        log.warn({ err: error, tokenId }, 'could not record the use of a personal access token')
      })
    }
  }
}
