import { createDecoder, createSigner } from 'fast-jwt'
import t from 'tap'
import { createAccessTokens } from '../../services/access-tokens.js'

const secret = 's'.repeat(48)

t.test('issue and verify', async (t) => {
  let now = 1_800_000_000_000
  const tokens = createAccessTokens({ secret, ttlSeconds: 900, clock: () => now })
  const { token, expiresIn } = tokens.issue('user-1')
  t.equal(expiresIn, 900)
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as Record<string, unknown>
  t.equal(header.alg, 'HS256')
  t.match(createDecoder()(token), { sub: 'user-1', typ: 'access', iss: 'taskforge', iat: 1_800_000_000, exp: 1_800_000_900 })
  t.same(tokens.verify(token), { userId: 'user-1' })

  now += 900_000 - 1
  t.same(tokens.verify(token), { userId: 'user-1' }, 'valid until it expires')
  now += 1001
  t.throws(() => tokens.verify(token), { name: 'UnauthorizedError', message: 'The access token has expired' })
})

t.test('refuses what is not our access token', async (t) => {
  const tokens = createAccessTokens({ secret, ttlSeconds: 900, clock: Date.now })
  const sign = (claims: Record<string, unknown>, key = secret, iss = 'taskforge') => createSigner({ key, iss, expiresIn: 60_000 })(claims)
  const refused = { name: 'UnauthorizedError', kind: 'unauthorized' }
  t.throws(() => tokens.verify(sign({ sub: 'u', typ: 'access' }, 'k'.repeat(48))), refused, 'another key')
  t.throws(() => tokens.verify(sign({ sub: 'u', typ: 'refresh' })), refused, 'another type')
  t.throws(() => tokens.verify(sign({ sub: 'u', typ: 'access' }, secret, 'someone-else')), refused, 'another issuer')
  t.throws(() => tokens.verify(sign({ typ: 'access' })), refused, 'no subject')
  const claims: Record<string, unknown> = { sub: 'u', typ: 'access' }
  t.throws(() => tokens.verify(createSigner({ key: secret, algorithm: 'HS384', iss: 'taskforge' })(claims)), refused, 'another algorithm')
  t.throws(() => tokens.verify(createSigner({ algorithm: 'none', iss: 'taskforge' })(claims)), refused, 'alg none')
  t.throws(() => tokens.verify(''), refused)
})

t.test('a verdict remembered from an earlier request never outlives the token', async (t) => {
  const tokens = createAccessTokens({ secret, ttlSeconds: 900, clock: Date.now })
  const claims: Record<string, unknown> = { sub: 'user-2', typ: 'access' }
  const token = createSigner({ key: secret, iss: 'taskforge', expiresIn: 1000 })(claims)
  t.same(tokens.verify(token), { userId: 'user-2' })
  t.same(tokens.verify(token), { userId: 'user-2' }, 'again (from the cache)')
  const exp = (createDecoder()(token) as { exp: number }).exp * 1000
  await new Promise((resolve) => setTimeout(resolve, exp - Date.now() + 50))
  t.throws(() => tokens.verify(token), { name: 'UnauthorizedError', message: 'The access token has expired' })
  const forged = `${token.substring(0, token.length - 2)}xx`
  t.throws(() => tokens.verify(forged), { name: 'UnauthorizedError' })
  t.throws(() => tokens.verify(forged), { name: 'UnauthorizedError' }, 'a refusal is remembered as a refusal')
})
