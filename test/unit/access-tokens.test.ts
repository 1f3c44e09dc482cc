import fastifyJwt, { type JWT } from '@fastify/jwt'
import { createDecoder, createSigner } from 'fast-jwt'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { accessTokenJwtOptions, createAccessTokens } from '../../services/auth/access-tokens.js'
import type { Clock } from '../../services/clock.js'
import { tamperSignature } from '../helpers/auth.js'

const secret = 's'.repeat(48)
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000
// Typed as a record: fast-jwt's payload type also admits a string, whose deprecated String.prototype.sub eslint would see.
const ACCESS_CLAIMS: Record<string, unknown> = { sub: 'u', typ: 'access' }

interface SignOptions {
  claims?: Record<string, unknown>
  key?: string
  algorithm?: 'HS256' | 'HS384' | 'HS512' | 'none'
  iss?: string
  aud?: string
  expiresIn?: number
}

/** A token like ours in every way but the one a case changes: the right key, HS256, iss, aud, iat now and a 60 s life. */
function sign ({ claims = ACCESS_CLAIMS, key = secret, algorithm = 'HS256', iss = 'taskforge', aud = 'taskforge-api', expiresIn = 60_000 }: SignOptions = {}): string {
  return algorithm === 'none'
    ? createSigner({ algorithm, iss, aud, expiresIn })(claims)
    : createSigner({ key, algorithm, iss, aud, expiresIn })(claims)
}

/** The access tokens as plugins/auth.ts makes them: on @fastify/jwt, registered with our options, here on a bare instance. */
async function accessTokens (t: Test, ttlSeconds: number, clock: Clock) {
  const app = Fastify()
  await app.register(fastifyJwt, accessTokenJwtOptions(secret, ttlSeconds))
  await app.ready()
  t.teardown(() => app.close())
  return createAccessTokens({ jwt: app.jwt, ttlSeconds, clock })
}

t.test('issue and verify', async (t) => {
  let now = 1_800_000_000_000
  const tokens = await accessTokens(t, 900, () => now)
  const { token, expiresIn } = tokens.issue('user-1')
  t.equal(expiresIn, 900)
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as Record<string, unknown>
  t.equal(header.alg, 'HS256')
  t.match(createDecoder()(token), { sub: 'user-1', typ: 'access', iss: 'taskforge', aud: 'taskforge-api', iat: 1_800_000_000, exp: 1_800_000_900 })
  t.same(tokens.verify(token), { userId: 'user-1' })

  now += 900_000 - 1
  t.same(tokens.verify(token), { userId: 'user-1' }, 'valid until it expires')
  now += 1001
  t.throws(() => tokens.verify(token), { name: 'UnauthorizedError', message: 'The access token has expired' })
})

t.test('refuses what is not our access token', async (t) => {
  const tokens = await accessTokens(t, 900, Date.now)
  const refused = { name: 'UnauthorizedError', kind: 'unauthorized' }
  // The control: each case below differs from this token in one thing only, so each fails for its own reason.
  t.same(tokens.verify(sign()), { userId: 'u' }, 'a token like ours is accepted')
  t.throws(() => tokens.verify(sign({ key: 'k'.repeat(48) })), refused, 'another key')
  t.throws(() => tokens.verify(sign({ algorithm: 'HS384' })), refused, 'another algorithm with the right key (HS384)')
  t.throws(() => tokens.verify(sign({ algorithm: 'HS512' })), refused, 'another algorithm with the right key (HS512)')
  t.throws(() => tokens.verify(sign({ algorithm: 'none' })), refused, 'alg none')
  t.throws(() => tokens.verify(sign({ claims: { sub: 'u', typ: 'refresh' } })), refused, 'another type')
  t.throws(() => tokens.verify(sign({ claims: { sub: 'u' } })), refused, 'no type')
  t.throws(() => tokens.verify(sign({ claims: { typ: 'access' } })), refused, 'no subject')
  t.throws(() => tokens.verify(sign({ iss: 'someone-else' })), refused, 'another issuer')
  t.throws(() => tokens.verify(createSigner({ key: secret, aud: 'taskforge-api', expiresIn: 60_000 })(ACCESS_CLAIMS)), refused, 'no issuer')
  t.throws(() => tokens.verify(sign({ aud: 'another-api' })), refused, 'another audience')
  t.throws(() => tokens.verify(createSigner({ key: secret, iss: 'taskforge', expiresIn: 60_000 })(ACCESS_CLAIMS)), refused, 'no audience')
  t.throws(() => tokens.verify(createSigner({ key: secret, iss: 'taskforge', aud: 'taskforge-api' })(ACCESS_CLAIMS)), refused, 'no exp')
  t.throws(() => tokens.verify(''), refused)
})

