import { ConflictError } from '../../errors.js'
import type { User } from '../../services/auth/schemas.js'
import type { Queryable } from '../client.js'
import { isUniqueViolation, withDomainErrors } from '../errors.js'
import { firstRow } from '../rows.js'
import { isUuid } from '../uuid.js'

/** Only the login path needs the hash; every other read leaves it in the database. */
export type UserWithPasswordHash = User & { passwordHash: string }

export type NewUser = Pick<User, 'email' | 'name'> & { passwordHash: string }

export class EmailTakenError extends ConflictError {
  constructor (options?: ErrorOptions) { super('An account with this email already exists', options) }
}

export type UsersRepository = ReturnType<typeof createUsersRepository>

export function createUsersRepository (sql: Queryable) {
  return withDomainErrors({
    async create (user: NewUser): Promise<User> {
      try {
        const rows = await sql<User[]>`
          insert into users (email, password_hash, name)
          values (${user.email}, ${user.passwordHash}, ${user.name})
          returning id, email, name, created_at`
        return toUser(firstRow(rows))
      } catch (error) {
        if (isUniqueViolation(error, 'users_email_normalized_key')) throw new EmailTakenError({ cause: error })
        throw error
      }
    },

    /** By the form normalizeEmail (services/auth/users.ts) gives, which the unique index holds too (migration 0007). */
    async findByNormalizedEmail (normalizedEmail: string): Promise<UserWithPasswordHash | null> {
      const [row] = await sql<UserWithPasswordHash[]>`
        select id, email, name, password_hash, created_at
        from users where email_normalized = ${normalizedEmail}`
      return row === undefined ? null : { ...toUser(row), passwordHash: row.passwordHash }
    },

    async updatePasswordHash (id: string, passwordHash: string): Promise<void> {
      await sql`update users set password_hash = ${passwordHash}, updated_at = now() where id = ${id}`
    },

    async findById (id: string): Promise<User | null> {
      if (!isUuid(id)) return null
      const [row] = await sql<User[]>`
        select id, email, name, created_at from users where id = ${id}`
      return row === undefined ? null : toUser(row)
    }
  })
}

function toUser (row: User): User {
  return { id: row.id, email: row.email, name: row.name, createdAt: row.createdAt }
}
