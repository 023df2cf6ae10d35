-- migrate:no-transaction
-- CONCURRENTLY builds the index without blocking writes; it cannot run inside a transaction, so
-- migrate.js runs this file on its own (one statement) under the session's advisory lock.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_time_entries_created_at ON time_entries (created_at);
