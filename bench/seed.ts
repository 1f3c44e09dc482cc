/** Users through the API (real argon2 hashes), tasks through SQL (generate_series), then VACUUM ANALYZE. */
import postgres from 'postgres'

export const BENCH_PASSWORD = 'benchmark password 42'

export interface SeededUser {
  id: string
  email: string
  password: string
}

export interface Seed {
  /** Owns `tasksPerUser` tasks: the list, get and login scenarios read as this user. */
  reader: SeededUser
  /** Creates and changes tasks, so that the reader's data stays as seeded. */
  writer: SeededUser
  /** Reader task ids for GET /tasks/:id, in a shuffled order. */
  readerTaskIds: string[]
  /** Writer task ids for PATCH /tasks/:id. */
  writerTaskIds: string[]
  /** Changes tasks as the writer does, with a webhook subscribed to them (bench/webhooks.ts). */
  hooked: SeededUser
  hookedTaskIds: string[]
  counts: { users: number; tasks: number }
}

interface SeedOptions {
  /** The running app, for registration. */
  appUrl: string
  databaseUrl: string
  tasksPerUser: number
  /** More users with tasks of their own, so the reader's rows are not the whole table. */
  otherUsers: number
  tasksPerOtherUser: number
}

async function register (appUrl: string, email: string): Promise<SeededUser> {
  const response = await fetch(`${appUrl}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: BENCH_PASSWORD, name: email.split('@')[0] })
  })
  if (response.status !== 201) throw new Error(`registering ${email} answered ${response.status}: ${await response.text()}`)
  const body = await response.json() as { user: { id: string } }
  return { id: body.user.id, email, password: BENCH_PASSWORD }
}

/**
 * Tasks spread evenly over the 9 status × priority pairs, 4 tag sets, due
 * dates around today (a fifth without), a quarter with a description, one a
 * minute into the past (so `created_at` orders them and ties are rare).
 */
async function insertTasks (sql: postgres.Sql, userIds: string[], perUser: number): Promise<void> {
  await sql`
    insert into tasks (user_id, title, description, status, priority, due_at, tags, created_at, updated_at, completed_at)
    select u.id, 'Task ' || g || ' of the benchmark',
      case when g % 4 = 0 then 'A longer description of task ' || g || ', as some tasks have one.' else '' end,
      s.status, (array['low', 'medium', 'high']::task_priority[])[1 + (g / 3) % 3],
      case when g % 5 = 0 then null else date_trunc('day', now()) + (g % 90 - 30) * interval '1 day' end,
      case g % 4 when 0 then '{}'::text[] when 1 then array['work'] when 2 then array['home', 'errand'] else array['work', 'urgent'] end,
      now() - g * interval '1 minute', now() - g * interval '1 minute',
      case when s.status = 'done' then now() - g * interval '1 minute' end
    from unnest(${userIds}::uuid[]) as u(id)
      cross join generate_series(1, ${perUser}::int) as g
      cross join lateral (select (array['todo', 'in_progress', 'done']::task_status[])[1 + g % 3] as status) as s`
}

export async function seed (options: SeedOptions): Promise<Seed> {
  const reader = await register(options.appUrl, 'bench-reader@example.io')
  const writer = await register(options.appUrl, 'bench-writer@example.io')
  const hooked = await register(options.appUrl, 'bench-hooked@example.io')
  const sql = postgres(options.databaseUrl, { max: 1, onnotice: () => undefined })
  try {
    const [hash] = await sql<{ passwordHash: string }[]>`select password_hash as "passwordHash" from users where id = ${reader.id}`
    if (hash === undefined) throw new Error('the reader was not stored')
    const others = await sql<{ id: string }[]>`
      insert into users (email, password_hash, name)
      select 'bench-user-' || g || '@example.io', ${hash.passwordHash}, 'Bench user ' || g
      from generate_series(1, ${options.otherUsers}::int) as g
      returning id`
    await insertTasks(sql, [reader.id], options.tasksPerUser)
    await insertTasks(sql, [writer.id, hooked.id, ...others.map((row) => row.id)], options.tasksPerOtherUser)
    await sql`vacuum analyze`
    const readerTaskIds = (await sql<{ id: string }[]>`
      select id from tasks where user_id = ${reader.id} order by md5(id::text) limit 1000`).map((row) => row.id)
    const writerTaskIds = (await sql<{ id: string }[]>`
      select id from tasks where user_id = ${writer.id} order by md5(id::text) limit 1000`).map((row) => row.id)
    const hookedTaskIds = (await sql<{ id: string }[]>`
      select id from tasks where user_id = ${hooked.id} order by md5(id::text) limit 1000`).map((row) => row.id)
    const [counts] = await sql<{ users: number; tasks: number }[]>`
      select (select count(*) from users)::int as users, (select count(*) from tasks)::int as tasks`
    return { reader, writer, readerTaskIds, writerTaskIds, hooked, hookedTaskIds, counts: counts ?? { users: 0, tasks: 0 } }
  } finally {
    await sql.end()
  }
}
