-- Recording on ingest workers (issue 17).
--
-- A sample-file directory belongs to the node that writes it: two workers may use the same
-- path on different machines (every container has /var/lib/gridwatch), and a directory of
-- one must not be taken for an unmounted disk of the other. NULL: the in-process hub.
ALTER TABLE recording_dirs ADD COLUMN node TEXT;

-- The lease a segment was written under (NULL: a hub in-process, or start-up repair). A
-- segment is indexed only if no later holder of the camera had claimed it before the
-- segment ended: a worker that lost its lease cannot index what it kept recording.
ALTER TABLE recording_segments ADD COLUMN worker_id TEXT;
ALTER TABLE recording_segments ADD COLUMN epoch BIGINT;

-- When the lease's current epoch was claimed (ms; 0 for leases claimed before this column),
-- which is what a segment's end is compared with.
ALTER TABLE camera_leases ADD COLUMN claimed_at BIGINT NOT NULL DEFAULT 0;
