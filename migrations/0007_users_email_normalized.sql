-- One form of an email for lookups, uniqueness and login rate limits: the
-- address with the ASCII capitals A-Z made small and nothing else changed.
-- The app computes the same form from what a client sends (normalizeEmail in
-- services/users.ts) and looks accounts up by equality with this column, so
-- every spelling that reaches an account has the rate-limit key of that
-- account. Registered emails are ASCII (the schema's email format), where
-- the two forms agree. lower() was locale-dependent and folded more than
-- JavaScript's toLowerCase() (lower('alİce') is 'alice' here, toLowerCase()
-- gives 'ali̇ce'), which let a spelling the limiter counted apart log in.
-- Generated: existing rows get it now, and no insert can leave it out.
alter table users add column email_normalized text
  generated always as (translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) stored;
create unique index users_email_normalized_key on users (email_normalized);
drop index users_email_lower_key;
