-- A plain CREATE INDEX locks writes while it builds: fine for this small table (on a large one,
-- CREATE INDEX CONCURRENTLY outside a transaction; bg lint says so).
CREATE INDEX IF NOT EXISTS idx_time_entries_created_at ON time_entries (created_at);
