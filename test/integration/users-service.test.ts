import pino from 'pino'
import t from 'tap'
import { createPasswordHasher } from '../../services/auth/passwords.js'
import { createUsersService } from '../../services/auth/users.js'
import { createTestSql } from '../helpers/sql.js'

const log = pino({ level: 'silent' })

t.test('users service', async (t) => {
  const sql = await createTestSql(t)
  const weakHasher = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 })
  const hasher = createPasswordHasher({ memoryCost: 19_456, timeCost: 2, parallelism: 1 })

  await t.test('a login re-hashes a password stored with weaker parameters', async (t) => {
    const before = createUsersService({ sql, passwords: weakHasher, log })
    const user = await before.register({ email: 'old@example.io', password: 'old-and-weak', name: null })
    const [weak] = await sql`select password_hash from users where id = ${user.id}`
    t.match(weak?.passwordHash, /m=8192/)

    const after = createUsersService({ sql, passwords: hasher, log })
    t.same(await after.authenticate('old@example.io', 'old-and-weak'), user)
    const [strong] = await sql`select password_hash from users where id = ${user.id}`
    t.match(strong?.passwordHash, /m=19456/)
    t.match(await after.authenticate('OLD@example.io', 'old-and-weak'), { id: user.id }, 'and the new hash verifies')
  })

  await t.test('unknown email and wrong password fail alike', async (t) => {
    const users = createUsersService({ sql, passwords: hasher, log })
    await users.register({ email: 'known@example.io', password: 'right password', name: 'K' })
    const expected = { name: 'UnauthorizedError', message: 'The email or password is incorrect' }
    await t.rejects(users.authenticate('known@example.io', 'wrong password'), expected)
    await t.rejects(users.authenticate('unknown@example.io', 'wrong password'), expected)
  })

  await t.test('the registration hook runs in the user\'s transaction', async (t) => {
    const failing = createUsersService({
      sql,
      passwords: hasher,
      log,
      onRegistered: async (tx, user) => {
        await tx`select 1`
        throw new Error(`cannot enqueue for ${user.id}`)
      }
    })
    await t.rejects(failing.register({ email: 'rollback@example.io', password: 'whatever!', name: null }), /cannot enqueue/)
    const [row] = await sql`select count(*)::int as n from users where email = 'rollback@example.io'`
    t.equal(row?.n, 0, 'no user without the work that goes with it')
  })
})
