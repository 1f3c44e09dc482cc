import t from 'tap'
import { taskListStatement, type TaskListQuery } from '../../db/tasks/tasks-repository.js'
import { createUsersRepository } from '../../db/auth/users-repository.js'
import { createTestSql } from '../helpers/sql.js'

interface PlanNode { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: PlanNode[] }

function nodes (plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)]
}

t.test('listing a user with 100,000 tasks uses indexes, never a sequential scan of tasks', async (t) => {
  const sql = await createTestSql(t)
  const users = createUsersRepository(sql)
  const heavy = await users.create({ email: 'heavy@example.io', passwordHash: 'x', name: null })
  for (let i = 0; i < 20; i++) {
    const user = await users.create({ email: `light${i}@example.io`, passwordHash: 'x', name: null })
    await sql`
      insert into tasks (user_id, title, status, tags)
      select ${user.id}, 'light ' || n, 'todo', array['work'] from generate_series(1, 2000) n`
  }
  // Seeding, not the subject: on loaded cores this insert can outlast the app's 10 s statement timeout.
  await sql.begin(async (tx) => {
    await tx`set local statement_timeout = 0`
    await tx`
    insert into tasks (user_id, title, description, status, priority, due_at, tags, created_at, updated_at, completed_at)
    select ${heavy.id}, 'task ' || n, case when n % 100 = 0 then 'quarterly report' else '' end,
      (array['todo', 'in_progress', 'done'])[1 + n % 3]::task_status,
      (array['low', 'medium', 'high'])[1 + n % 3]::task_priority,
      case when n % 4 = 0 then null else now() + (n || ' minutes')::interval end,
      case when n % 50 = 0 then array['rare'] else array['common', 'tag' || (n % 10)] end,
      now() - (n || ' seconds')::interval, now() - (n || ' seconds')::interval,
      case when n % 3 = 2 then now() end
    from generate_series(1, 100000) n`
  })
  await sql`analyze tasks`

  const scenarios: [string, Omit<TaskListQuery, 'limit'>][] = [
    ['the default list (-createdAt)', { sort: { key: 'createdAt', direction: 'desc' } }],
    ['a status filter', { statuses: ['todo'], sort: { key: 'createdAt', direction: 'desc' } }],
    ['a tag filter', { tags: ['rare'], sort: { key: 'createdAt', direction: 'desc' } }],
    ['sort by due date', { sort: { key: 'dueAt', direction: 'asc' } }],
    ['sort by -dueAt', { sort: { key: 'dueAt', direction: 'desc' } }],
    ['sort by priority', { sort: { key: 'priority', direction: 'desc' } }],
    ['sort by updatedAt', { sort: { key: 'updatedAt', direction: 'asc' } }],
    ['a later page', { sort: { key: 'createdAt', direction: 'desc' }, after: { value: new Date(Date.now() - 50_000_000), id: '00000000-0000-4000-8000-000000000000' } }]
  ]
  for (const [name, query] of scenarios) {
    const [row] = await sql<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>`explain (format json) ${taskListStatement(sql, heavy.id, { ...query, limit: 20 })}`
    const plan = row?.['QUERY PLAN'][0].Plan
    t.ok(plan, name)
    if (plan === undefined) continue
    const onTasks = nodes(plan).filter((node) => node['Relation Name'] === 'tasks' || node['Index Name']?.startsWith('tasks_'))
    t.ok(onTasks.length > 0, `${name}: reads tasks`)
    t.notOk(onTasks.some((node) => node['Node Type'] === 'Seq Scan'), `${name}: no sequential scan (${onTasks.map((node) => `${node['Node Type']} ${node['Index Name'] ?? ''}`).join(', ')})`)
  }
})
