import pino from 'pino'
import t from 'tap'
import { createUsersRepository } from '../../db/auth/users-repository.js'
import type { Sql, TransactionSql } from '../../db/client.js'
import { unitOfWork } from '../../db/transaction.js'
import { createJobQueue, type JobEnqueuer } from '../../plugins/jobs/queue.js'
import { createPasswordHasher, type PasswordHasher } from '../../services/auth/passwords.js'
import { createUsersService } from '../../services/auth/users.js'
import { jobCatalog, type AppJobCatalog } from '../../services/jobs/catalog.js'
import { createTestSql } from '../helpers/sql.js'

const log = pino({ level: 'silent' })

/** The users service as plugins/auth.ts wires it; `jobsIn` stands in for the job queue when a test wants it to. */
function usersService (sql: Sql, passwords: PasswordHasher, jobsIn?: (tx: TransactionSql) => JobEnqueuer<AppJobCatalog>) {
  const queue = createJobQueue(jobCatalog, { sql, maxAttempts: 1 })
  return createUsersService({
    users: createUsersRepository(sql),
    inTransaction: unitOfWork(sql, (tx) => ({ users: createUsersRepository(tx), jobs: jobsIn?.(tx) ?? queue.within(tx) })),
    passwords,
    log
  })
}

t.test('users service', async (t) => {
  const sql = await createTestSql(t)
  const weakHasher = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 })
  const hasher = createPasswordHasher({ memoryCost: 19_456, timeCost: 2, parallelism: 1 })

  await t.test('a login re-hashes a password stored with weaker parameters', async (t) => {
    const before = usersService(sql, weakHasher)
    const user = await before.register({ email: 'old@example.io', password: 'old-and-weak', name: null })
    const [weak] = await sql`select password_hash from users where id = ${user.id}`
    t.match(weak?.passwordHash, /m=8192/)

    const after = usersService(sql, hasher)
    t.same(await after.authenticate('old@example.io', 'old-and-weak'), user)
    const [strong] = await sql`select password_hash from users where id = ${user.id}`
    t.match(strong?.passwordHash, /m=19456/)
    t.match(await after.authenticate('OLD@example.io', 'old-and-weak'), { id: user.id }, 'and the new hash verifies')
  })

  await t.test('unknown email and wrong password fail alike', async (t) => {
    const users = usersService(sql, hasher)
    await users.register({ email: 'known@example.io', password: 'right password', name: 'K' })
    const expected = { name: 'UnauthorizedError', message: 'The email or password is incorrect' }
    await t.rejects(users.authenticate('known@example.io', 'wrong password'), expected)
    await t.rejects(users.authenticate('unknown@example.io', 'wrong password'), expected)
  })

  await t.test('the welcome email is queued in the user\'s transaction', async (t) => {
    const queued = usersService(sql, hasher)
    const user = await queued.register({ email: 'welcome@example.io', password: 'whatever!', name: null })
    const jobs = await sql<{ payload: unknown }[]>`select payload from jobs where type = 'welcome-email' and payload->>'userId' = ${user.id}`
    t.same(jobs.map((job) => job.payload), [{ userId: user.id, email: 'welcome@example.io', name: null }])

    const failing = usersService(sql, hasher, (tx) => ({
      enqueue: async (type) => {
        await tx`select 1`
        throw new Error(`cannot enqueue ${type}`)
      }
    }))
    await t.rejects(failing.register({ email: 'rollback@example.io', password: 'whatever!', name: null }), /cannot enqueue welcome-email/)
    const [row] = await sql`select count(*)::int as n from users where email = 'rollback@example.io'`
    t.equal(row?.n, 0, 'no user without the work that goes with it')
  })
})
