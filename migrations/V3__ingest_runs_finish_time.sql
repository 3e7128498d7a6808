-- now() is the transaction's start; a run finishes at its commit, so its finish time is the
-- moment the row is written.
ALTER TABLE ingest_runs ALTER COLUMN finished_at SET DEFAULT clock_timestamp();
