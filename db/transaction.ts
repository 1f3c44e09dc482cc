import type { Sql, TransactionSql } from './client.js'
import { toDomainError } from './errors.js'

/**
 * Runs `work` in one transaction and hands it the repositories (and other
 * collaborators, such as the job queue) bound to that transaction: what it
 * does through them commits together or not at all. Services are given one of
 * these, never a client, so that no service builds a repository and a unit
 * test can hand them one that needs no database.
 */
export type UnitOfWork<Scope> = <T>(work: (scope: Scope) => Promise<T>) => Promise<T>

/** A unit of work on `sql`: `scopeFor` binds what the work may use to each transaction. */
export function unitOfWork<Scope> (sql: Sql, scopeFor: (tx: TransactionSql) => Scope): UnitOfWork<Scope> {
  return async <T>(work: (scope: Scope) => Promise<T>): Promise<T> => {
    try {
      // postgres.js types begin's result for callbacks that return arrays of queries; `work` returns a settled value.
      return await (sql.begin((tx) => work(scopeFor(tx))) as Promise<T>)
    } catch (error) {
      // BEGIN and COMMIT fail too (a serialization failure, a lost connection): as domain errors, like the repositories' own.
      throw toDomainError(error)
    }
  }
}
