-- The purge job deletes families that expired or were revoked more than a
-- grace period ago; expires_at has its index (0003), revoked_at gets one.
create index refresh_token_families_revoked_idx on refresh_token_families (revoked_at) where revoked_at is not null;
