-- The durable job queue. A job is queued (waiting for run_at), running
-- (claimed by a worker until locked_until, a lease the worker renews), done,
-- or dead (out of attempts, last_error kept). A running job whose lease ran
-- out belongs to a worker that died; it is queued again.
create type job_state as enum ('queued', 'running', 'done', 'dead');

create table jobs (
  id bigint generated always as identity primary key,
  type text not null,
  payload jsonb not null,
  state job_state not null default 'queued',
  attempts integer not null default 0,
  max_attempts integer not null check (max_attempts >= 1),
  run_at timestamptz(3) not null default now(),
  locked_by text,
  locked_until timestamptz(3),
  last_error text,
  created_at timestamptz(3) not null default now(),
  updated_at timestamptz(3) not null default now(),
  finished_at timestamptz(3)
);

-- Partial indexes stay small however many finished jobs pile up.
create index jobs_due_idx on jobs (run_at, id) where state = 'queued';
create index jobs_lease_idx on jobs (locked_until) where state = 'running';
create index jobs_finished_idx on jobs (finished_at) where state = 'done';
