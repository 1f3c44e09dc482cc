/**
 * The personal access token service's cache, on a repository of the test's
 * own that counts lookups and answers when told: what the integration tests
 * cannot time (concurrent lookups, a revocation during one). Scopes too.
 */
import { createHash } from 'node:crypto'
import pino from 'pino'
import t from 'tap'
import type { PersonalAccessTokensRepository, TokenCredential } from '../../db/auth/personal-access-tokens-repository.js'
import { createPersonalAccessTokens, type TokenVerdict } from '../../services/auth/personal-access-tokens.js'
import { canonicalScopes, grantedRouteScopes, isRouteScope } from '../../services/auth/scopes.js'

const log = pino({ level: 'silent' })
const TOKEN = `tfp_${'a'.repeat(43)}`

/** A repository holding one token, whose lookups wait until release() when `held`. */
function repository (credential: TokenCredential | null) {
  const lookups: Buffer[] = []
  let held = false
  let waiting: (() => void)[] = []
  const fake: PersonalAccessTokensRepository = {
    findByHash: async (hash) => {
      lookups.push(hash)
      if (held) await new Promise<void>((resolve) => { waiting.push(resolve) })
      return credential === null ? null : { ...credential }
    },
    create: async () => { throw new Error('not used') },
    listLive: async () => [],
    revoke: async () => true,
    purgeDead: async () => 0,
    recordUse: async () => undefined
  }
  return {
    fake,
    lookups,
    hold: () => { held = true },
    release: () => {
      held = false
      for (const resolve of waiting) resolve()
      waiting = []
    }
  }
}

const live: TokenCredential = { id: 'token-1', userId: 'user-1', scopes: ['tasks:read'], expiresAt: null, revokedAt: null }

const isPromise = (value: TokenVerdict | Promise<TokenVerdict>): value is Promise<TokenVerdict> => value instanceof Promise

t.test('a hit is answered synchronously; a miss is one query, however many requests wait on it', async (t) => {
  const store = repository(live)
  const tokens = createPersonalAccessTokens({ tokens: store.fake, clock: () => 1000, log, cacheTtlMs: 4000 })
  store.hold()
  const answers = Array.from({ length: 10 }, () => tokens.verify(TOKEN))
  const waiting = answers.filter(isPromise)
  t.equal(waiting.length, 10, 'unknown to the cache: a promise each')
  store.release()
  const verdicts = await Promise.all(waiting)
  t.equal(store.lookups.length, 1, 'ten concurrent requests, one lookup')
  t.same(store.lookups[0], createHash('sha256').update(TOKEN).digest(), 'looked up by the SHA-256 of the secret')
  t.match(verdicts[0], { tokenId: 'token-1', userId: 'user-1' })
  const hit = tokens.verify(TOKEN)
  t.notOk(isPromise(hit), 'cached: answered at once')
  t.match(hit, { tokenId: 'token-1' })
  t.equal(store.lookups.length, 1)
})

t.test('a lookup under way when the token is forgotten answers its request but is not cached', async (t) => {
  const store = repository(live)
  const tokens = createPersonalAccessTokens({ tokens: store.fake, clock: () => 1000, log, cacheTtlMs: 4000 })
  store.hold()
  const before = tokens.verify(TOKEN)
  tokens.forget('token-1')
  const after = tokens.verify(TOKEN)
  store.release()
  await Promise.all([before, after])
  t.equal(store.lookups.length, 2, 'a request after the revocation does not join the lookup from before it')
  t.notOk(isPromise(tokens.verify(TOKEN)), 'the lookup begun after it is cached')
  t.equal(store.lookups.length, 2)
  const stale = repository(live)
  const fresh = createPersonalAccessTokens({ tokens: stale.fake, clock: () => 1000, log, cacheTtlMs: 4000 })
  stale.hold()
  const pending = fresh.verify(TOKEN)
  fresh.forgetAll()
  stale.release()
  await pending
  t.ok(isPromise(fresh.verify(TOKEN)), 'nothing cached from the lookup that straddled forgetAll')
})

t.test('an entry lives cacheTtlMs and no longer; a clock that went back is not believed; 0 caches nothing', async (t) => {
  let now = 10_000
  const store = repository(live)
  const tokens = createPersonalAccessTokens({ tokens: store.fake, clock: () => now, log, cacheTtlMs: 4000 })
  await tokens.verify(TOKEN)
  now += 3999
  t.notOk(isPromise(tokens.verify(TOKEN)), 'still fresh')
  now += 1
  t.ok(isPromise(tokens.verify(TOKEN)), 'aged out')
  await tokens.verify(TOKEN)
  now -= 10
  t.ok(isPromise(tokens.verify(TOKEN)), 'the clock went back: looked up again')

  const uncached = repository(live)
  const never = createPersonalAccessTokens({ tokens: uncached.fake, clock: () => now, log, cacheTtlMs: 0 })
  await never.verify(TOKEN)
  t.ok(isPromise(never.verify(TOKEN)))
})

t.test('the cache holds 10,000 lookups: the oldest goes first', async (t) => {
  const store = repository(null)
  const tokens = createPersonalAccessTokens({ tokens: store.fake, clock: () => 1000, log, cacheTtlMs: 4000 })
  const made = Array.from({ length: 10_001 }, (_, index) => `tfp_${index.toString().padStart(43, 'x')}`)
  for (const token of made) await tokens.verify(token)
  t.ok(isPromise(tokens.verify(made[0] ?? '')), 'the first was dropped for the 10,001st')
  t.notOk(isPromise(tokens.verify(made[1] ?? '')), 'the second is still there')
  t.notOk(isPromise(tokens.verify(made[10_000] ?? '')), 'and so is the newest')
})

t.test('verdicts: unknown, revoked and expired tokens are refused, expiry judged at each request', async (t) => {
  let now = 1000
  const unknown = createPersonalAccessTokens({ tokens: repository(null).fake, clock: () => now, log, cacheTtlMs: 4000 })
  t.match(await unknown.verify(TOKEN), { refused: 'The personal access token is invalid' })
  t.match(unknown.verify('tfp_short'), { refused: 'The personal access token is invalid' }, 'the wrong form is refused without a lookup')
  const revokedRow = repository({ ...live, revokedAt: new Date(500) })
  const revoked = createPersonalAccessTokens({ tokens: revokedRow.fake, clock: () => now, log, cacheTtlMs: 4000 })
  t.match(await revoked.verify(TOKEN), { refused: 'The personal access token has been revoked' })
  const expiringRow = repository({ ...live, expiresAt: new Date(2000) })
  const expiring = createPersonalAccessTokens({ tokens: expiringRow.fake, clock: () => now, log, cacheTtlMs: 4000 })
  t.match(await expiring.verify(TOKEN), { tokenId: 'token-1' })
  now = 2000
  t.match(expiring.verify(TOKEN), { refused: 'The personal access token has expired' }, 'cached, and expired all the same')
})

t.test('scopes: tasks:write implies tasks:read, every token passes any, none passes session', async (t) => {
  t.same([...grantedRouteScopes(['tasks:write'])].sort(), ['any', 'tasks:read', 'tasks:write'])
  t.same([...grantedRouteScopes(['webhooks'])].sort(), ['any', 'webhooks'])
  t.notOk(grantedRouteScopes(['tasks:read', 'tasks:write', 'webhooks']).has('session'))
  t.same(canonicalScopes(['webhooks', 'tasks:read']), ['tasks:read', 'webhooks'])
  t.ok(isRouteScope('session'))
  t.notOk(isRouteScope('tasks:admin'))
  t.notOk(isRouteScope(undefined))
})
