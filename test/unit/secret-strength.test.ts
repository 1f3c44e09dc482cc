import { randomBytes } from 'node:crypto'
import t from 'tap'
import { estimateSecretBits, MIN_SECRET_BITS } from '../../services/auth/secret-strength.js'

t.test('generated secrets pass, whatever the draw', async (t) => {
  const generators: Record<string, () => string> = {
    'openssl rand -base64 48': () => randomBytes(48).toString('base64'),
    'openssl rand -base64 32': () => randomBytes(32).toString('base64'),
    'openssl rand -hex 32': () => randomBytes(32).toString('hex'),
    '36 random bytes, base64url (scripts and bench)': () => randomBytes(36).toString('base64url')
  }
  for (const [name, generate] of Object.entries(generators)) {
    let lowest = Infinity
    for (let i = 0; i < 500; i++) lowest = Math.min(lowest, estimateSecretBits(generate()))
    t.ok(lowest >= MIN_SECRET_BITS + 32, `${name}: lowest of 500 is ${lowest.toFixed(0)} bits`)
  }
})

t.test('length alone is not enough: repeats, runs, sequences and few distinct characters are guessable', async (t) => {
  const guessable = {
    'one character': 'a'.repeat(40),
    'a word and digits, repeated': 'password1234'.repeat(4),
    'four classes, repeated': 'aB3$'.repeat(10),
    'the alphabet and digits in order': 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEF',
    'a keyboard row and a digit run': 'qwertyuiop1234567890qwertyuiop',
    'two characters, no repeat of three': 'abbaabbbaaababbbbaaaabab'.repeat(2)
  }
  for (const [name, secret] of Object.entries(guessable)) {
    t.ok(estimateSecretBits(secret) < MIN_SECRET_BITS, `${name}: ${estimateSecretBits(secret).toFixed(0)} bits`)
  }
  t.equal(estimateSecretBits(''), 0)
  t.ok(estimateSecretBits('a'.repeat(100) + randomBytes(48).toString('base64')) > MIN_SECRET_BITS, 'a random part counts, wherever it is')
})

t.test('a very long secret is estimated quickly', async (t) => {
  const started = performance.now()
  estimateSecretBits(randomBytes(30_000).toString('base64'))
  estimateSecretBits('ab'.repeat(50_000))
  t.ok(performance.now() - started < 2000)
})
