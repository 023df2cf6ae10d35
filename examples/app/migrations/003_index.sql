CREATE INDEX IF NOT EXISTS idx_time_entries_created_at ON time_entries (created_at);
