-- Ingest workers on several machines (issue 17): each worker says it is alive, and holds the
-- cameras it runs by a lease with an epoch (a fencing token). A camera is run by the worker
-- whose lease on it has not expired; taking it over bumps the epoch, so a worker that lost its
-- lease (it stalled past expires_at) and comes back finds its epoch stale and stops.
CREATE TABLE ingest_workers (
    id           TEXT PRIMARY KEY,
    address      TEXT NOT NULL,
    max_cameras  INTEGER NOT NULL,
    seen_at      BIGINT NOT NULL
);

CREATE TABLE camera_leases (
    camera_id   TEXT PRIMARY KEY REFERENCES cameras(id) ON DELETE CASCADE,
    worker_id   TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX camera_leases_worker ON camera_leases(worker_id);
