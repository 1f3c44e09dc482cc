-- Webhooks: a user's URLs that hear about their task changes (API.md, "Webhooks").
-- The secret is kept as its 32 raw bytes: HMAC signing needs it, so it cannot be
-- hashed like a token. After a rotation the previous one signs too, until
-- previous_secret_until. failing_since: the first failed attempt since the last
-- success (null while the webhook works); five days of that disables it.
create table webhooks (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  url text not null check (char_length(url) <= 2000),
  events text[] not null check (cardinality(events) between 1 and 4),
  description text not null default '' check (char_length(description) <= 500),
  enabled boolean not null default true,
  secret bytea not null check (octet_length(secret) = 32),
  previous_secret bytea check (octet_length(previous_secret) = 32),
  previous_secret_until timestamptz(3),
  failing_since timestamptz(3),
  created_at timestamptz(3) not null default now(),
  updated_at timestamptz(3) not null default now()
);
-- A user's webhooks, oldest first; the outbox's lookup at every task write reads it too.
create index webhooks_user_idx on webhooks (user_id, created_at, id);

-- The change log: one row per committed task change that some webhook wanted;
-- data is the events' data, {"task": …} with the task as it was after the change (its
-- public fields; for a deletion, its id). Ordered for readers that follow it by (tx, id): tx is the writing
-- transaction's id, and a reader that stops below pg_snapshot_xmin(pg_current_snapshot())
-- never skips a row that commits later with a smaller id (a bigserial alone would).
create table task_events (
  id bigint generated always as identity primary key,
  tx xid8 not null default pg_current_xact_id(),
  user_id uuid not null references users (id) on delete cascade,
  -- No foreign key: a deleted task's events outlive it.
  task_id uuid not null,
  types text[] not null,
  occurred_at timestamptz(3) not null,
  data jsonb not null
);
create index task_events_user_cursor_idx on task_events (user_id, tx, id);
-- The purge looks for old events whose deliveries are gone.
create index task_events_occurred_idx on task_events (occurred_at);

-- One delivery per event and webhook: its id is the webhook-id header, the same on every attempt.
-- in_flight_until: an attempt holds one of its webhook's slots until then (a lease, so a crashed
-- attempt frees its slot by itself). waiting_since: it found every slot taken and waits to be
-- woken by the next attempt of its webhook that ends.
create type webhook_delivery_status as enum ('pending', 'delivered', 'failed');
create table webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  webhook_id uuid not null references webhooks (id) on delete cascade,
  event_id bigint not null references task_events (id) on delete cascade,
  event_type text not null,
  status webhook_delivery_status not null default 'pending',
  attempts integer not null default 0 check (attempts >= 0),
  last_attempt_at timestamptz(3),
  last_status_code integer,
  last_error text,
  in_flight_until timestamptz(3),
  waiting_since timestamptz(3),
  created_at timestamptz(3) not null default now()
);
-- The deliveries log, newest first, paged by (created_at, id).
create index webhook_deliveries_webhook_created_idx on webhook_deliveries (webhook_id, created_at desc, id desc);
-- The per-webhook cap counts these, and an attempt that ends wakes the oldest of those waiting.
create index webhook_deliveries_in_flight_idx on webhook_deliveries (webhook_id) where in_flight_until is not null;
create index webhook_deliveries_waiting_idx on webhook_deliveries (webhook_id, waiting_since, id) where waiting_since is not null;
-- What the hourly purge deletes.
create index webhook_deliveries_finished_idx on webhook_deliveries (status, created_at) where status <> 'pending';
create index webhook_deliveries_event_idx on webhook_deliveries (event_id);
