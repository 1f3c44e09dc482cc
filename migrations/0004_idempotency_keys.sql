-- Idempotency-Key on POST /tasks: the first answer to a (user, key) is kept
-- for 24 hours and replayed to retries that send the same body. The primary
-- key is what makes two concurrent first attempts create one task: the
-- second insert waits for the first transaction and then finds its row.
create table idempotency_keys (
  user_id uuid not null references users (id) on delete cascade,
  key text not null check (char_length(key) between 1 and 255),
  request_hash bytea not null,
  response_status smallint not null,
  response_body jsonb not null,
  created_at timestamptz(3) not null default now(),
  expires_at timestamptz(3) not null,
  primary key (user_id, key)
);
create index idempotency_keys_expires_idx on idempotency_keys (expires_at);
