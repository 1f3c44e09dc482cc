import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyBaseLogger } from 'fastify'
import type { Sql, TransactionSql } from './client.js'
import { DatabaseSetupError } from './errors.js'

export interface Migration { id: string; checksum: string; sql: string }

export class MigrationError extends DatabaseSetupError {
  constructor (message: string) {
    super(message)
    this.name = 'MigrationError'
  }
}

// Any fixed 64-bit number works; this one spells "taskforge migrations" for whoever finds it in pg_locks.
const MIGRATION_LOCK_KEY = 7_245_116_001n
const MIGRATION_FILE = /^\d{4}_[a-z0-9_]+\.sql$/

/** migrations/ at the project root, whether we run from sources or from dist/. */
export function defaultMigrationsDirectory (): string {
  let directory = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(directory, 'package.json'))) {
    const parent = dirname(directory)
    if (parent === directory) throw new MigrationError('cannot find the project root (package.json) above the migrator')
    directory = parent
  }
  return join(directory, 'migrations')
}

export async function readMigrations (directory: string): Promise<Migration[]> {
  const names = (await readdir(directory)).filter((name) => name.endsWith('.sql')).sort()
  const misnamed = names.filter((name) => !MIGRATION_FILE.test(name))
  if (misnamed.length > 0) {
    throw new MigrationError(`migration files must be named NNNN_lower_snake.sql: ${misnamed.join(', ')}`)
  }
  return Promise.all(names.map(async (name) => {
    const sql = await readFile(join(directory, name), 'utf8')
    return { id: name.replace(/\.sql$/, ''), checksum: createHash('sha256').update(sql).digest('hex'), sql }
  }))
}

/**
 * Applies pending migrations in name order, each in its own transaction that
 * first takes a transaction-level advisory lock: instances starting together
 * queue on the lock, and each re-reads what is applied once it holds it, so a
 * migration is applied exactly once. An applied migration whose file changed
 * stops everything: forward-only means a fix is a new migration.
 */
export async function migrate (
  sql: Sql,
  { directory = defaultMigrationsDirectory(), log }: { directory?: string; log?: FastifyBaseLogger } = {}
): Promise<{ applied: string[] }> {
  const migrations = await readMigrations(directory)
  const applied: string[] = []
  await sql.begin(async (tx) => {
    await lock(tx)
    await tx`
      create table if not exists schema_migrations (
        id text primary key,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`
    verifyChecksums(migrations, await appliedChecksums(tx))
  })

  for (const migration of migrations) {
    await sql.begin(async (tx) => {
      await lock(tx)
      if ((await appliedChecksums(tx)).has(migration.id)) return
      await tx.unsafe(migration.sql)
      await tx`insert into schema_migrations (id, checksum) values (${migration.id}, ${migration.checksum})`
      applied.push(migration.id)
      log?.info({ migration: migration.id }, 'migration applied')
    })
  }
  return { applied }
}

async function lock (tx: TransactionSql): Promise<void> {
  await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`
}

async function appliedChecksums (tx: TransactionSql): Promise<Map<string, string>> {
  const rows = await tx<{ id: string; checksum: string }[]>`select id, checksum from schema_migrations`
  return new Map(rows.map((row) => [row.id, row.checksum]))
}

function verifyChecksums (migrations: Migration[], applied: Map<string, string>): void {
  for (const migration of migrations) {
    const checksum = applied.get(migration.id)
    if (checksum !== undefined && checksum !== migration.checksum) {
      throw new MigrationError(
        `migration ${migration.id} was changed after it was applied (checksum ${checksum.slice(0, 12)}… in the database, ` +
        `${migration.checksum.slice(0, 12)}… on disk). Applied migrations are never edited: restore the file and add a new migration for the change.`)
    }
  }
}
