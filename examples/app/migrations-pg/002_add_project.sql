-- Additive and backwards compatible: the version still running ignores the new nullable column.
ALTER TABLE time_entries ADD COLUMN project text;
