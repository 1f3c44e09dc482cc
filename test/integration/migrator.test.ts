import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import { createSql } from '../../db/client.js'
import { defaultMigrationsDirectory, migrate, MigrationError } from '../../db/migrator.js'
import { createTestDatabase } from '../helpers/database.js'

const silent = pino({ level: 'silent' })

async function emptyDatabase (t: Test) {
  const database = await createTestDatabase(t, { migrated: false })
  const sql = createSql(database.url, { poolMax: 4, statementTimeoutMs: 10_000, log: silent })
  t.teardown(() => sql.end())
  return sql
}

async function migrationsFolder (t: Test, files: Record<string, string>): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'taskforge-migrations-'))
  t.teardown(() => rm(directory, { recursive: true, force: true }))
  for (const [name, content] of Object.entries(files)) await writeFile(join(directory, name), content)
  return directory
}

t.test('the project migrations apply in name order and are recorded with checksums', async (t) => {
  const sql = await emptyDatabase(t)
  const names = (await readdir(defaultMigrationsDirectory())).sort()
  const { applied } = await migrate(sql)
  t.same(applied, names.map((name) => name.replace(/\.sql$/, '')))
  const rows = await sql<{ id: string; checksum: string }[]>`select id, checksum from schema_migrations order by applied_at, id`
  t.same(rows.map((row) => row.id), applied)
  t.ok(rows.every((row) => /^[0-9a-f]{64}$/.test(row.checksum)))
  const tables = await sql<{ tableName: string }[]>`
    select table_name from information_schema.tables where table_schema = 'public' order by table_name`
  t.same(tables.map((row) => row.tableName), [
    'idempotency_keys', 'jobs', 'personal_access_tokens', 'refresh_token_families', 'refresh_tokens', 'schema_migrations', 'task_events', 'tasks', 'users', 'webhook_deliveries', 'webhooks'
  ])

  t.same((await migrate(sql)).applied, [], 'a second run applies nothing')
})

t.test('order is by file name, and a failing migration leaves nothing behind', async (t) => {
  const sql = await emptyDatabase(t)
  const directory = await migrationsFolder(t, {
    '0002_second.sql': 'insert into steps (name) values (\'second\');',
    '0001_first.sql': 'create table steps (n serial primary key, name text not null); insert into steps (name) values (\'first\');',
    '0003_broken.sql': 'insert into steps (name) values (\'third\'); select no_such_function();'
  })
  await t.rejects(migrate(sql, { directory }), /no_such_function/)
  t.same((await sql<{ name: string }[]>`select name from steps order by n`).map((row) => row.name), ['first', 'second'])
  t.same((await sql<{ id: string }[]>`select id from schema_migrations order by id`).map((row) => row.id), ['0001_first', '0002_second'],
    'the broken migration is not recorded, and its first statement was rolled back')
})

t.test('an applied migration that changed stops the migrator with a clear message', async (t) => {
  const sql = await emptyDatabase(t)
  const directory = await migrationsFolder(t, { '0001_first.sql': 'create table a (id int);' })
  await migrate(sql, { directory })
  await writeFile(join(directory, '0001_first.sql'), 'create table a (id bigint);')
  await writeFile(join(directory, '0002_second.sql'), 'create table b (id int);')
  await t.rejects(migrate(sql, { directory }), new MigrationError(''), 'a MigrationError')
  await t.rejects(migrate(sql, { directory }), { message: /migration 0001_first was changed after it was applied/ })
  const [table] = await sql`select to_regclass('b') as b`
  t.equal(table?.b, null, 'nothing after the changed migration runs')
})

t.test('misnamed files are refused', async (t) => {
  const sql = await emptyDatabase(t)
  const directory = await migrationsFolder(t, { '1_first.sql': 'select 1;' })
  await t.rejects(migrate(sql, { directory }), { message: /must be named NNNN_lower_snake\.sql: 1_first\.sql/ })
})

t.test('instances starting together apply each migration exactly once', async (t) => {
  const database = await createTestDatabase(t, { migrated: false })
  // A slow migration widens the window in which a second instance could slip in.
  const directory = await migrationsFolder(t, {
    '0001_counter.sql': 'create table runs (id serial primary key, at timestamptz default clock_timestamp());',
    '0002_slow.sql': 'select pg_sleep(0.3); insert into runs default values;',
    '0003_again.sql': 'insert into runs default values;'
  })
  const instances = Array.from({ length: 4 }, () => postgres(database.url, { max: 2, onnotice: () => undefined }))
  t.teardown(() => Promise.all(instances.map((sql) => sql.end())))
  const results = await Promise.all(instances.map((sql) => migrate(sql, { directory })))
  const appliedEverywhere = results.flatMap((result) => result.applied).sort()
  t.same(appliedEverywhere, ['0001_counter', '0002_slow', '0003_again'], 'each migration was applied by exactly one instance')
  const counter = postgres(database.url, { max: 1 })
  t.teardown(() => counter.end())
  const [row] = await counter`select count(*)::int as runs from runs`
  t.equal(row?.runs, 2)
})
