-- An admin's pin of a camera to one ingest worker (issue 17): the camera and the worker are on
-- the same LAN, or the worker is the only one allowed to reach it. Only that worker claims the
-- camera; another holding it gives it back at its next renewal. NULL: any worker.
ALTER TABLE cameras ADD COLUMN pinned_worker TEXT;
