import t from 'tap'
import { createPasswordHasher, isWeakerThan } from '../../services/auth/passwords.js'

const owasp = { memoryCost: 19_456, timeCost: 2, parallelism: 1 }

t.test('hash and verify', async (t) => {
  const hasher = createPasswordHasher(owasp)
  const hash = await hasher.hash('correct horse')
  t.match(hash, /^\$argon2id\$v=19\$/)
  t.not(await hasher.hash('correct horse'), hash, 'salted: the same password hashes differently')
  t.same(await hasher.verify(hash, 'correct horse'), { valid: true, needsRehash: false })
  t.same(await hasher.verify(hash, 'correct horsE'), { valid: false, needsRehash: false })
  t.same(await hasher.verify('not a hash', 'correct horse'), { valid: false, needsRehash: false }, 'a corrupt hash fails closed')
})

t.test('weaker stored parameters ask for a re-hash, once the password is right', async (t) => {
  const weak = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 })
  const strong = createPasswordHasher(owasp)
  const oldHash = await weak.hash('correct horse')
  t.same(await strong.verify(oldHash, 'correct horse'), { valid: true, needsRehash: true })
  t.same(await strong.verify(oldHash, 'wrong'), { valid: false, needsRehash: false })
  t.same(await weak.verify(await strong.hash('x'.repeat(8)), 'x'.repeat(8)), { valid: true, needsRehash: false }, 'stronger than configured is fine')
})

t.test('verifyNothing spends about what a real verification does', async (t) => {
  const hasher = createPasswordHasher(owasp)
  const hash = await hasher.hash('correct horse')
  await hasher.verifyNothing('warm-up') // makes the dummy hash once
  const time = async (work: () => Promise<unknown>) => {
    const started = process.hrtime.bigint()
    await work()
    return Number(process.hrtime.bigint() - started)
  }
  const real: number[] = []
  const dummy: number[] = []
  for (let i = 0; i < 5; i++) {
    real.push(await time(() => hasher.verify(hash, 'wrong')))
    dummy.push(await time(() => hasher.verifyNothing('wrong')))
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[2] ?? 0
  const ratio = median(real) / median(dummy)
  t.ok(ratio > 1 / 3 && ratio < 3, `ratio ${ratio.toFixed(2)}`)
})

t.test('isWeakerThan reads the parameters of a PHC string in any order', async (t) => {
  t.notOk(isWeakerThan('$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', owasp))
  t.notOk(isWeakerThan('$argon2id$v=19$m=19456,p=1,t=2$c2FsdA$aGFzaA', owasp))
  t.notOk(isWeakerThan('$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', owasp))
  t.ok(isWeakerThan('$argon2id$v=19$m=8192,t=2,p=1$c2FsdA$aGFzaA', owasp))
  t.ok(isWeakerThan('$argon2id$v=19$m=19456,t=1,p=1$c2FsdA$aGFzaA', owasp))
  t.ok(isWeakerThan('$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', owasp), 'another variant')
  t.ok(isWeakerThan('$2b$12$bcrypt-hash', owasp), 'another algorithm')
})