t.test('no token lives longer than one we issue', async (t) => {
  const tokens = await accessTokens(t, 900, Date.now)
  const refused = { name: 'UnauthorizedError', kind: 'unauthorized' }
  const nowSeconds = Math.floor(Date.now() / 1000)
  t.same(tokens.verify(sign({ expiresIn: 900_000 })), { userId: 'u' }, 'the configured lifetime is accepted')
  t.throws(() => tokens.verify(sign({ expiresIn: 901_000 })), refused, 'one second more is not')
  t.throws(() => tokens.verify(sign({ expiresIn: TEN_YEARS_MS })), refused, 'iat now, exp in ten years')
  const future = nowSeconds + TEN_YEARS_MS / 1000
  t.throws(() => tokens.verify(sign({ claims: { ...ACCESS_CLAIMS, iat: future }, expiresIn: 900_000 })), refused, 'iat and exp ten years ahead')
  const old = { ...ACCESS_CLAIMS, iat: nowSeconds - 3600 }
  t.throws(() => tokens.verify(sign({ claims: old, expiresIn: 7200_000 })), refused, 'issued an hour ago, exp in an hour (maxAge)')
  t.same(tokens.verify(sign({ claims: { ...ACCESS_CLAIMS, iat: nowSeconds + 30 }, expiresIn: 900_000 })), { userId: 'u' },
    'an iat a little ahead (another instance\'s clock) is accepted')
})

t.test('the injected clock judges lifetimes too', async (t) => {
  const now = 1_800_000_000_000
  const tokens = await accessTokens(t, 900, () => now)
  const at = (iatSeconds: number, expiresIn: number) => createSigner({ key: secret, iss: 'taskforge', aud: 'taskforge-api', expiresIn })({ ...ACCESS_CLAIMS, iat: iatSeconds })
  t.same(tokens.verify(at(now / 1000 - 10, 900_000)), { userId: 'u' })
  t.throws(() => tokens.verify(at(now / 1000 + 3600, 900_000)), { name: 'UnauthorizedError' }, 'issued an hour after the injected now')
})

t.test('a verdict remembered from an earlier request never outlives the token', async (t) => {
  const tokens = await accessTokens(t, 900, Date.now)
  const token = sign({ claims: { sub: 'user-2', typ: 'access' }, expiresIn: 1000 })
  t.same(tokens.verify(token), { userId: 'user-2' })
  t.same(tokens.verify(token), { userId: 'user-2' }, 'again (from the cache)')
  const exp = (createDecoder()(token) as { exp: number }).exp * 1000
  await new Promise((resolve) => setTimeout(resolve, exp - Date.now() + 50))
  t.throws(() => tokens.verify(token), { name: 'UnauthorizedError', message: 'The access token has expired' })
  const forged = tamperSignature(token)
  t.throws(() => tokens.verify(forged), { name: 'UnauthorizedError' })
  t.throws(() => tokens.verify(forged), { name: 'UnauthorizedError' }, 'a refusal is remembered as a refusal')
})

t.test('a token verified before is answered from memory, without verifying it again, until its exp', async (t) => {
  const app = Fastify()
  await app.register(fastifyJwt, accessTokenJwtOptions(secret, 900))
  await app.ready()
  t.teardown(() => app.close())
  let verifications = 0
  const verify = ((token: string) => {
    verifications++
    return app.jwt.verify(token)
  }) as JWT['verify']
  const tokens = createAccessTokens({ jwt: { sign: (payload) => app.jwt.sign(payload), verify }, ttlSeconds: 900, clock: Date.now })
  const token = sign({ claims: { sub: 'user-3', typ: 'access' }, expiresIn: 1000 })
  for (let i = 0; i < 3; i++) t.same(tokens.verify(token), { userId: 'user-3' })
  t.equal(verifications, 1, 'verified once')
  const exp = (createDecoder()(token) as { exp: number }).exp * 1000
  await new Promise((resolve) => setTimeout(resolve, exp - Date.now() + 50))
  t.throws(() => tokens.verify(token), { name: 'UnauthorizedError', message: 'The access token has expired' })
  t.equal(verifications, 2, 'past its exp it is judged again')
  const other = sign({ claims: { sub: 'user-4', typ: 'access' } })
  t.throws(() => tokens.verify(tamperSignature(other)), { name: 'UnauthorizedError' })
  t.throws(() => tokens.verify(tamperSignature(other)), { name: 'UnauthorizedError' }, 'a refusal is never remembered as a success')
})
