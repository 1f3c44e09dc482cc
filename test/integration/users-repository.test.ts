import t from 'tap'
import { createUsersRepository } from '../../db/users-repository.js'
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

  await t.test('findByEmail matches case-insensitively and carries the hash', async (t) => {
    const found = await users.findByEmail('ADA@example.io')
    t.same(found, { ...created, passwordHash: '$argon2id$fake' })
    t.equal(await users.findByEmail('nobody@example.io'), null)
  })

  await t.test('findById', async (t) => {
    t.same(await users.findById(created.id), created)
    t.equal(await users.findById('00000000-0000-4000-8000-000000000000'), null)
    t.equal(await users.findById('not-a-uuid'), null, 'a malformed id is "not found", not an error')
  })
})
