-- Refresh tokens rotate within a family: one family per login, one live token
-- per family at a time. Only a SHA-256 of each token is stored (tokens are
-- 256 random bits, so a slow hash adds nothing). Spent tokens stay until the
-- family goes, so presenting one again is recognised as reuse.
create table refresh_token_families (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  created_at timestamptz(3) not null default now(),
  -- When the newest token of the family expires; after that the family is dead and may be purged.
  expires_at timestamptz(3) not null,
  revoked_at timestamptz(3),
  revoked_reason text check (revoked_reason in ('logout', 'reuse'))
);
create index refresh_token_families_user_idx on refresh_token_families (user_id);
create index refresh_token_families_expires_idx on refresh_token_families (expires_at);

create table refresh_tokens (
  token_hash bytea primary key,
  family_id uuid not null references refresh_token_families (id) on delete cascade,
  created_at timestamptz(3) not null default now(),
  expires_at timestamptz(3) not null,
  spent_at timestamptz(3)
);
create index refresh_tokens_family_idx on refresh_tokens (family_id);
