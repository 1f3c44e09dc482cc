-- Accounts. Emails keep the letter case they were registered with and are
-- unique regardless of case (A@x.io and a@x.io are one account). Times keep
-- milliseconds, the precision of the API and of JavaScript dates.
create table users (
  id uuid primary key default gen_random_uuid(),
  email text not null check (char_length(email) between 3 and 254),
  password_hash text not null,
  name text check (name is null or char_length(name) between 1 and 100),
  created_at timestamptz(3) not null default now(),
  updated_at timestamptz(3) not null default now()
);

create unique index users_email_lower_key on users (lower(email));
