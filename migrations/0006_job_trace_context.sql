-- The W3C traceparent of the span that enqueued a job (null when tracing is
-- off), so that the job's run joins the trace of the request that asked for it.
alter table jobs add column traceparent text;

-- The queue-depth metric counts queued, running and dead jobs at every scrape;
-- the first two have partial indexes already, dead jobs get theirs, so no count
-- reads the done jobs kept for a week.
create index jobs_dead_idx on jobs (id) where state = 'dead';
