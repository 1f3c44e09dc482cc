import type { FastifyBaseLogger } from 'fastify'
import type { UsersRepository } from '../../db/auth/users-repository.js'
import type { UnitOfWork } from '../../db/transaction.js'
import { UnauthorizedError } from '../../errors.js'
import type { JobEnqueuer } from '../../plugins/jobs/queue.js'
import type { AppJobCatalog } from '../jobs/catalog.js'
import type { PasswordHasher } from './passwords.js'
import type { Registration, User } from './schemas.js'

export interface UsersServiceOptions {
  users: UsersRepository
  /** A registration's writes: the user and the job of their welcome email commit together, or neither does. */
  inTransaction: UnitOfWork<{ users: UsersRepository; jobs: JobEnqueuer<AppJobCatalog> }>
  passwords: PasswordHasher
  log: FastifyBaseLogger
}

export type UsersService = ReturnType<typeof createUsersService>

const BAD_CREDENTIALS = 'The email or password is incorrect'

/**
 * The one form of an email that accounts are stored unique under, looked up
 * by and rate-limited by: trimmed, ASCII capitals made small, nothing else
 * folded. Registration takes ASCII addresses only, so any other character
 * never matches an account; folding it (as toLowerCase() or PostgreSQL's
 * lower() would, each its own way) could only add spellings of one account.
 * Migration 0007's generated column computes the same form in SQL.
 */
export function normalizeEmail (email: string): string {
  return email.trim().replace(/[A-Z]+/g, (capitals) => capitals.toLowerCase())
}

export function createUsersService ({ users, inTransaction, passwords, log }: UsersServiceOptions) {
  return {
    /** Creates the account and queues its welcome email; EmailTakenError when the address is in use in any letter case. */
    async register (registration: Registration): Promise<User> {
      // Hash before the transaction: it takes tens of milliseconds and needs no lock.
      const passwordHash = await passwords.hash(registration.password)
      const user = await inTransaction(async ({ users, jobs }) => {
        const created = await users.create({ email: registration.email, passwordHash, name: registration.name })
        await jobs.enqueue('welcome-email', { userId: created.id, email: created.email, name: created.name })
        return created
      })
      log.info({ userId: user.id }, 'user registered')
      return user
    },

    /**
     * The user these credentials belong to. An unknown email and a wrong
     * password fail alike, after the same argon2 work, so neither the answer
     * nor its timing says which addresses have accounts.
     */
    async authenticate (email: string, password: string): Promise<User> {
      const found = await users.findByNormalizedEmail(normalizeEmail(email))
      if (found === null) {
        await passwords.verifyNothing(password)
        throw new UnauthorizedError(BAD_CREDENTIALS)
      }
      const verdict = await passwords.verify(found.passwordHash, password)
      if (!verdict.valid) throw new UnauthorizedError(BAD_CREDENTIALS)
      if (verdict.needsRehash) {
        await users.updatePasswordHash(found.id, await passwords.hash(password))
        log.info({ userId: found.id }, 'password re-hashed with current parameters')
      }
      const { passwordHash: _passwordHash, ...user } = found
      log.info({ userId: user.id }, 'user logged in')
      return user
    },

    findById (id: string): Promise<User | null> {
      return users.findById(id)
    }
  }
}
