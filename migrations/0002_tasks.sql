-- Tasks belong to one user and go when the user goes. Enum order gives the
-- priority sort its meaning (low < medium < high).
create type task_status as enum ('todo', 'in_progress', 'done');
create type task_priority as enum ('low', 'medium', 'high');

create table tasks (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  title text not null check (char_length(title) between 1 and 200),
  description text not null default '' check (char_length(description) <= 10000),
  status task_status not null default 'todo',
  priority task_priority not null default 'medium',
  due_at timestamptz(3),
  tags text[] not null default '{}' check (cardinality(tags) <= 20),
  version integer not null default 1 check (version >= 1),
  created_at timestamptz(3) not null default now(),
  updated_at timestamptz(3) not null default now(),
  completed_at timestamptz(3),
  constraint tasks_completed_at_matches_status check ((status = 'done') = (completed_at is not null))
);

-- Keyset paging: one index per sort key, always scoped to the user and
-- ending with id, the tie-breaker. B-trees scan both ways, so each serves
-- the ascending and the descending sort, except due_at: tasks without a due
-- date come last in both directions, which a backward scan cannot give.
create index tasks_user_created_idx on tasks (user_id, created_at, id);
create index tasks_user_updated_idx on tasks (user_id, updated_at, id);
create index tasks_user_priority_idx on tasks (user_id, priority, id);
create index tasks_user_due_asc_idx on tasks (user_id, due_at asc nulls last, id asc);
create index tasks_user_due_desc_idx on tasks (user_id, due_at desc nulls last, id desc);
-- The most common filter: a user's open or finished tasks, newest first.
create index tasks_user_status_created_idx on tasks (user_id, status, created_at, id);
-- Tag filters (tags @> array[...]).
create index tasks_tags_idx on tasks using gin (tags);
