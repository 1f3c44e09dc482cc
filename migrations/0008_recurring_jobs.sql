-- Recurring jobs (the hourly purge) are enqueued by every instance's worker,
-- for the slot of their interval that the database clock is in: recurring_slot
-- is that slot's start. The first insert wins and the others do nothing (ON
-- CONFLICT DO NOTHING on these indexes): one job per type and slot, and no
-- second one while the last is still queued or running (a job retrying across
-- a slot boundary does not get a twin).
alter table jobs add column recurring_slot timestamptz(3);
create unique index jobs_recurring_slot_idx on jobs (type, recurring_slot) where recurring_slot is not null;
create unique index jobs_recurring_pending_idx on jobs (type) where recurring_slot is not null and state in ('queued', 'running');
