-- Personal access tokens: long-lived secrets for scripts and integrations,
-- limited to scopes. Only a SHA-256 of each secret is stored (secrets are
-- 256 random bits, so a slow hash adds nothing); a token is looked up by it.
-- A revoked token keeps its row (revoked_at) until the purge removes it.
create table personal_access_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 100),
  scopes text[] not null check (cardinality(scopes) > 0 and scopes <@ array['tasks:read', 'tasks:write', 'webhooks']),
  token_hash bytea not null unique,
  created_at timestamptz(3) not null,
  expires_at timestamptz(3),
  last_used_at timestamptz(3),
  revoked_at timestamptz(3)
);
-- GET /auth/tokens: a user's live tokens, newest first.
create index personal_access_tokens_user_idx on personal_access_tokens (user_id, created_at desc, id desc) where revoked_at is null;
-- The purge job deletes tokens revoked or expired more than a grace period ago.
create index personal_access_tokens_revoked_idx on personal_access_tokens (revoked_at) where revoked_at is not null;
create index personal_access_tokens_expires_idx on personal_access_tokens (expires_at) where expires_at is not null;

-- Instances cache token lookups for a few seconds. Whatever ends or changes a
-- token (a revocation, the user's deletion cascading, an edit by hand) tells
-- every listening instance at commit, so that each drops its cached copy at
-- once. last_used_at is not among the columns: it changes nothing cached.
create function personal_access_tokens_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('taskforge_personal_access_tokens', old.id::text);
  return null;
end
$$;
create trigger personal_access_tokens_changed
  after update of revoked_at, expires_at, scopes, user_id, token_hash or delete on personal_access_tokens
  for each row execute function personal_access_tokens_notify();
