import t from 'tap'
import { createUsersRepository } from '../../db/auth/users-repository.js'
import { normalizeEmail } from '../../services/auth/users.js'
import { createTestSql } from '../helpers/sql.js'

t.test('usersRepository', async (t) => {
  const sql = await createTestSql(t)
  const users = createUsersRepository(sql)

  const created = await users.create({ email: 'Ada@Example.io', passwordHash: '$argon2id$fake', name: 'Ada' })

  await t.test('create returns the user without the hash, with typed fields', async (t) => {
    t.match(created, { email: 'Ada@Example.io', name: 'Ada' })
    t.match(created.id, /^[0-9a-f-]{36}$/)
    t.ok(created.createdAt instanceof Date)
    t.notOk('passwordHash' in created)
  })

  await t.test('emails are unique regardless of case', async (t) => {
    await t.rejects(users.create({ email: 'ada@example.IO', passwordHash: 'x', name: null }), { name: 'EmailTakenError', kind: 'conflict' })
    const [row] = await sql`select count(*)::int as n from users`
    t.equal(row?.n, 1)
  })

  await t.test('findByNormalizedEmail finds the normalised form and carries the hash', async (t) => {
    const found = await users.findByNormalizedEmail(normalizeEmail(' ADA@example.io '))
    t.same(found, { ...created, passwordHash: '$argon2id$fake' })
    t.equal(await users.findByNormalizedEmail('ADA@example.io'), null, 'only the normalised form is looked up')
    t.equal(await users.findByNormalizedEmail('nobody@example.io'), null)
  })

  await t.test('the stored form is normalizeEmail\'s, and only ASCII capitals are folded', async (t) => {
    // İ (U+0130): PostgreSQL's lower() made it i, toLowerCase() i + U+0307;
    // K (U+212A): toLowerCase() makes it k; ſ (U+017F) upper-cases to S.
    const emails = ['ALİCE@EXAMPLE.IO', '\u212Aate@Example.io', 'ſam@Example.io', 'ﬀ@Example.io', 'Straße@Example.io', 'ÉLODIE@Example.io', 'ＦＵＬＬ@Example.io']
    for (const email of emails) {
      const user = await users.create({ email, passwordHash: 'x', name: null })
      const [row] = await sql<{ emailNormalized: string }[]>`select email_normalized from users where id = ${user.id}`
      t.equal(row?.emailNormalized, normalizeEmail(email), email)
      t.equal(user.email, email, 'the email is kept as registered, for display')
    }
    t.equal(normalizeEmail('ALİCE@EXAMPLE.IO'), 'alİce@example.io')
    t.equal(await users.findByNormalizedEmail('alice@example.io'), null, 'no other spelling is folded into an ASCII one')
    await t.rejects(users.create({ email: 'alİce@example.io', passwordHash: 'x', name: null }), { name: 'EmailTakenError' }, 'the same normalised form is the same account')
  })

  await t.test('findById', async (t) => {
    t.same(await users.findById(created.id), created)
    t.equal(await users.findById('00000000-0000-4000-8000-000000000000'), null)
    t.equal(await users.findById('not-a-uuid'), null, 'a malformed id is "not found", not an error')
  })
})
