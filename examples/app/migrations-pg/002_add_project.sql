-- Additive and backwards compatible: the version still running ignores the new nullable column.
-- The ALTER needs an ACCESS EXCLUSIVE lock for an instant: give up after 5 s rather than queue every
-- query of the app behind a long transaction (the migration can simply be run again).
SET lock_timeout = '5s';
ALTER TABLE time_entries ADD COLUMN project text;
