/**
 * The app's own role in the embedded cluster. The superuser only sets things
 * up; the app connects as a login role that owns the app's database and
 * nothing more (NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS),
 * so that a stolen app connection or an injected statement cannot read or
 * write the server's files, run programs (COPY … PROGRAM), or create roles
 * and databases. Data dirs made before this role existed are upgraded here:
 * the role is created and given the database and everything in it.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import postgres from 'postgres'
import type { Credentials } from './credentials.js'

export interface AppRoleOptions {
  /** The superuser's URL of a database of the cluster. */
  superuserUrl: (database: string) => string
  database: string
  app: Credentials
  log: FastifyBaseLogger
}

const MAINTENANCE_DATABASE = 'postgres'

/** Makes the role and its database what they should be; returns the server version for the log. */
export async function provisionAppRole ({ superuserUrl, database, app, log }: AppRoleOptions): Promise<string> {
  const version = await withSql(superuserUrl(MAINTENANCE_DATABASE), async (sql) => {
    const [row] = await sql<{ serverVersion: string }[]>`select current_setting('server_version') as "serverVersion"`
    await upsertRole(sql, app, log)
    await ensureOwnedDatabase(sql, database, app.user, log)
    return row?.serverVersion ?? 'unknown'
  })
  const transferred = await withSql(superuserUrl(database), (sql) => transferOwnership(sql, app.user))
  if (transferred > 0) {
    log.info({ role: app.user, database, objects: transferred }, `Gave the role ${app.user} ownership of ${transferred} objects in the database ${database} (made when the app connected as the superuser)`)
  }
  return version
}

async function withSql<T> (url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, connect_timeout: 10, onnotice: () => undefined })
  try {
    return await run(sql)
  } finally {
    await sql.end()
  }
}

/**
 * Creates the role, or resets an existing one's attributes and password to
 * what they must be (the credentials file is the truth). The password goes to
 * the server as a SCRAM verifier, never in clear, so that not even a statement
 * logged on error carries it.
 */
async function upsertRole (sql: postgres.Sql, app: Credentials, log: FastifyBaseLogger): Promise<void> {
  const existing = await sql`select 1 from pg_roles where rolname = ${app.user}`
  const verb = existing.length === 0 ? 'create' : 'alter'
  // DDL takes no parameters: format() quotes the name and the verifier on the server.
  const [row] = await sql<{ statement: string }[]>`
    select format(${`${verb} role %I with login nosuperuser nocreatedb nocreaterole noreplication nobypassrls password %L`},
      ${app.user}::text, ${scramVerifier(app.password)}::text) as statement`
  if (row === undefined) throw new Error('format() returned no row')
  await sql.unsafe(row.statement)
  if (existing.length === 0) log.info({ role: app.user }, `Created the database role ${app.user} for the app; the superuser is kept for setting up the cluster only`)
}

async function ensureOwnedDatabase (sql: postgres.Sql, database: string, role: string, log: FastifyBaseLogger): Promise<void> {
  const [found] = await sql<{ owner: string }[]>`select pg_get_userbyid(datdba) as owner from pg_database where datname = ${database}`
  if (found === undefined) {
    await sql`create database ${sql(database)} owner ${sql(role)}`
  } else if (found.owner !== role) {
    await sql`alter database ${sql(database)} owner to ${sql(role)}`
    log.info({ role, database, previousOwner: found.owner }, `The database ${database} now belongs to the role ${role}`)
  }
}

/**
 * Gives the role every schema, table, view, sequence, type and routine of
 * the database that someone else owns, in one transaction (what REASSIGN
 * OWNED would do, which refuses objects of the bootstrap superuser). Left
 * alone: system schemas, what pg_database_owner owns (the public schema, whose
 * owner is whoever owns the database), members of extensions, and sequences
 * and indexes, which follow their table. Returns how many objects changed hands.
 */
async function transferOwnership (sql: postgres.Sql, role: string): Promise<number> {
  const statements = await sql<{ statement: string }[]>`
    with app_role as (select oid from pg_roles where rolname = ${role}),
    user_schema as (
      select oid, nspname, nspowner from pg_namespace
      where nspname <> 'information_schema' and nspname not like 'pg\\_%'
    ),
    extension_member as (select classid, objid from pg_depend where deptype = 'e'),
    pending as (
      select 1 as step, format('alter schema %I owner to %I', s.nspname, ${role}::text) as statement
      from user_schema s
      where s.nspowner <> (select oid from app_role) and s.nspowner <> 'pg_database_owner'::regrole
        and ('pg_namespace'::regclass, s.oid) not in (select classid, objid from extension_member)
      union all
      select 2, format('alter %s %s owner to %I',
        case c.relkind when 'v' then 'view' when 'm' then 'materialized view' when 'f' then 'foreign table'
          when 'S' then 'sequence' when 'c' then 'type' else 'table' end,
        c.oid::regclass, ${role}::text)
      from pg_class c join user_schema s on s.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S', 'c') and c.relowner <> (select oid from app_role)
        and ('pg_class'::regclass, c.oid) not in (select classid, objid from extension_member)
        and not exists (
          select 1 from pg_depend d
          where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.refclassid = 'pg_class'::regclass
            and c.relkind = 'S' and d.deptype in ('a', 'i'))
      union all
      select 3, format('alter type %s owner to %I', t.oid::regtype, ${role}::text)
      from pg_type t join user_schema s on s.oid = t.typnamespace
      where t.typtype in ('e', 'd', 'r') and t.typowner <> (select oid from app_role)
        and ('pg_type'::regclass, t.oid) not in (select classid, objid from extension_member)
      union all
      select 4, format('alter routine %s owner to %I', p.oid::regprocedure, ${role}::text)
      from pg_proc p join user_schema s on s.oid = p.pronamespace
      where p.proowner <> (select oid from app_role)
        and ('pg_proc'::regclass, p.oid) not in (select classid, objid from extension_member)
    )
    select statement from pending order by step, statement`
  if (statements.length === 0) return 0
  await sql.begin(async (tx) => {
    for (const { statement } of statements) await tx.unsafe(statement)
  })
  return statements.length
}

const SCRAM_ITERATIONS = 4096

/**
 * What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802/7677), computed
 * here as `psql \password` does. The passwords are ours (base64url), which
 * SASLprep leaves as they are.
 */
export function scramVerifier (password: string, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, SCRAM_ITERATIONS, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}
