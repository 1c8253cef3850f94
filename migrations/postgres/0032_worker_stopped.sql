-- When an ingest worker stopped cleanly (SIGTERM: it gave its leases back), NULL while it runs
-- or when it vanished without saying. A stopped worker is neither live (the others take its
-- share at once, instead of counting it until its last sign of life is a lease old) nor gone
-- (nothing is wrong: no alert, no banner on the wall); it is live again when it says so.
ALTER TABLE ingest_workers ADD COLUMN stopped_at BIGINT;
