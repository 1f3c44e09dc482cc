import t from 'tap'
import { describeStatement } from '../../db/instrumented-sql.js'

t.test('a statement is summarised as its operation and first table', async (t) => {
  const cases: [string, string][] = [
    ['select * from users where email = $1', 'SELECT users'],
    ['insert into jobs (type, payload) values ($1, $2) returning id', 'INSERT jobs'],
    ['update jobs set state = $1 where id = $2', 'UPDATE jobs'],
    ['delete from refresh_tokens where family_id = $1', 'DELETE refresh_tokens'],
    ['with due as (select id from jobs where state = \'queued\' for update skip locked) update jobs set state = \'running\' from due', 'WITH jobs'],
    ['SELECT t.id FROM public.tasks t JOIN users u ON u.id = t.user_id', 'SELECT public.tasks'],
    ['select pg_notify($1, $2)', 'SELECT'],
    ['select x from unnest($1::text[]) as x', 'SELECT'],
    ['-- a comment first\n  select 1', 'SELECT'],
    ['', 'QUERY']
  ]
  for (const [text, summary] of cases) t.equal(describeStatement(text, true).summary, summary, JSON.stringify(text))
})

t.test('the text is kept with its placeholders, on one line, or not at all', async (t) => {
  t.same(describeStatement('select *\n  from users\n  where id = $1', true), { summary: 'SELECT users', operation: 'SELECT', table: 'users', text: 'select * from users where id = $1' })
  t.equal(describeStatement('select 1', false).text, undefined)
  t.equal(describeStatement(`select '${'x'.repeat(5000)}'`, true).text?.length, 2000)
})
