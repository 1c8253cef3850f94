-- The sample-file directories of an ingest worker that record nothing (a full disk, only
-- evidence left, a failing disk), as the worker last said: a JSON array of
-- {"path", "reason", "detail"}, NULL while it records everywhere (or before it first said).
-- Hubs put them in the stream's health message beside their own, so that the wall tells the
-- duty officers about a worker's directory as it does about the hub's.
ALTER TABLE ingest_workers ADD COLUMN recording_stopped TEXT;
